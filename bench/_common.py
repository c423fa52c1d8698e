"""Shared helpers of the benchmarks: synthetic digit-like images and shards, best-of-N timing."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def images(n: int, size: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth blobs plus a little noise: images that PNG compresses like natural ones do."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, channels), np.uint8)
    for i in range(n):
        cy, cx, r = rng.uniform(0.2, 0.8, 3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.05 + 0.1 * r))
        for c in range(channels):
            out[i, :, :, c] = np.clip(blob * rng.uniform(120, 255) + rng.normal(0, 8, (size, size)), 0, 255)
    return out


def write_shards(out: Path, imgs: np.ndarray, shard_size: int, classes: int = 10) -> list[str]:
    from synscale.data.shards import Sample, write_shard

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s, lo in enumerate(range(0, len(imgs), shard_size)):
        p = out / f"shard-{s:05d}.tar"
        write_shard(p, (Sample(f"k{i:09d}", imgs[i], i % classes) for i in range(lo, min(lo + shard_size, len(imgs)))))
        paths.append(str(p))
    return paths


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def alternate(ours: Callable[[], float], baseline: Callable[[], float], repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` seconds of two timed callables run alternately (baseline first), so
    both see the same machine state."""
    t_ours = t_base = float("inf")
    for _ in range(repeats):
        t_base = min(t_base, baseline())
        t_ours = min(t_ours, ours())
    return t_ours, t_base
