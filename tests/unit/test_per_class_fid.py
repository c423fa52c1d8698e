"""Per-class FID as App. G.4 measures it: the exact distance on constructed features, the refusal of
classes with too few images, and the step that picks a run's first synthetic training images of
each class and every real training image of that class from shards."""
import copy
import json

import numpy as np
import pytest
import torch

from synscale.measure import perceptual as P


def _whitened(n: int, d: int, seed: int) -> torch.Tensor:
    """n x d samples whose sample mean is exactly 0 and sample covariance (ddof 1) exactly I."""
    z = torch.from_numpy(np.random.default_rng(seed).normal(size=(n, d)))
    z = z - z.mean(0)
    chol = torch.linalg.cholesky(z.T @ z / (n - 1))
    return torch.linalg.solve_triangular(chol, z.T, upper=False).T


def test_class_fid_by_hand():
    real = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    fake = real * 2 + torch.tensor([3.0, 4.0])
    # means 0 and (3, 4); covariances (ddof 1) diag(2/3) and diag(8/3):
    # 25 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2) = 25 + 4/3 + 16/3 - 2 * 2 * 4/3 = 25 + 4/3
    assert P.class_frechet_distance(real, fake) == pytest.approx(25 + 4 / 3, rel=1e-12)
    assert P.class_frechet_distance(real, real) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        P.class_frechet_distance(real[:1], fake)


def test_class_fid_of_gaussian_features_with_known_moments():
    # features N(mu1, diag(s1^2)) and N(mu2, diag(s2^2)) with exactly these sample moments: the
    # covariances commute, so FID = |mu1 - mu2|^2 + sum (s1 - s2)^2
    d = 6
    mu1, mu2 = torch.arange(d, dtype=torch.float64), torch.full((d,), 2.0, dtype=torch.float64)
    s1, s2 = torch.linspace(0.5, 3.0, d, dtype=torch.float64), torch.linspace(2.0, 1.0, d, dtype=torch.float64)
    real = mu1 + _whitened(300, d, 0) * s1
    fake = mu2 + _whitened(200, d, 1) * s2
    expected = float((mu1 - mu2).square().sum() + (s1 - s2).square().sum())
    assert P.class_frechet_distance(real, fake) == pytest.approx(expected, rel=1e-9)


def test_class_fid_with_fewer_images_than_dimensions():
    """The case G.4 is in (1,300 images of a class in 2,048 dimensions): rank-deficient covariances,
    against the definition with a matrix square root (scipy) and against torchmetrics' FID."""
    import scipy.linalg

    rng = np.random.default_rng(2)
    real = torch.from_numpy(rng.normal(size=(20, 40)))
    fake = torch.from_numpy(rng.normal(size=(30, 40)) * 1.5 + 0.3)
    s1, s2 = np.cov(real.numpy(), rowvar=False), np.cov(fake.numpy(), rowvar=False)
    assert np.linalg.matrix_rank(s1) == 19
    ref = (float(((real.mean(0) - fake.mean(0)) ** 2).sum()) + np.trace(s1) + np.trace(s2)
           - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)
    assert P.class_frechet_distance(real, fake) == pytest.approx(ref, rel=1e-7)
    big_r, big_f = torch.from_numpy(rng.normal(size=(400, 8))), torch.from_numpy(rng.normal(size=(300, 8)) + 1)
    assert P.class_frechet_distance(big_r, big_f) == pytest.approx(P.frechet_distance(big_r, big_f), rel=1e-6)


def test_first_per_class():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 0])
    assert P.first_per_class(labels, 2, 3).tolist() == [0, 1, 2, 3, 4, 5]
    assert P.first_per_class(labels, 3, 3).tolist() == [0, 1, 2, 3, 4, 5, 6, 7]   # class 2 has only 2
    assert P.first_per_class(labels, 1, 4).tolist() == [0, 1, 2]


def test_per_class_fid_each_class_and_the_minimum():
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.normal(size=(60, 3)))
    real_labels = fake_labels = np.repeat([0, 1, 2], [25, 20, 15])
    fake = real.clone()                               # class 0: its real images
    fake[real_labels == 1] += 1.0                     # class 1: its real images shifted by 1 in 3 dims
    fake[real_labels == 2] *= 2                       # class 2: its real images scaled by 2
    out = P.per_class_fid(real, real_labels, fake, fake_labels, 3, min_images=15)
    r2 = real[45:].numpy()
    s2 = np.cov(r2, rowvar=False)                     # FID(X, 2X) = |mu|^2 + tr(S) + 4 tr(S) - 2 * 2 tr(S)
    assert out["per_class_fid"][0] == pytest.approx(0.0, abs=1e-9)
    assert out["per_class_fid"][1] == pytest.approx(3.0, rel=1e-9)
    assert out["per_class_fid"][2] == pytest.approx(float((r2.mean(0) ** 2).sum() + np.trace(s2)), rel=1e-9)
    assert out["mean_class_fid"] == pytest.approx(np.mean(out["per_class_fid"]))
    assert out["n_real_per_class"] == [25, 20, 15] and out["n_synthetic_per_class"] == [25, 20, 15]
    key = "quality.per_class_fid.min_images_per_class"
    with pytest.raises(ValueError, match=rf"fewer than {key} = 16 real training images \(class 2 \(two\)"):
        P.per_class_fid(real, real_labels, fake, fake_labels, 3, 16, names=["zero", "one", "two"])
    with pytest.raises(ValueError, match=rf"{key} = 10 synthetic training images \(class 1"):
        P.per_class_fid(real, real_labels, fake[:30], fake_labels[:30], 3, 10)


# ---------------------------------------------------------------- the step, on shards


def _write(path, labels, seed, size=16):
    from synscale.data.shards import Sample, write_shard

    rng = np.random.default_rng(seed)
    # each class its own brightness, so that classes differ in feature space
    imgs = [np.clip(rng.normal(40 + 60 * c, 30, (size, size)), 0, 255).astype(np.uint8) for c in labels]
    write_shard(path, [Sample(f"{seed}_{i:04d}", im, int(c)) for i, (im, c) in enumerate(zip(imgs, labels))])
    return str(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Real training shards sorted by class with unequal classes and shard sizes (30 / 25 / 35 images
    in shards of 40 and 50), a run's generated shards of 12 (labels cycling through the classes, as
    generation writes them), a random reference classifier and the config of the embedded default."""
    from synscale import config as C
    from synscale.steps import quality
    from synscale.steps.job import Job
    from synscale.t2i.generate import shard_labels
    from synscale.train.classifier import build_model, save_checkpoint

    tmp = tmp_path_factory.mktemp("pcfid")
    cfg = copy.deepcopy(C.validate(C.load_yaml(C.SCHEMA_PATH.parent / "config.yaml")))
    cfg["results"] = str(tmp)
    cfg["quality"]["per_class_fid"]["min_images_per_class"] = 2
    real_labels = np.repeat([0, 1, 2], [30, 25, 35])
    real = [_write(tmp / "train-0.tar", real_labels[:40], 100), _write(tmp / "train-1.tar", real_labels[40:], 101)]
    syn = [_write(tmp / f"shard-{i}.tar", shard_labels(i, 12, 3), i) for i in range(3)]
    (tmp / "classes.json").write_text(json.dumps(["zero", "one", "two"]))
    ckpt = tmp / "model.pt"
    save_checkpoint(build_model("resnet10t", 3, 1, seed=0), ckpt, {})
    # as rule train_features hands it its inputs
    quality.train_features(Job({"train": real, "reference": str(ckpt), "classes": str(tmp / "classes.json"),
                                "manifests": [], "weights": []}, {"out": str(tmp / "train_features.pt")},
                               {"config": cfg}))
    return cfg, tmp, real, syn, ckpt


def _features(cfg, shards, ckpt):
    from synscale.measure.reference import load_reference, reference_loader
    from synscale.steps.quality import fid_features

    model, device, amp = load_reference(cfg, ckpt, 3)
    f, y, _ = fid_features(cfg, model, device, amp, reference_loader(cfg, shards, device))
    return f.half(), y.numpy()


def test_training_features_hold_every_real_image(setup):
    cfg, tmp, real, _, ckpt = setup
    t = torch.load(tmp / "train_features.pt", weights_only=True)
    assert t["features"].dtype == torch.float16 and t["shards"] == ["train-0.tar", "train-1.tar"]
    assert np.bincount(t["labels"].numpy()).tolist() == [30, 25, 35]
    f, _ = _features(cfg, real, ckpt)
    assert torch.equal(t["features"], f)


def test_step_selects_the_first_images_of_each_class(setup):
    """scale 18 of 3 classes: the first 6 of each class, i.e. the run's first 18 images, read from
    the first 2 shards (24 images); against all 30 / 25 / 35 real images of each class."""
    from synscale.measure.perceptual import class_frechet_distance
    from synscale.steps import quality
    from synscale.steps.job import Job

    cfg, tmp, real, syn, ckpt = setup
    # as rule per_class_fid hands it its inputs and params
    out = quality.per_class_fid(Job(
        {"shards": syn[:2], "train_features": str(tmp / "train_features.pt"), "reference": str(ckpt),
         "classes": str(tmp / "classes.json"), "manifests": [], "weights": []}, {"out": str(tmp / "pcf.json")},
        {"config": cfg, "run": "sd_cfg2_incap", "scale": 18, "largest_scale": 36}))
    assert out["images_per_class"] == 6 and out["n_synthetic_per_class"] == [6, 6, 6]
    assert out["n_real_per_class"] == [30, 25, 35]
    assert out["synthetic"]["shards"] == ["shard-0.tar", "shard-1.tar"] and out["synthetic"]["images_read"] == 24
    assert out["synthetic"]["scale"] == 18 and out["synthetic"]["run_largest_scale"] == 36
    assert out["real"]["shards"] == ["train-0.tar", "train-1.tar"] and out["real"]["images"] == 90
    assert out["fid_feature_space"] == "reference classifier resnet10t pre-logit features"
    assert json.loads((tmp / "pcf.json").read_text())["provenance"]["results"] == str(tmp)

    rf, ry = _features(cfg, real, ckpt)
    sf, sy = _features(cfg, syn[:2], ckpt)
    first = np.arange(24) < 18                         # labels cycle: the first 18 hold 6 of each class
    for c in range(3):
        want = class_frechet_distance(rf[ry == c], sf[first & (sy == c)])
        assert out["per_class_fid"][c] == pytest.approx(want, rel=1e-9)
        assert out["per_class_fid"][c] != pytest.approx(class_frechet_distance(rf[ry == c], sf[sy == c]), rel=1e-6)
    assert out["mean_class_fid"] == pytest.approx(np.mean(out["per_class_fid"]))


def test_step_refuses_too_few_images_per_class(setup):
    from synscale.steps.quality import measure_per_class_fid

    cfg, tmp, _, syn, ckpt = setup
    cfg = copy.deepcopy(cfg)
    cfg["quality"]["per_class_fid"]["min_images_per_class"] = 7
    with pytest.raises(ValueError, match=r"18 synthetic training images .* give 6 per class for 3 classes, fewer "
                                         r"than quality\.per_class_fid\.min_images_per_class = 7"):
        measure_per_class_fid(cfg, "sd_cfg2_incap", 18, 36, syn[:2], ckpt, tmp / "classes.json",
                              tmp / "train_features.pt", tmp / "x.json")
    cfg["quality"]["per_class_fid"]["min_images_per_class"] = 26   # 12 synthetic but class 1 has 25 real
    with pytest.raises(ValueError, match=r"min_images_per_class = 26 real training images \(class 1 \(one\): 25"):
        measure_per_class_fid(cfg, "sd_cfg2_incap", 36 * 3, 36, syn, ckpt, tmp / "classes.json",
                              tmp / "train_features.pt", tmp / "x.json")
