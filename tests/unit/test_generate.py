import numpy as np

from synscale.t2i import generate as G


def test_labels_balanced_and_nested():
    a = G.shard_labels(0, 500, 10)
    b = G.shard_labels(1, 500, 10)
    assert np.bincount(a).tolist() == [50] * 10
    both = np.concatenate([a, b])
    assert (both == np.arange(1000) % 10).all()
    assert np.bincount(G.testset_labels(50, 10)).tolist() == [50] * 10


def test_to_uint8_resizes_and_converts():
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype(np.float32)
    out = G._to_uint8(x, 16, 1)
    assert out.shape == (3, 16, 16, 1) and out.dtype == np.uint8
    same = G._to_uint8(x[..., :1], 32, 1)
    assert np.array_equal(same[..., 0], np.clip(np.round(x[..., 0] * 255), 0, 255).astype(np.uint8))
