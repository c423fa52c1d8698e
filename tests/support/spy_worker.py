"""What each process of a training job reads, for tests/workflow/test_distributed.py.

``spying(out_dir)`` wraps the loader's training stream (``ShardStream._train_items``, which the
classifier's and CLIP's loaders share): every sample a loader slot hands on towards a batch is
appended to ``out_dir/items-PID-SLOT.jsonl`` as ``[rank, slot, slots, epoch, position, key]``
(position: the sample's index in that slot's stream; a loader worker process writes its own file).

Run as a program it is a training job's worker: the package's own ``synscale.train.launch.worker``
with the stream spied on (into ``$SYNSCALE_TEST_SPY_DIR``). A test points
``synscale.train.launch.WORKER_MODULE`` here, with ``tests/`` on PYTHONPATH:

    python -m support.spy_worker SPEC
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from synscale.data.loader import ShardStream

ORIGINAL = ShardStream._train_items


def spying(out_dir: str | Path):
    out_dir = Path(out_dir)

    def _train_items(self, slot, slots):
        with open(out_dir / f"items-{os.getpid()}-{slot}.jsonl", "a") as fh:
            for pos, item in enumerate(ORIGINAL(self, slot, slots)):
                fh.write(json.dumps([self.rank, slot, slots, self.epoch, pos, item[0]]) + "\n")
                fh.flush()
                yield item

    return _train_items


def read_items(out_dir: str | Path) -> list[dict]:
    rows = []
    for p in sorted(Path(out_dir).glob("items-*.jsonl")):
        for line in p.read_text().splitlines():
            rank, slot, slots, epoch, pos, key = json.loads(line)
            rows.append({"rank": rank, "slot": slot, "slots": slots, "epoch": epoch, "pos": pos, "key": key})
    return rows


if __name__ == "__main__":
    from synscale.logs import setup
    from synscale.train.launch import worker

    ShardStream._train_items = spying(os.environ["SYNSCALE_TEST_SPY_DIR"])
    setup(None)
    worker(sys.argv[1])
