"""The real data's index and the class-balanced, nested, seeded subsets drawn from it, on a
class-sorted export with shards of unequal sizes (the convention many ImageNet exports follow, and
not the one the embedded default writes)."""
import itertools
import random

import numpy as np
import pytest

from synscale.data import index as X
from synscale.data.loader import ShardPart, ShardStream, selected_parts
from synscale.data.shards import Sample, write_shard

# class-sorted: shard sizes 7, 3, 12, 5, 9 (36 samples); class c has 2 + 2c samples (c = 0..5, 42
# would be 2+4+...+12; 36 leaves class 5 with 6)
SIZES = (7, 3, 12, 5, 9)
N_CLASSES = 6


def _class_sorted_labels():
    labels = []
    for c in range(N_CLASSES):
        labels += [c] * (2 + 2 * c)
    return labels[: sum(SIZES)]


@pytest.fixture(scope="module")
def sorted_shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("sorted")
    labels, paths, pos = _class_sorted_labels(), [], 0
    for s, n in enumerate(SIZES):
        samples = [Sample(f"k{pos + i:04d}", np.full((4, 4, 1), pos + i, np.uint8), labels[pos + i]) for i in range(n)]
        write_shard(d / f"train-{s:03d}.tar", samples)
        paths.append(str(d / f"train-{s:03d}.tar"))
        pos += n
    return paths


@pytest.fixture(scope="module")
def index(sorted_shards):
    return X.index_shards(sorted_shards, N_CLASSES)


def test_index_records_counts_labels_and_sizes(index, sorted_shards):
    labels = _class_sorted_labels()
    assert [s["count"] for s in index["shards"]] == list(SIZES)
    assert index["total"] == 36
    assert index["class_counts"] == np.bincount(labels, minlength=N_CLASSES).tolist() == [2, 4, 6, 8, 10, 6]
    assert index["shards"][1]["labels"] == labels[7:10]
    assert index["shards"][2]["class_counts"] == np.bincount(labels[10:22], minlength=N_CLASSES).tolist()


def test_quotas_are_balanced_within_one_and_water_fill_scarce_classes():
    for d in (6, 7, 11, 12, 17):
        q = X.class_quotas([10] * 6, d, seed=0)
        assert sum(q) == d and max(q) - min(q) <= 1 and min(q) == d // 6
    # class 0 has only 2: it gives both, the other classes share the rest as evenly as they can
    q = X.class_quotas([2, 4, 6, 8, 10, 6], 30, seed=0)
    assert q == [2, 4, 6, 6, 6, 6]
    q = X.class_quotas([2, 4, 6, 8, 10, 6], 33, seed=0)  # level 6, three extra to classes with more than 6
    assert sum(q) == 33 and q[:3] == [2, 4, 6] and q[5] == 6 and q[3:5] in ([8, 7], [7, 8])
    with pytest.raises(ValueError, match="more than the 36 indexed"):
        X.class_quotas([2, 4, 6, 8, 10, 6], 37, seed=0)


def test_quotas_never_decrease_as_the_scale_grows():
    avail = [2, 4, 6, 8, 10, 6]
    prev = [0] * 6
    for d in range(1, 37):
        q = X.class_quotas(avail, d, seed=5)
        assert sum(q) == d and all(a >= b for a, b in zip(q, prev)) and all(a <= m for a, m in zip(q, avail)), d
        prev = q


def _members(index, sel):
    by_path = {s["path"]: s for s in index["shards"]}
    return {(p, i): by_path[p]["labels"][i] for p, pos in sel.items() for i in pos}


def test_subsets_are_class_balanced_nested_and_independent_of_listing_order(index):
    prev = set()
    for d in (6, 12, 18, 24, 30, 36):
        sel = X.select(index, d, seed=1)
        members = _members(index, sel)
        counts = np.bincount(list(members.values()), minlength=N_CLASSES).tolist()
        assert counts == X.subset_counts(index, d, seed=1) and sum(counts) == d
        if d <= 12:  # every class can give d / 6
            assert max(counts) - min(counts) <= 1
        assert prev <= set(members), d  # nested: the smaller scale's samples are all here
        prev = set(members)
        # the shards listed in another order: the same subset
        shuffled = dict(index, shards=random.Random(d).sample(index["shards"], len(index["shards"])))
        assert X.select(shuffled, d, seed=1) == sel
    # a prefix in shard order would have held classes 0-2 only at D=12
    assert min(X.subset_counts(index, 12, seed=1)) == 2
    # the seed draws the subset (through the order of the shards a class is taken from)
    assert len({str(sorted(X.select(index, 12, seed=s).items())) for s in range(1, 6)}) > 1


def test_the_loader_reads_exactly_the_selected_samples(index):
    sel = X.select(index, 18, seed=3)
    parts = selected_parts(sel)
    ds = ShardStream(parts, 5, None, 1)
    got = sorted(int(im[0, 0, 0]) for x, _ in ds for im in x)
    starts = dict(zip((s["path"] for s in index["shards"]), itertools.accumulate((0,) + SIZES)))
    want = sorted(starts[p] + i for p, pos in sel.items() for i in pos)
    assert got == want and len(got) == 18
    # a selection that is a shard's first k samples reads as a prefix
    assert selected_parts({"a.tar": [0, 1, 2]}) == [ShardPart("a.tar", 3)]
    assert selected_parts({"a.tar": [1, 2]}) == [ShardPart("a.tar", select=(1, 2))]


def test_a_stale_or_foreign_index_is_refused(index, sorted_shards, tmp_path):
    X.check_index(index, sorted_shards)
    with pytest.raises(X.StaleIndexError, match="not indexed"):
        X.check_index(index, sorted_shards + [str(tmp_path / "extra.tar")], "idx.json")
    changed = dict(index, shards=[dict(s) for s in index["shards"]])
    changed["shards"][2]["bytes"] += 1
    with pytest.raises(X.StaleIndexError, match=r"train-002\.tar.*changed after it was indexed.*delete idx\.json"):
        X.check_index(changed, sorted_shards, "idx.json")


def test_a_real_scale_beyond_the_data_names_its_key(index):
    X.check_scales(index, {"runs[1].scales": [6, 36]})
    with pytest.raises(ValueError, match=r"config key 'runs\[1\]\.scales'.*\[40\] exceed the 36 samples"):
        X.check_scales(index, {"runs[1].scales": [6, 40]})


def test_labels_outside_the_class_index_are_refused(sorted_shards):
    with pytest.raises(ValueError, match="outside 0..3.*data.class_index"):
        X.index_shards(sorted_shards, 4)
