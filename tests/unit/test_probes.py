"""Linear probes (synscale.measure.probes): the split, the L-BFGS fit, torchvision roots, config checks."""
import copy

import numpy as np
import pytest
import torch

from synscale import config as C
from synscale.measure import probes as P


def test_stratified_split_is_seeded_and_per_class():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    tr, te = P.stratified_split(labels, 0.5, seed=1)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 60
    assert np.bincount(labels[tr]).tolist() == [5, 10, 15]
    assert np.array_equal(tr, P.stratified_split(labels, 0.5, seed=1)[0])
    assert not np.array_equal(tr, P.stratified_split(labels, 0.5, seed=2)[0])


def test_linear_probe_separates_separable_features():
    rng = np.random.default_rng(0)
    y = np.arange(200) % 4
    x = np.eye(4)[y] * 5 + rng.normal(scale=0.3, size=(200, 4))
    r = P.linear_probe(x[:100], y[:100], x[100:], y[100:], max_iter=500)
    assert r["top1"] == 1.0 and r["n_train"] == r["n_test"] == 100 and r["n_classes"] == 4 and r["converged"]
    assert r["metric"] == "top1" and r["score"] == r["mean_per_class"] == 1.0 and r["C"] == 1.0
    noise = rng.normal(size=(200, 4))
    assert P.linear_probe(noise[:100], y[:100], noise[100:], y[100:])["top1"] < 0.5
    assert P.linear_probe(x[:100], y[:100], x[100:], y[100:], max_iter=1)["converged"] is False
    assert P.average({"a": {"top1": 0.5}, "b": {"top1": 1.0}}) == 0.75 and P.average({}) is None


def test_torchvision_probe_reads_a_local_root(tmp_path):
    from support.assets_quality import save_dtd_like

    from synscale.data.loader import eval_transform

    root = save_dtd_like(tmp_path / "dtd", n_classes=3, per_split=4)
    spec = {"torchvision": "DTD", "root": str(root), "train": {"split": "train"}, "test": {"split": "test"}}
    tf = P.pil_transform(eval_transform(16, 1, 1.0), channels=1)
    ds = P.torchvision_split(spec, "train", tf, "probes.dtd")
    x, y = ds[0]
    assert len(ds) == 12 and x.shape == (1, 16, 16) and -1 <= float(x.min()) and y == 0
    assert sorted({ds[i][1] for i in range(len(ds))}) == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match=r"probes\.dtd\.root.*torchvision\.datasets\.DTD expects"):
        P.torchvision_split({**spec, "root": str(tmp_path / "none")}, "train", tf, "probes.dtd")
    with pytest.raises(ValueError, match=r"probes\.dtd\.torchvision.*no dataset 'Dtd'"):
        P.torchvision_split({**spec, "torchvision": "Dtd"}, "train", tf, "probes.dtd")
    with pytest.raises(ValueError, match=r"probes\.dtd\.train"):
        P.torchvision_split({**spec, "train": {"splitt": "train"}}, "train", tf, "probes.dtd")


def test_dtd_probe_fits_train_plus_val_of_partition_1(tmp_path):
    """On a DTD-layout root, the paper's DTD probe sweeps C on val (fitted on train), then fits
    train + val (Table A2's 3,760 in full size) and scores top-1 on test, all of partition 1."""
    import timm
    from support.assets_quality import save_dtd_like

    from synscale.data.loader import eval_transform
    from synscale.steps.evaluate import run_probes

    root = save_dtd_like(tmp_path / "dtd", n_classes=3, per_split=4)
    spec = {"torchvision": "DTD", "root": str(root), "train": {"split": "train"}, "test": {"split": "test"},
            "max_iter": 100, "C": None, "sweep": {"c_min": 1e-2, "c_max": 1e2, "steps_per_decade": 1,
                                                  "val_fraction": 0.2}}
    cfg = {"seed": 0, "data": {"image_size": 16, "channels": 1}, "probes": {"dtd": spec}}
    torch.manual_seed(0)
    model = timm.create_model("resnet10t", num_classes=3, in_chans=1).eval()
    r = run_probes(cfg, model, torch.float32, torch.device("cpu"), {"eval_batch_size": 8, "workers": 0},
                   eval_transform(16, 1, 1.0), {})["dtd"]
    assert r["splits"] == {"train": {"split": "train"}, "val": {"split": "val", "partition": 1},
                           "test": {"split": "test"}}
    assert r["n_train"] == 24 and r["n_sweep_train"] == 12 and r["n_val"] == 12 and r["n_test"] == 12
    assert r["metric"] == "top1" and r["score"] == r["top1"] and r["validation"] == "val split"
    assert r["table_a2"]["dataset"] == "dtd" and r["table_a2"]["n_train"] == 3760 and r["C_source"] == "sweep"

def test_probe_features_drop_the_head():
    import timm

    model = timm.create_model("resnet10t", num_classes=5, in_chans=1).eval()
    batches = [(torch.randn(4, 1, 16, 16), torch.arange(4))]
    f, y = P.features(model, batches)
    assert f.shape == (4, model.num_features) and y.tolist() == [0, 1, 2, 3]


PROBE_ERRORS = [
    ({"torchvision": "DTD"}, r"probes\.x.*needs both 'torchvision' and 'root'"),
    ({"train_shards": "a-{0..1}.tar"}, r"probes\.x.*needs both 'train_shards' and 'test_shards'"),
    ({"embedded": "sklearn_digits", "torchvision": "DTD", "root": "/r"}, r"probes\.x.*exactly one of"),
    ({}, r"probes\.x.*exactly one of"),
    ({"embedded": "emnist"}, r"probes\.x\.embedded"),
    ({"embedded": "sklearn_digits", "max_iter": 0}, r"probes\.x\.max_iter"),
]


@pytest.mark.parametrize("spec,pattern", PROBE_ERRORS)
def test_bad_probe_section(embedded_cfg, spec, pattern):
    cfg = copy.deepcopy(embedded_cfg)
    cfg["probes"] = {"x": spec}
    with pytest.raises(C.ConfigError) as e:
        C.validate(cfg)
    assert __import__("re").search(pattern, str(e.value)), str(e.value)


def test_embedded_probe_only_on_embedded_data(root):
    cfg = C.load_yaml(root / "config" / "paper.yaml")
    cfg["probes"] = {"digits": {"embedded": "sklearn_digits"}}
    with pytest.raises(C.ConfigError, match=r"probes\.digits\.embedded.*only for data.source 'embedded_mnist'"):
        C.validate(cfg)


@pytest.mark.slow
def test_embedded_default_probe_sweeps_c_on_held_out_digits(embedded_cfg, tmp_path):
    """The embedded default's digits probe: a seeded half to train, C swept on a held-out fifth of
    it, refitted on the whole half; recorded with its metric, splits and chosen C, and fast."""
    import time

    import timm
    from threadpoolctl import threadpool_limits

    from synscale.data.embedded import frame_like_mnist, load_sklearn_digits, write_split_shards
    from synscale.data.loader import eval_transform
    from synscale.steps.evaluate import run_probes

    imgs, labels = load_sklearn_digits()
    d, cc = embedded_cfg["data"], embedded_cfg["classifier"]
    paths = write_split_shards(tmp_path, "ood_sklearn_digits", frame_like_mnist(imgs, d["image_size"])[..., None],
                               labels, None, 500)
    torch.manual_seed(0)
    model = timm.create_model(cc["arch"], num_classes=10, in_chans=1, **cc["kwargs"]).eval()
    t0 = time.time()
    with threadpool_limits(embedded_cfg["threads"]):  # as the evaluate job (Snakemake sets OMP_NUM_THREADS)
        out = run_probes(embedded_cfg, model, torch.float32, torch.device("cpu"),
                         {"eval_batch_size": 256, "workers": 0}, eval_transform(d["image_size"], 1, 1.0),
                         {"sklearn_digits": [str(p) for p in paths]})
    r = out["sklearn_digits"]
    assert time.time() - t0 < 20
    assert r["kind"] == "embedded" and r["metric"] == "top1" and r["table_a2"] is None
    assert r["splits"] == {"train_fraction": 0.5} and r["n_train"] + r["n_test"] == len(labels) == 1797
    assert r["C_source"] == "sweep" and r["validation"].startswith("held-out 0.2") and 7 <= len(r["sweep"]) <= 15
    assert r["n_val"] + r["n_sweep_train"] == r["n_train"] and abs(r["n_val"] - 0.2 * r["n_train"]) <= 10
    assert r["C"] == max(r["sweep"], key=lambda t: (t["score"], -t["C"]))["C"] and 0.1 < r["score"] <= 1
