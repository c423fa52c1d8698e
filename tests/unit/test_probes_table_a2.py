"""Linear probes as Table A2 / App. A.3 define them: the metric per dataset (mean per-class accuracy
for Aircraft, Pets, Caltech-101 and Flowers), the torchvision splits per dataset, and C chosen by a
sweep on a validation split, recorded in each probe's JSON entry."""
import copy

import numpy as np
import pytest
import torch
from PIL import Image

from synscale import config as C
from synscale.measure import probe_sets as S
from synscale.measure import probes as P

MEAN_PER_CLASS = {"aircraft", "pets", "caltech101", "flowers"}
# Table A2's train/test splits as torchvision arguments (train = train + val where a val is listed)
TORCHVISION_SPLITS = {
    "dtd": ("DTD", {"split": "train", "partition": 1}, {"split": "val", "partition": 1},
            {"split": "test", "partition": 1}),
    "flowers": ("Flowers102", {"split": "train"}, {"split": "val"}, {"split": "test"}),
    "stl10": ("STL10", {"split": "train", "folds": 0}, None, {"split": "test"}),
    "country211": ("Country211", {"split": "train"}, {"split": "valid"}, {"split": "test"}),
    "aircraft": ("FGVCAircraft", {"split": "train"}, {"split": "val"}, {"split": "test"}),
    "pets": ("OxfordIIITPet", {"split": "trainval"}, None, {"split": "test"}),
    "food101": ("Food101", {"split": "train"}, None, {"split": "test"}),
    "cars": ("StanfordCars", {"split": "train"}, None, {"split": "test"}),
    "gtsrb": ("GTSRB", {"split": "train"}, None, {"split": "test"}),
    "cifar10": ("CIFAR10", {"train": True}, None, {"train": False}),
    "cifar100": ("CIFAR100", {"train": True}, None, {"train": False}),
}


def test_mean_per_class_accuracy_differs_from_top1_on_an_unbalanced_set():
    # class 0: 4 samples, 3 right; class 1: 2 samples, none right; class 2: 2 samples, both right
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 0, 0, 2, 2])
    assert P.score("top1", y, pred) == pytest.approx(5 / 8)
    assert P.score("mean_per_class", y, pred) == pytest.approx((3 / 4 + 0 + 1) / 3)
    # a prediction of a class absent from the test labels counts as wrong, not as a class
    assert P.mean_per_class_accuracy(np.array([0, 0, 1]), np.array([0, 2, 1])) == pytest.approx((1 / 2 + 1) / 2)
    with pytest.raises(ValueError, match="unknown probe metric"):
        P.score("top5", y, pred)


def test_each_table_a2_dataset_is_scored_by_its_metric():
    assert set(S.TABLE_A2) == {"food101", "cifar10", "cifar100", "sun397", "cars", "aircraft", "dtd", "pets",
                               "caltech101", "flowers", "stl10", "eurosat", "resisc45", "gtsrb", "country211"}
    for name, row in S.TABLE_A2.items():
        want = "mean_per_class" if name in MEAN_PER_CLASS else "top1"
        assert row.metric == want, name
        spec = {"train_shards": "a.tar", "test_shards": "b.tar"}
        assert S.resolve(name, spec)["metric"] == want and S.resolve(name, spec)["table_a2"] == name
    # a dataset of one's own: top-1 unless the config says otherwise; tying by key works under any name
    assert S.resolve("mine", {"train_shards": "a", "test_shards": "b"})["metric"] == "top1"
    assert S.resolve("mine", {"train_shards": "a", "test_shards": "b", "metric": "mean_per_class"})["metric"] \
        == "mean_per_class"
    assert S.resolve("fl", {"train_shards": "a", "test_shards": "b", "table_a2": "flowers"})["metric"] \
        == "mean_per_class"
    assert S.resolve("dtd", {"train_shards": "a", "test_shards": "b", "table_a2": None})["table_a2"] is None


def test_the_reported_score_is_the_datasets_metric():
    """Train: class 0 at x=-5, class 1 at x=+5. Test: 8 class-0 and 2 class-1 samples, all at -5:
    the probe predicts 0 everywhere, so top-1 is 0.8 and mean per-class accuracy 0.5."""
    rng = np.random.default_rng(0)
    ty = np.repeat([0, 1], 20)
    tx = (np.where(ty == 0, -5.0, 5.0) + rng.normal(scale=0.1, size=40))[:, None]
    test_y = np.array([0] * 8 + [1] * 2)
    test_x = np.full((10, 1), -5.0)
    for name, want in (("aircraft", 0.5), ("pets", 0.5), ("flowers", 0.5), ("caltech101", 0.5), ("cars", 0.8),
                       ("dtd", 0.8), ("stl10", 0.8)):
        metric = S.TABLE_A2[name].metric
        r = P.swept_probe((tx, ty), (test_x, test_y), metric=metric, seed=1)
        assert r["metric"] == metric and r["score"] == pytest.approx(want), name
        assert r["top1"] == pytest.approx(0.8) and r["mean_per_class"] == pytest.approx(0.5)
    assert P.average({"a": {"score": 0.5, "top1": 0.8}, "b": {"score": 1.0, "top1": 1.0}}) == pytest.approx(0.75)


def test_search_finds_the_best_c_to_an_eighth_of_a_decade():
    calls = []

    def objective(c):
        calls.append(c)
        return -abs(np.log10(c) - 2.375)  # peaks at C = 10^2.375, on the 1/8-decade lattice

    best, trials = P.search_c(objective)
    assert best == pytest.approx(10 ** 2.375) and len(calls) == len(trials) <= 15
    assert [t["C"] for t in trials] == sorted(t["C"] for t in trials)
    exps = [np.log10(t["C"]) for t in trials]
    coarse = [10.0 ** e for e in exps if abs(e - round(e)) < 1e-9 and round(e) % 2 == 0]
    assert coarse == pytest.approx([10.0 ** e for e in range(-6, 7, 2)])
    # ties go to the smaller C (the stronger regularisation); the range is respected
    assert P.search_c(lambda c: 1.0)[0] == pytest.approx(1e-6)
    best, trials = P.search_c(lambda c: -abs(np.log10(c) - 5), c_min=1e-2, c_max=1e2, steps_per_decade=2)
    assert best == pytest.approx(1e2) and min(t["C"] for t in trials) == pytest.approx(1e-2)


def _two_clusters(n, rng, flip=False):
    y = np.repeat([0, 1], n)
    x = np.where(y == 0, -1.0, 1.0)[:, None] + rng.normal(scale=0.2, size=(2 * n, 1))
    return x, (1 - y if flip else y)


def test_the_sweep_picks_the_c_that_wins_on_validation():
    rng = np.random.default_rng(0)
    train, test = _two_clusters(12, rng), _two_clusters(12, rng)
    train = (np.concatenate([train[0], [[-1.0]]]), np.concatenate([train[1], [0]]))  # 13 of class 0, 12 of 1
    # val agrees with train: C must be large enough to separate the clusters; every smaller C tried
    # (the prior-only fits) scores lower on val
    r = P.swept_probe(train, test, _two_clusters(10, rng), metric="top1")
    scores = {t["C"]: t["score"] for t in r["sweep"]}
    assert r["C_source"] == "sweep" and r["validation"] == "val split" and scores[r["C"]] == 1.0
    assert all(s < 1.0 for c, s in scores.items() if c < r["C"]) and r["C"] > 1e-6
    assert r["n_train"] == 25 + 20 and r["n_sweep_train"] == 25 and r["n_val"] == 20 and r["top1"] == 1.0
    # val contradicts train: only a C too small to learn the features (predicting the prior, class 0,
    # for all) scores on val, so the sweep must pick the smallest C
    val_x = np.full((6, 1), 1.0)
    r2 = P.swept_probe(train, test, (val_x, np.zeros(6, int)), metric="top1")
    assert r2["C"] == pytest.approx(1e-6)
    assert {t["C"]: t["score"] for t in r2["sweep"]}[1e6] == 0.0
    # a fixed C skips the sweep, and is recorded as the config's
    r3 = P.swept_probe(train, test, c=0.5)
    assert r3["C"] == 0.5 and r3["C_source"] == "config" and r3["sweep"] == [] and r3["n_train"] == 25


def test_the_held_out_validation_share_is_seeded_and_stratified():
    rng = np.random.default_rng(0)
    train = _two_clusters(20, rng)
    test = _two_clusters(5, rng)
    a = P.swept_probe(train, test, seed=3, val_fraction=0.25)
    assert a["n_val"] == 10 and a["n_sweep_train"] == 30 and a["n_train"] == 40 and "held-out 0.25" in a["validation"]
    assert a == P.swept_probe(train, test, seed=3, val_fraction=0.25)
    with pytest.raises(ValueError, match=r"probes\.tiny.*too few samples"):
        P.swept_probe((np.zeros((2, 1)), np.array([0, 1])), test, key="probes.tiny")


class _Recorder:
    """Stands in for a torchvision dataset class: records the arguments of each instance."""
    calls: list = []

    def __init__(self, root, split="train", partition=1, folds=None, transform=None, download=False):
        type(self).calls.append({"split": split, "partition": partition, "folds": folds})


@pytest.mark.parametrize("name", sorted(TORCHVISION_SPLITS))
def test_the_torchvision_splits_are_table_a2s(monkeypatch, name):
    import torchvision.datasets

    cls, train, val, test = TORCHVISION_SPLITS[name]
    row = S.TABLE_A2[name]
    assert (row.torchvision, row.train, row.val, row.test) == (cls, train, val, test)
    rec = type(cls, (_Recorder,), {"calls": [], "__init__": lambda self, root, transform=None, download=False, **kw:
                                   type(self).calls.append(kw)})
    monkeypatch.setattr(torchvision.datasets, cls, rec)
    spec = {"torchvision": cls, "root": "/r"}  # no split arguments: Table A2's are filled in
    for split in ("train", "val", "test"):
        if S.resolve(name, spec).get(split) is None:
            assert split == "val" and val is None
            continue
        P.torchvision_split(spec, split, lambda x: x, f"probes.{name}")
    assert rec.calls == [a for a in (train, val, test) if a is not None]


def test_dtd_partition_defaults_compare_equal(monkeypatch):
    """A DTD probe written as {split: train} is partition 1 (torchvision's default), as Table A2;
    partition 2 is not, and the error names the key and the fix."""
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "DTD", type("DTD", (_Recorder,), {"calls": []}))
    spec = {"torchvision": "DTD", "root": "/r", "train": {"split": "train"}, "test": {"split": "test"}}
    r = S.resolve("dtd", spec)
    assert r["val"] == {"split": "val", "partition": 1} and r["train"] == {"split": "train"}
    with pytest.raises(ValueError, match=r"probes\.dtd\.train.*partition': 1.*table_a2: null"):
        S.resolve("dtd", {**spec, "train": {"split": "train", "partition": 2}})
    assert S.resolve("dtd", {**spec, "train": {"split": "train", "partition": 2}, "table_a2": None}).get("val") is None


DEPARTURES = [
    ("stl10", {"torchvision": "STL10", "root": "/r", "train": {"split": "train"}, "test": {"split": "test"}},
     r"probes\.stl10\.train.*'folds': 0"),
    ("flowers", {"torchvision": "Flowers102", "root": "/r", "val": {"split": "test"}}, r"probes\.flowers\.val"),
    ("country211", {"torchvision": "Country211", "root": "/r", "train": {"split": "valid"}},
     r"probes\.country211\.train"),
    ("cars", {"torchvision": "StanfordCars", "root": "/r", "val": {"split": "test"}},
     r"probes\.cars\.val.*none \(the sweep holds out part of train\)"),
    ("pets", {"torchvision": "OxfordIIITPet", "root": "/r", "metric": "top1"}, r"probes\.pets\.metric.*mean_per_class"),
    ("sun397", {"torchvision": "SUN397", "root": "/r"}, r"probes\.sun397\.torchvision.*give webdataset shards"),
    ("dtd", {"torchvision": "Flowers102", "root": "/r"}, r"probes\.dtd\.torchvision.*DTD"),
    ("x", {"torchvision": "DTD", "root": "/r", "table_a2": "imagenet"}, r"probes\.x\.table_a2"),
    ("x", {"torchvision": "DTD", "root": "/r"}, r"probes\.x\.train.*same"),
    ("x", {"embedded": "sklearn_digits", "table_a2": "dtd"}, r"probes\.x\.table_a2"),
]


@pytest.mark.parametrize("name,spec,pattern", DEPARTURES)
def test_a_departure_from_table_a2_is_an_error_naming_the_key(name, spec, pattern):
    with pytest.raises(ValueError, match=pattern):
        S.resolve(name, spec)
    assert len(S.config_errors({name: spec, "ok": {"train_shards": "a", "test_shards": "b"}})) == 1


def test_aircraft_trainval_without_val_is_table_a2s_train():
    spec = {"torchvision": "FGVCAircraft", "root": "/r", "train": {"split": "trainval"}, "test": {"split": "test"}}
    assert S.resolve("aircraft", spec).get("val") is None
    with pytest.raises(ValueError, match=r"probes\.aircraft\.val.*already holds"):
        S.resolve("aircraft", {**spec, "val": {"split": "val"}})


def test_paper_config_spells_table_a2(root):
    """config/paper.yaml names every row, and each torchvision probe's arguments are the row's."""
    cfg = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    assert set(cfg["probes"]) == set(S.TABLE_A2) and S.config_errors(cfg["probes"]) == []
    for name, spec in cfg["probes"].items():
        row = S.TABLE_A2[name]
        assert spec["C"] is None and spec["sweep"]["steps_per_decade"] == 8, name
        if row.torchvision is None:
            assert spec.get("train_shards") and spec.get("test_shards"), name
        else:
            assert spec["torchvision"] == row.torchvision, name
            for split in ("train", "val", "test"):
                assert spec.get(split) == getattr(row, split), (name, split)


def test_schema_checks_the_new_keys(embedded_cfg):
    for bad in ({"table_a2": "imagenet"}, {"metric": "top5"}, {"sweep": {"steps_per_decade": 0}},
                {"sweep": {"val_fraction": 1.0}}, {"C": 0}):
        cfg = copy.deepcopy(embedded_cfg)
        cfg["probes"] = {"x": {"embedded": "sklearn_digits", **bad}}
        with pytest.raises(C.ConfigError, match=r"probes"):
            C.validate(cfg)


class _Brightness(torch.nn.Module):
    """A stand-in classifier whose pre-logit feature is the image's mean brightness."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(1, 2)

    def forward_features(self, x):
        return x.mean(dim=(2, 3))

    def forward_head(self, f, pre_logits=False):
        return f if pre_logits else self.head(f)

    def get_classifier(self):
        return self.head


def _fake_flowers(calls):
    """Flowers102 in miniature: train and val hold 6 dark (class 0) and 6 bright (class 1) images;
    test holds 8 dark class-0 images and 2 dark class-1 images (a probe predicts them class 0)."""

    class Fake:
        def __init__(self, root, split="train", transform=None, download=False):
            calls.append(split)
            self.transform = transform
            if split == "test":
                self.items = [(0, 0)] * 8 + [(0, 1)] * 2
            else:
                self.items = [(0, 0)] * 6 + [(255, 1)] * 6

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            v, y = self.items[i]
            return self.transform(Image.new("L", (8, 8), v)), y
    return Fake


def test_run_probes_records_metric_splits_and_chosen_c(monkeypatch):
    import torchvision.datasets

    from synscale.data.loader import eval_transform
    from synscale.steps.evaluate import run_probes

    calls = []
    monkeypatch.setattr(torchvision.datasets, "Flowers102", _fake_flowers(calls))
    spec = {"torchvision": "Flowers102", "root": "/r", "train": {}, "test": {}, "max_iter": 200, "C": None,
            "sweep": {"c_min": 1e-3, "c_max": 1e3, "steps_per_decade": 2, "val_fraction": 0.2}}
    cfg = {"seed": 0, "data": {"image_size": 8, "channels": 1}, "probes": {"flowers": spec}}
    cc = {"eval_batch_size": 4, "workers": 0}
    out = run_probes(cfg, _Brightness(), torch.float32, torch.device("cpu"), cc, eval_transform(8, 1, 1.0), {})
    r = out["flowers"]
    assert calls == ["train", "val", "test"]
    assert r["metric"] == "mean_per_class" and r["score"] == pytest.approx(0.5) and r["top1"] == pytest.approx(0.8)
    assert r["splits"] == {"train": {"split": "train"}, "val": {"split": "val"}, "test": {"split": "test"}}
    assert r["n_train"] == 24 and r["n_val"] == 12 and r["n_test"] == 10 and r["validation"] == "val split"
    assert r["C_source"] == "sweep" and r["C"] == max(r["sweep"], key=lambda t: (t["score"], -t["C"]))["C"]
    assert r["table_a2"]["dataset"] == "flowers" and r["table_a2"]["n_train"] == 2040
    assert P.average(out) == pytest.approx(0.5)
