"""The streaming shard loader: who reads what, epochs, resuming mid-stream, evaluation passes."""
import itertools

import numpy as np
import pytest
import torch

from synscale.data.loader import ShardPart, ShardStream, make_loader, prefix_parts, train_transform
from synscale.data.shards import Sample, write_shard


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("loader")
    paths = []
    for s in range(4):
        samples = [Sample(f"s{s}k{i:03d}", np.full((8, 8, 1), s * 25 + i, np.uint8), (s * 25 + i) % 5)
                   for i in range(25)]
        write_shard(d / f"{s}.tar", samples)
        paths.append(str(d / f"{s}.tar"))
    return paths


def ids(batches):
    """The sample id of each image (its constant pixel value), batch by batch."""
    return [[int(im[0, 0, 0]) for im in x] for x, _ in batches]


def test_prefix_parts():
    parts = prefix_parts(["a", "b", "c"], 60, 25)
    assert parts == [ShardPart("a", 25), ShardPart("b", 25), ShardPart("c", 10)]
    with pytest.raises(ValueError, match="need 4 shards of 25"):
        prefix_parts(["a", "b", "c"], 80, 25)


def test_eval_pass_reads_every_sample_once(shards):
    for workers in (0, 1, 2):
        loader = make_loader([ShardPart(p) for p in shards], 7, None, 1, workers=workers)
        got = sorted(itertools.chain(*ids(loader)))
        assert got == list(range(100)), workers
    x, y = next(iter(make_loader([ShardPart(shards[0])], 7, None, 1)))
    assert len(x) == 7 and x[0].dtype == torch.uint8 and x[0].shape == (8, 8, 1)
    assert y.tolist() == [0, 1, 2, 3, 4, 0, 1]


def test_train_stream_covers_the_prefix_each_epoch(shards):
    parts = prefix_parts(shards, 60, 25)  # 25 + 25 + 10 samples
    ds = ShardStream(parts, 10, None, 1, train=True, seed=3, shuffle_buffer=8)
    it = iter(ds)
    epoch1 = sorted(itertools.chain(*ids(next(it) for _ in range(6))))
    epoch2 = sorted(itertools.chain(*ids(next(it) for _ in range(6))))
    assert epoch1 == epoch2 == list(range(60))
    assert not any(i >= 60 for i in epoch1)  # only the first 60 samples


@pytest.mark.parametrize("world,workers", [(2, 1), (2, 2), (1, 2)])
def test_ranks_and_workers_read_disjoint_parts(shards, world, workers):
    parts = [ShardPart(p) for p in shards]
    seen = []
    for rank in range(world):
        loader = make_loader(parts, 5, None, 1, train=True, seed=1, rank=rank, world=world, workers=workers,
                             shuffle_buffer=4)
        # one epoch's worth for this rank: 100 / world samples
        seen.append(set(itertools.chain(*ids(itertools.islice(loader, 100 // world // 5)))))
    assert set.union(*seen) == set(range(100))
    assert sum(len(s) for s in seen) == 100


@pytest.mark.parametrize("workers", [0, 2])
def test_start_batch_resumes_the_stream(shards, workers):
    """A loader started at batch k yields exactly batches k, k+1, ... of an uninterrupted one,
    augmentation included."""
    aug = {"crop_scale": [0.5, 1.0], "crop_ratio": [0.8, 1.25], "hflip": 0.5, "randaugment": "rand-m9-n2"}
    tf = train_transform(8, 1, aug)
    parts = [ShardPart(p) for p in shards]
    full = list(itertools.islice(make_loader(parts, 6, None, 1, tf, train=True, seed=2, workers=workers), 30))
    for k in (5, 17):
        resumed = list(itertools.islice(make_loader(parts, 6, None, 1, tf, train=True, seed=2, start_batch=k,
                                                    workers=workers), 30 - k))
        for (xa, ya), (xb, yb) in zip(full[k:], resumed):
            assert torch.equal(ya, yb) and torch.equal(xa, xb)


def test_short_shard_is_named(tmp_path, shards):
    loader = make_loader([ShardPart(shards[0], 30)], 5, None, 1)
    with pytest.raises(ValueError, match=r"0\.tar: holds 25 samples, fewer than the 30.*shard_size"):
        list(loader)


def test_few_indexed_shards_are_split_so_each_slot_reads_its_own(tmp_path):
    """One shard of 50 samples whose manifest indexes every 10th sample, 45 of them used, 4 slots:
    pieces of 20 at index points, each read from its byte offset; every sample once over the slots."""
    from synscale.data.loader import split_parts

    offs = []
    path = str(tmp_path / "one.tar")
    write_shard(path, (Sample(f"k{i:03d}", np.full((4, 4, 1), i, np.uint8), i % 5) for i in range(50)), offsets=offs)
    index = {"every": 10, "offsets": offs[::10], "count": 50}
    parts = split_parts([ShardPart(path, 45)], 4, lambda p: index)
    assert parts == [ShardPart(path, 20, offs[0]), ShardPart(path, 20, offs[20]), ShardPart(path, 5, offs[40])]
    got = []
    for rank in range(3):
        ds = ShardStream(parts, 7, None, 1, rank=rank, world=3)
        got += [i for batch in ids(ds) for i in batch]
    assert sorted(got) == list(range(45))
    # enough parts, or no index (a user's external shard): unchanged
    assert split_parts([ShardPart(path, 45)], 1, lambda p: index) == [ShardPart(path, 45)]
    assert split_parts([ShardPart(path, 45)], 4, lambda p: None) == [ShardPart(path, 45)]
