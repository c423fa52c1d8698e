import numpy as np
import pytest

from synscale.data import embedded as D


@pytest.fixture(scope="module")
def mnist():
    return D.load_mnist_embedded()


def test_mnist_embedded(mnist):
    x, y = mnist
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [500] * 10
    assert x.max() > 200


def test_sklearn_digits_ood():
    x, y = D.load_sklearn_digits()
    assert x.shape == (1797, 8, 8) and x.max() == 255
    assert set(y.tolist()) == set(range(10))


def test_split_is_stratified_deterministic_and_disjoint(mnist):
    _, y = mnist
    tr, va = D.stratified_split(y, 1000, seed=0)
    tr2, va2 = D.stratified_split(y, 1000, seed=0)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert len(tr) == 4000 and len(va) == 1000
    assert not set(tr) & set(va)
    assert np.bincount(y[va]).tolist() == [100] * 10
    # round-robin order: every prefix of 10k is balanced
    assert (y[tr][:50] == np.arange(50) % 10).all()
    tr3, _ = D.stratified_split(y, 1000, seed=1)
    assert not np.array_equal(tr, tr3)


def test_split_rejects_uneven_val(mnist):
    with pytest.raises(ValueError, match="multiple"):
        D.stratified_split(mnist[1], 1001, 0)


def test_resize_keeps_ink(mnist):
    x, _ = mnist
    small = D.resize(x[:5], 16)
    assert small.shape == (5, 16, 16)
    assert small.mean() > 0.5 * x[:5].mean()


def test_write_split_shards(tmp_path, mnist):
    from synscale.data.shards import read_shards

    x, y = mnist
    paths = D.write_split_shards(tmp_path, "train", D.resize(x[:25], 16)[..., None], y[:25], None, 10)
    assert [p.name for p in paths] == ["train-00000.tar", "train-00001.tar", "train-00002.tar"]
    d = read_shards(paths)
    assert len(d) == 25 and d.labels.tolist() == y[:25].tolist()


def test_frame_like_mnist_centres_digit():
    x, _ = D.load_sklearn_digits()
    out = D.frame_like_mnist(x[:3], 16)
    assert out.shape == (3, 16, 16)
    assert out[:, :2].max() == 0 and out[:, -2:].max() == 0 and out[:, :, :2].max() == 0
    assert out[:, 4:12, 4:12].mean() > 30
