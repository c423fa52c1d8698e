"""Integrity on read: every file the workflow wrote with a manifest is checked against it when a
job reads it, and by the audit (``python -m synscale.verify``).

A manifest records, for each file it covers, its size, sha256 and (for shards) its sample count:
a generated shard's ``shard-NNNNN.json`` and a test set's ``{run}.json`` cover the tar beside
them; the embedded data's ``data.json`` covers every real-data shard (``files``); a classifier's
``train.json`` (``metrics.json`` for the reference classifier) covers its ``model.pt``
(``files``). A failure names the file, what is wrong, and the command that repairs the workspace.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from synscale.io import read_json, sha256_file

REPAIR = "python -m synscale.verify --rebuild"


class IntegrityError(ValueError):
    """A file does not match its manifest, or its manifest is missing."""


def repair_hint(configfile: str | None = None) -> str:
    extra = f" --configfile {configfile}" if configfile else " (with the --configfile you ran snakemake with)"
    return f"repair it (and only it) with: {REPAIR}{extra}"


def record(path: str | os.PathLike, count: int | None = None) -> dict:
    """What a manifest records of one file."""
    p = Path(path)
    out = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
    if count is not None:
        out["count"] = int(count)
    return out


def records_of(manifest: str | os.PathLike) -> dict[str, dict]:
    """file path -> record, for every file ``manifest`` covers (paths next to the manifest)."""
    manifest = Path(manifest)
    if not manifest.exists():
        raise IntegrityError(f"{manifest}: manifest missing, so the files it describes cannot be checked; "
                             f"{repair_hint()}")
    man = read_json(manifest)
    if "files" in man:
        return {str(manifest.parent / name): rec for name, rec in man["files"].items()}
    if "sha256" in man and "shard" in man:  # a generated shard or test set manifest
        return {str(manifest.parent / man["shard"]): {k: man[k] for k in ("sha256", "count", "bytes") if k in man}}
    raise IntegrityError(f"{manifest}: not a manifest synscale wrote (no 'files' nor 'shard' and 'sha256'); "
                         f"{repair_hint()}")


def problem(path: str | os.PathLike, rec: dict) -> str | None:
    """What is wrong with ``path`` against its record, or None."""
    p = Path(path)
    if not p.exists():
        return "missing"
    size = p.stat().st_size
    if "bytes" in rec and size != rec["bytes"]:
        return f"{size:,} bytes where its manifest records {rec['bytes']:,} (truncated or overwritten)"
    digest = sha256_file(p)
    if digest != rec["sha256"]:
        return f"sha256 {digest[:12]}… where its manifest records {rec['sha256'][:12]}… (changed after it was written)"
    return None


def check(paths: Iterable[str | os.PathLike], manifests: Iterable[str | os.PathLike]) -> None:
    """Check each of ``paths`` that one of ``manifests`` covers; raise IntegrityError naming the
    first bad file. Paths no manifest covers (a user's external data) are not checked here."""
    recs: dict[str, dict] = {}
    for m in manifests:
        recs.update({os.path.normpath(k): v for k, v in records_of(m).items()})
    for p in paths:
        rec = recs.get(os.path.normpath(str(p)))
        if rec is None:
            continue
        why = problem(p, rec)
        if why:
            raise IntegrityError(f"{p}: {why}; {repair_hint()}")
