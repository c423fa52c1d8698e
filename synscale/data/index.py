"""The real training data's index and the class-balanced subsets drawn from it.

A user's webdataset export may have shards of any size, in any class order (many ImageNet exports
are sorted by class). The index (rule ``index_real_data``, ``<results>/data/index.json``) is made
once by reading every real train shard: per shard its size in bytes, its sample count, its labels
in order, and its class counts. It is checked on read (the shards it covers, their sizes), like
the manifests of the files the workflow writes.

Real scale D trains on a **seeded, nested, class-balanced subset**:

* per-class quotas: every class gets ``floor(D / C)`` or one more (the extra ones go to classes in
  a seeded order); a class with fewer samples than its quota gives all it has and the rest is
  shared by the others (water-filling), so the total is always D;
* within a class, samples are taken in a seeded order of the shards (shard names sorted, then
  permuted by the seed) and, inside a shard, in file order: the subset does not depend on how the
  shards are listed or sorted, and a shuffled export is read from as few shards as possible;
* both the quotas and the orders are fixed by the seed alone, so the subset of D is contained in
  the subset of every larger scale (the scales nest, as in the paper).

The paper trains its real baseline on ImageNet subsets without saying how they are drawn; this is
the draw that keeps every class represented at every scale.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from synscale.seeds import seed_for

INDEX_VERSION = 1


class StaleIndexError(ValueError):
    """The index does not describe the shards a job reads (stale or foreign)."""


def index_shards(paths: Sequence[str | os.PathLike], num_classes: int,
                 progress: Callable[[int], None] | None = None) -> dict:
    """Read every sample's label of ``paths`` (in the given order) into an index."""
    from synscale.data.shards import iter_shard

    shards, totals = [], np.zeros(num_classes, dtype=np.int64)
    for i, p in enumerate(paths):
        labels = []
        for key, _, label, _ in iter_shard(p):
            if not 0 <= label < num_classes:
                raise ValueError(f"{p}: sample {key!r} has class {label}, outside 0..{num_classes - 1} "
                                 "(data.class_index lists the classes the labels index)")
            labels.append(int(label))
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
        totals += counts
        shards.append({"path": str(p), "bytes": Path(p).stat().st_size, "count": len(labels),
                       "class_counts": counts.tolist(), "labels": labels})
        if progress:
            progress(i + 1)
    return {"version": INDEX_VERSION, "num_classes": int(num_classes), "total": int(totals.sum()),
            "class_counts": totals.tolist(), "shards": shards}


def check_index(index: dict, paths: Iterable[str | os.PathLike], where: str = "index") -> None:
    """The index covers exactly ``paths`` and each shard still has the size it was indexed with."""
    fix = (f"; rebuild it: delete {where} and run snakemake again (the rule index_real_data rereads "
           "the shards)")
    if index.get("version") != INDEX_VERSION:
        raise StaleIndexError(f"{where}: index version {index.get('version')!r}, expected {INDEX_VERSION}{fix}")
    have = {os.path.normpath(s["path"]): s for s in index["shards"]}
    want = [os.path.normpath(str(p)) for p in paths]
    missing = [p for p in want if p not in have]
    extra = sorted(set(have) - set(want))
    if missing or extra:
        raise StaleIndexError(f"{where}: does not describe data.train_shards (not indexed: {missing[:3]}, "
                          f"indexed but not configured: {extra[:3]}){fix}")
    for p in want:
        size = Path(p).stat().st_size
        if size != have[p]["bytes"]:
            raise StaleIndexError(f"{p}: {size:,} bytes where {where} records {have[p]['bytes']:,} "
                              f"(the shard changed after it was indexed){fix}")


def class_quotas(available: Sequence[int], scale: int, seed: int) -> list[int]:
    """Per-class sample counts of a subset of ``scale`` samples: as equal as ``available`` allows
    (water-filling), the remainder to classes in a seeded order. Nested: quotas never decrease as
    ``scale`` grows."""
    avail = np.asarray(available, dtype=np.int64)
    total = int(avail.sum())
    if scale > total:
        raise ValueError(f"a subset of {scale:,} samples asks for more than the {total:,} indexed")
    if scale <= 0:
        raise ValueError(f"a subset needs a positive size, got {scale}")
    lo, hi = 0, int(avail.max())  # largest level t with sum(min(avail, t)) <= scale
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int(np.minimum(avail, mid).sum()) <= scale:
            lo = mid
        else:
            hi = mid - 1
    q = np.minimum(avail, lo)
    rest = scale - int(q.sum())
    order = list(range(len(avail)))
    random.Random(seed_for(seed, "class-order")).shuffle(order)
    for c in order:
        if rest == 0:
            break
        if avail[c] > lo:
            q[c] += 1
            rest -= 1
    return q.tolist()


def shard_order(index: dict, seed: int) -> list[int]:
    """Indices of the index's shards in the seeded order the subsets take samples in: sorted by file
    name (so listing order does not matter), then permuted."""
    names = sorted(range(len(index["shards"])), key=lambda i: (Path(index["shards"][i]["path"]).name,
                                                               index["shards"][i]["path"]))
    random.Random(seed_for(seed, "shard-order")).shuffle(names)
    return names


def select(index: dict, scale: int, seed: int) -> dict[str, list[int]]:
    """shard path -> sorted positions (0-based, in file order) of its samples in the subset of
    ``scale``; shards with none are left out."""
    quota = class_quotas(index["class_counts"], scale, seed)
    left = list(quota)
    out: dict[str, list[int]] = {}
    for i in shard_order(index, seed):
        s = index["shards"][i]
        keep = []
        for pos, c in enumerate(s["labels"]):
            if left[c]:
                left[c] -= 1
                keep.append(pos)
        if keep:
            out[s["path"]] = keep
        if not any(left):
            break
    return out


def subset_counts(index: dict, scale: int, seed: int) -> list[int]:
    """Per-class counts of the subset of ``scale`` (what training records)."""
    return class_quotas(index["class_counts"], scale, seed)


def check_scales(index: dict, scales_by_key: dict[str, Sequence[int]]) -> None:
    """Refuse a real scale larger than the data indexed, naming the config key."""
    total = int(index["total"])
    errs = [f"config key '{key}': real-data scales {[s for s in scales if s > total]} exceed the "
            f"{total:,} samples of data.train_shards (index: {len(index['shards'])} shards); lower them "
            "or add shards" for key, scales in scales_by_key.items() if any(s > total for s in scales)]
    if errs:
        raise ValueError("\n".join(errs))


def subsets_record(index: dict, scales: Sequence[int], seed: int) -> dict:
    """Per scale, the per-class counts and how many shards the subset reads (the record beside the
    index that rule ``real_subsets`` writes)."""
    out = {}
    for d in sorted(set(int(s) for s in scales)):
        sel = select(index, d, seed)
        counts = subset_counts(index, d, seed)
        out[str(d)] = {"class_counts": counts, "min_per_class": min(counts), "max_per_class": max(counts),
                       "shards_read": len(sel)}
    return out
