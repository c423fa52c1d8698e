"""Seeds: every random stream of the workflow derives its seed from the config's ``seed`` and the
names of what it makes (run, shard, scale, process), so any file can be rebuilt alone and comes
out the same."""
from __future__ import annotations

import hashlib
from typing import Any


def seed_for(*parts: Any) -> int:
    """A stable 63-bit seed derived from the parts (strings, ints)."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)
