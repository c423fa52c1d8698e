"""Benchmark: peak memory of a short training job at D = 64,000 images against D = 4,000.

    .venv/bin/python bench/memory.py [--iters 40]

Makes 64,000 synthetic 16 px images in shards of 500, then runs the training step
(synscale.steps.train.train_at_scale, with its DataLoader worker) in a fresh process at each D for
the same number of iterations, sampling the resident memory of the job's process tree (job +
loader worker) every 20 ms. Goal: peak(D=64k) / peak(D=4k) <= 1.25 -- memory does not grow with D.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _common import ROOT, images, write_shards

JOB = """
import json, sys
from synscale.steps.train import train_at_scale
a = json.load(open(sys.argv[1]))
train_at_scale(a["cfg"], "real", a["scale"], a["shards"], a["classes"], a["ckpt"], a["json"], threads=1,
               index=a["index"])
"""


def peak_rss(cmd: list[str]) -> int:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [ps, *ps.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            pass
        time.sleep(0.02)
    if proc.returncode:
        raise SystemExit(proc.stderr.read()[-3000:])
    return peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--big", type=int, default=64000)
    ap.add_argument("--small", type=int, default=4000)
    a = ap.parse_args()
    from synscale import config as C

    cfg = C.validate(C.load_yaml(ROOT / "config" / "config.yaml"))
    cfg["data"]["shard_size"] = 500
    cfg["classifier"]["schedule"] = {"base_scale": 1000, "base_iters": a.iters, "iters_per_doubling": 0,
                                     "min_iters": 1, "base_warmup": 2, "warmup_per_doubling": 0}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shards = write_shards(tmp / "shards", images(a.big, 16, 1), 500)
        (tmp / "classes.json").write_text(json.dumps({"names": [str(i) for i in range(10)]}))
        from synscale.data.index import index_shards  # what rule index_real_data writes

        (tmp / "index.json").write_text(json.dumps(index_shards(shards, 10)))
        peaks = {}
        for scale in (a.small, a.big):
            spec = {"cfg": cfg, "scale": scale, "shards": shards, "classes": str(tmp / "classes.json"),
                    "index": str(tmp / "index.json"),
                    "ckpt": str(tmp / f"m{scale}.pt"), "json": str(tmp / f"m{scale}.json")}
            (tmp / "a.json").write_text(json.dumps(spec))
            peaks[scale] = peak_rss([sys.executable, "-c", JOB, str(tmp / "a.json")])
            print(f"D = {scale:6d}: peak RSS {peaks[scale] / 2**20:7.1f} MiB "
                  f"(job + loader worker, {a.iters} iterations)")
    ratio = peaks[a.big] / peaks[a.small]
    print(f"ratio D={a.big} / D={a.small}: {ratio:.3f} (goal <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'})")


if __name__ == "__main__":
    main()
