"""Streaming shards into training and evaluation: a ``torch.utils.data.IterableDataset`` over
webdataset shards, read by ``DataLoader`` worker processes that decode and augment, so a job's
memory does not grow with the number of images D.

Who reads what. A job's ``world`` ranks each run ``W`` loader workers: ``S = world * W`` slots,
slot ``rank * W + worker``. When there are at least ``S`` shards, each slot reads its own shards
(every epoch the shard order is reshuffled from the seed and shard ``p`` of it goes to slot
``p % S``); with fewer shards (small D), every slot reads all of them and keeps every ``S``-th
sample, unless the shards' manifests index where their samples start (generated shards): then
``split_parts`` first cuts them into pieces at those points, so each slot reads only its own.
Real-data and synthetic shards go through this same reader.

Training streams never end: each slot loops over epochs, shuffles its samples through a seeded
buffer of ``shuffle_buffer`` samples and yields full micro-batches; the training loop takes as many
as its iteration count needs. A slot's stream is a pure function of (seed, slot, S), and each
batch's augmentation is seeded by (seed, slot, its position in the stream), so a resumed job
(``start_batch``: micro-batches this rank already consumed) skips what it has seen without decoding
it and then sees exactly what an uninterrupted job would have seen.

Evaluation streams make one pass, in shard order within a slot, with the last batch partial.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from synscale.data.shards import decode_pil, iter_shard
from synscale.seeds import seed_for


@dataclass(frozen=True)
class ShardPart:
    """The first ``take`` samples of a shard (None: all of them), from byte ``offset`` on (a
    sample's first member, recorded in its shard's manifest: a part of a shard); or, with
    ``select``, only the samples at those positions (sorted, 0-based: a real-data subset drawn by
    ``synscale.data.index``)."""
    path: str
    take: int | None = None
    offset: int = 0
    select: tuple[int, ...] | None = None


def selected_parts(selection: dict[str, Sequence[int]]) -> list[ShardPart]:
    """Parts reading a subset (``synscale.data.index.select``): a shard whose selected samples are
    its first k is read as a prefix (reading stops after k), others sample by sample."""
    out = []
    for path, pos in selection.items():
        pos = tuple(int(i) for i in pos)
        prefix = pos == tuple(range(len(pos)))
        out.append(ShardPart(str(path), len(pos)) if prefix else ShardPart(str(path), select=pos))
    return out


def prefix_parts(shards: Sequence[str | Path], limit: int, shard_size: int) -> list[ShardPart]:
    """The shards holding the first ``limit`` samples of a run whose shards hold ``shard_size``
    samples each: all of every shard but the last, which gives what is left."""
    need = math.ceil(limit / shard_size)
    if len(shards) < need:
        raise ValueError(f"{limit} samples need {need} shards of {shard_size}, but {len(shards)} were given")
    return [ShardPart(str(p), min(shard_size, limit - i * shard_size)) for i, p in enumerate(shards[:need])]


def seed_augmentation(aug_base: int, first: int) -> None:
    """Seed the random augmentation of the batch starting at stream position ``first``: a batch's
    augmentation depends only on its position in the stream."""
    s = (aug_base * 1_000_003 + first) & 0x7FFFFFFF
    random.seed(s)  # RandomResizedCrop, RandAugment's magnitudes
    np.random.seed(s)  # RandAugment's choice of ops
    torch.manual_seed(s)  # flips


def split_parts(parts: Sequence[ShardPart], slots: int, index: Callable[[str], dict | None]) -> list[ShardPart]:
    """With fewer parts than ``slots`` (small D, large shards), cut each part at its shard's index
    points (``index(path)``: a manifest's ``{"every": k, "offsets": [byte offset of sample 0, k,
    2k, ...]}``, or None) into about ``slots / len(parts)`` pieces, so each slot reads its own
    pieces instead of every slot reading every shard. Parts without an index stay whole."""
    if len(parts) >= slots:
        return list(parts)
    want = math.ceil(slots / len(parts))
    out = []
    for p in parts:
        idx = index(p.path) if p.select is None else None
        if not idx or p.offset:
            out.append(p)
            continue
        every, offsets = int(idx["every"]), idx["offsets"]
        n = p.take if p.take is not None else int(idx["count"])
        step = max(1, math.ceil(math.ceil(n / want) / every)) * every  # samples per piece, at index points
        for lo in range(0, n, step):
            out.append(ShardPart(p.path, min(step, n - lo), int(offsets[lo // every])))
    return out


def manifest_index(path: str) -> dict | None:
    """The sample index a generated shard's manifest records (None for a user's external shard)."""
    import json

    m = Path(path).with_suffix(".json")
    if not m.is_file():
        return None
    try:
        man = json.loads(m.read_text())
    except ValueError:
        return None
    idx = man.get("index")
    return {**idx, "count": man.get("count")} if isinstance(idx, dict) and man.get("count") else None


def _slot() -> tuple[int, int]:
    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


class ShardStream(IterableDataset):
    """Batches ``(x, y)``: ``x`` the transformed images stacked (a float tensor), or, without a
    transform, the list of decoded uint8 H x W x C images; ``y`` the labels."""

    def __init__(self, parts: Sequence[ShardPart], batch_size: int, size: int | None, channels: int,
                 transform: Callable | None = None, train: bool = False, seed: int = 0, rank: int = 0,
                 world: int = 1, start_batch: int = 0, shuffle_buffer: int = 1000):
        if not parts:
            raise ValueError("no shards to read")
        self.parts = list(parts)
        self.batch_size, self.size, self.channels = batch_size, size, channels
        self.transform, self.train, self.seed = transform, train, seed
        self.rank, self.world, self.start_batch = rank, world, start_batch
        self.shuffle_buffer = max(1, shuffle_buffer)

    # -- raw samples (undecoded)
    def _read(self, part: ShardPart) -> Iterator[tuple[str, bytes, int]]:
        if part.select is not None:
            yield from self._read_selected(part)
            return
        n = 0
        for key, img, label, _ in iter_shard(part.path, start=part.offset):
            if part.take is not None and n >= part.take:
                return
            yield key, img, label
            n += 1
        if part.take is not None and n < part.take:
            raise ValueError(f"{part.path}: holds {n} samples, fewer than the {part.take} this job needs "
                             "(every generated shard but the last holds generation.shard_size samples; "
                             "the shard is damaged: python -m synscale.verify finds and repairs it)")

    def _read_selected(self, part: ShardPart) -> Iterator[tuple[str, bytes, int]]:
        want, last = set(part.select), max(part.select, default=-1)
        n = -1
        for n, (key, img, label, _) in enumerate(iter_shard(part.path)):
            if n in want:
                yield key, img, label
            if n >= last:
                return
        raise ValueError(f"{part.path}: holds {n + 1} samples, but the data index selects sample {last}; "
                         "the shard changed after it was indexed: delete <results>/data/index.json and re-run")

    def _mine(self, order: Sequence[int], slot: int, slots: int) -> Iterator[tuple[str, bytes, int]]:
        if len(order) >= slots:
            for p, j in enumerate(order):
                if p % slots == slot:
                    yield from self._read(self.parts[j])
        else:
            pos = 0
            for j in order:
                for item in self._read(self.parts[j]):
                    if pos % slots == slot:
                        yield item
                    pos += 1

    def _train_items(self, slot: int, slots: int) -> Iterator[tuple[str, bytes, int]]:
        epoch = 0
        while True:
            self.epoch = epoch  # what a subclass's _read may depend on (CLIP's syn+real draw)
            rng = random.Random(seed_for(self.seed, "epoch", epoch, slots))
            order = list(range(len(self.parts)))
            rng.shuffle(order)
            brng = random.Random(seed_for(self.seed, "buffer", epoch, slot, slots))
            buf: list = []
            got = 0
            for item in self._mine(order, slot, slots):
                got += 1
                if len(buf) < self.shuffle_buffer:
                    buf.append(item)
                    continue
                i = brng.randrange(len(buf))
                buf[i], item = item, buf[i]
                yield item
            brng.shuffle(buf)
            yield from buf
            if not got:
                raise ValueError(f"loader slot {slot} of {slots} has no samples; use fewer loader workers")
            epoch += 1

    # -- decoding
    def _batch(self, items: Iterator, n: int, aug_base: int | None, first: int):
        """Decode (and transform) the next ``n`` items into a batch, or fewer if ``items`` runs out.
        Items are read in groups of up to 1 MB of encoded bytes and then decoded: small images are
        read a batch at a time, large ones decoded while their bytes are still in the CPU's cache."""
        if aug_base is not None:
            seed_augmentation(aug_base, first)
        xs, ys = [], []
        while len(ys) < n:
            group, size = [], 0
            for item in items:
                group.append(item)
                size += len(item[1])
                if size >= 1 << 20 or len(ys) + len(group) == n:
                    break
            if not group:
                break
            for key, img, label in group:
                pil = decode_pil(img, "shard", key, self.size, self.channels)
                if self.transform is not None:
                    xs.append(self.transform(pil))
                else:
                    a = np.asarray(pil)
                    xs.append(a[:, :, None] if a.ndim == 2 else a)
                ys.append(label)
        if not ys:
            return None
        y = torch.tensor(ys, dtype=torch.long)
        return (torch.stack(xs) if self.transform is not None else xs), y

    def __iter__(self):
        wid, workers = _slot()
        if self.train:
            # DataLoader asks its workers in turn, starting with worker 0; in the whole stream batch
            # b comes from logical worker b % workers, so a loader resumed at start_batch maps its
            # worker 0 to logical worker start_batch % workers
            wid = (wid + self.start_batch) % workers
        slot, slots = self.rank * workers + wid, self.world * workers
        bs = self.batch_size
        if not self.train:
            items = self._mine(range(len(self.parts)), slot, slots)
            while (batch := self._batch(items, bs, None, 0)) is not None:
                yield batch
            return
        # micro-batches of this rank are dealt round-robin over its workers: batch b comes from
        # worker b % workers, so this worker already delivered the ones below start_batch
        skip = max(0, -(-(self.start_batch - wid) // workers))
        aug_base = seed_for(self.seed, "augment", slot, slots) & 0x7FFFFFFF
        stream = self._train_items(slot, slots)
        for _ in range(skip * bs):
            next(stream)
        made = skip * bs
        while True:
            yield self._batch(stream, bs, aug_base, made)
            made += bs


def _worker_init(_):
    torch.set_num_threads(1)


def make_loader(parts: Sequence[ShardPart], batch_size: int, size: int | None, channels: int,
                transform: Callable | None = None, train: bool = False, seed: int = 0, rank: int = 0,
                world: int = 1, start_batch: int = 0, workers: int = 0, shuffle_buffer: int = 1000,
                pin_memory: bool = False) -> DataLoader:
    ds = ShardStream(parts, batch_size, size, channels, transform, train, seed, rank, world, start_batch,
                     shuffle_buffer)
    return stream_loader(ds, workers, pin_memory)


def stream_loader(ds: IterableDataset, workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over a stream that yields whole batches, read by ``workers`` processes."""
    kw = {"prefetch_factor": 4, "persistent_workers": False, "worker_init_fn": _worker_init} if workers else {}
    return DataLoader(ds, batch_size=None, num_workers=workers, pin_memory=pin_memory, **kw)


# --------------------------------------------------------------------------- transforms


def train_transform(input_size: int, channels: int, augment: dict | None, mean=None, std=None):
    """timm's ImageNet training transform (RandomResizedCrop, flip, RandAugment), or just the
    resize and normalisation when ``augment`` is None. Pixels are normalised by ``mean`` / ``std``
    (default 0.5 / 0.5: mapped to [-1, 1], the convention of every classifier the workflow trains)."""
    from timm.data import create_transform

    mean, std = _norm(channels, mean, std)
    if not augment:
        return eval_transform(input_size, channels, 1.0, mean, std)
    return create_transform(input_size=(channels, input_size, input_size), is_training=True,
                            scale=tuple(augment["crop_scale"]), ratio=tuple(augment["crop_ratio"]),
                            hflip=augment["hflip"], vflip=0.0, color_jitter=None,
                            auto_augment=augment["randaugment"], interpolation="bicubic", mean=mean, std=std,
                            re_prob=0.0)


def eval_transform(input_size: int, channels: int, crop_pct: float, mean=None, std=None):
    """Resize the shorter side to ``input_size / crop_pct`` and centre-crop ``input_size``
    (224 from 256 px: crop_pct 0.875), then normalise by ``mean`` / ``std`` (default: to [-1, 1])."""
    from timm.data import create_transform

    mean, std = _norm(channels, mean, std)
    return create_transform(input_size=(channels, input_size, input_size), is_training=False,
                            crop_pct=crop_pct, interpolation="bicubic", mean=mean, std=std)


def _norm(channels: int, mean, std) -> tuple[tuple[float, ...], tuple[float, ...]]:
    mean = (0.5,) * channels if mean is None else tuple(float(v) for v in mean)
    std = (0.5,) * channels if std is None else tuple(float(v) for v in std)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"normalisation mean {mean} / std {std} must give one value per channel ({channels})")
    return mean, std
