"""FID and LPIPS (synscale.measure.perceptual) against hand computations, and the local-weights paths
(per-class FID on training images: test_per_class_fid.py)."""
import numpy as np
import pytest
import torch

from synscale.measure import perceptual as P


def test_fid_matches_a_hand_computation():
    real = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    fake = real * 2 + 3
    # means (1, 1) and (5, 5); covariances diag(4/3) and diag(16/3) (ddof 1):
    # |mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrt(S1 S2)) = 32 + 2 * (4/3 + 16/3 - 2 * 8/3) = 32 + 8/3
    assert P.frechet_distance(real, fake) == pytest.approx(32 + 8 / 3, rel=1e-6)
    assert P.frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        P.frechet_distance(real[:1], fake)


class _Identity(torch.nn.Module):
    """A 'classifier' whose only stage is its input."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward_intermediates(self, x, intermediates_only=True):
        return [x]


def test_reference_lpips_matches_a_hand_computation():
    # one image, 2 channels x 1 x 2 positions: position 0 (3, 4) vs (1, 0) -> unit (0.6, 0.8) vs (1, 0):
    # squared distance 0.16 + 0.64 = 0.8; position 1 (0, 2) vs (0, 5) -> both (0, 1): 0. Mean 0.4
    a = torch.tensor([[[[3.0, 0.0]], [[4.0, 2.0]]]])
    b = torch.tensor([[[[1.0, 0.0]], [[0.0, 5.0]]]])
    d = P.ReferenceLPIPS(_Identity())(a, b)
    assert d.shape == (1,) and float(d) == pytest.approx(0.4, rel=1e-5)


def test_lpips_pairs_and_class_average():
    pairs = P.pairs_of(50, 250, seed=3, label=7)
    assert pairs.shape == (250, 2) and (pairs[:, 0] < pairs[:, 1]).all()
    assert len({tuple(p) for p in pairs}) == 250                       # distinct pairs
    assert (pairs == P.pairs_of(50, 250, 3, 7)).all() and not (pairs == P.pairs_of(50, 250, 3, 8)).all()
    assert P.pairs_of(4, 250, 0, 0).shape == (6, 2)                     # all pairs when fewer exist
    # distance = |a - b| of scalar 'images'; class 0 images 0,1,2 (pairs: 1, 2, 1 -> mean 4/3),
    # class 1 images 0, 10 (one pair: 10)
    groups = [{0: torch.tensor([0.0, 1.0, 2.0])}, {1: torch.tensor([0.0, 10.0])}]
    out = P.lpips(lambda x, y: (x - y).abs(), groups, 3, 250, seed=0)
    assert out["per_class_lpips"][0] == pytest.approx(4 / 3) and out["per_class_lpips"][1] == pytest.approx(10)
    assert out["per_class_lpips"][2] is None and out["lpips"] == pytest.approx((4 / 3 + 10) / 2)


def test_class_batches_bound_memory(tmp_path):
    from synscale.data.shards import Sample, write_shard

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, size=(30, 8, 8, 1), dtype=np.uint8)
    write_shard(tmp_path / "t.tar", [Sample(f"{i:04d}", im[:, :, 0], i % 3) for i, im in enumerate(imgs)])
    groups = list(P.class_batches(tmp_path / "t.tar", range(3), lambda im: torch.from_numpy(np.asarray(im, np.float32)),
                                  8, 1, max_images=20))
    assert [sorted(g) for g in groups] == [[0, 1], [2]]                 # whole classes, <= 20 images a pass
    assert groups[0][1].shape == (10, 8, 8) and groups[0][1].dtype == torch.float16
    assert torch.equal(groups[1][2][0], torch.from_numpy(imgs[2, :, :, 0].astype(np.float32)).half())


def test_torchmetrics_lpips_reads_a_local_backbone(tmp_path):
    from support.assets_quality import save_random_squeezenet

    path = save_random_squeezenet(tmp_path / "squeezenet1_1.pth")
    before = torch.hub.get_dir()
    metric = P.torchmetrics_lpips("squeeze", path)
    assert torch.hub.get_dir() == before
    state = torch.load(path, weights_only=True)
    assert torch.equal(metric.net.net.slices[0][0].weight, state["features.0.weight"])   # the file's weights
    d = P.pairwise(metric)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(d(a, a).reshape(-1), torch.zeros(2), atol=1e-6) and (d(a, b).reshape(-1) > 0).all()
    with pytest.raises(FileNotFoundError, match="quality.lpips.backbone_weights.*SqueezeNet1_1_Weights"):
        P.torchmetrics_lpips("squeeze", tmp_path / "missing.pth")


def test_inception_features_from_local_weights(tmp_path):
    from support.assets_quality import save_random_inception

    path = save_random_inception(tmp_path / "inception.pth")
    ext = P.inception_extractor(path)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    f = ext(x)
    assert f.shape == (3, 2048) and torch.isfinite(f).all()
    assert torch.equal(ext(x), f)
    with pytest.raises(FileNotFoundError, match="quality.fid.inception_weights"):
        P.inception_extractor(tmp_path / "missing.pth")
