"""The paper's 15 linear-probe datasets (Table A2, App. A.3) as data: for each, the metric it is
scored by, its train and test sizes, and the ``torchvision.datasets`` class and split arguments
that give Table A2's train and test splits.

Table A2 lists the CLIP paper's linear-probe benchmark (its Table 9): mean per-class accuracy for
FGVC Aircraft, Oxford-IIIT Pets, Caltech-101 and Oxford Flowers 102, top-1 accuracy for the
others. Where a dataset ships a validation split (Aircraft, DTD, Flowers, Country211), Table A2's
train split is train + val: the regularisation sweep fits on train and scores on val, and the final
probe fits on both. Elsewhere the sweep holds out a seeded share of the train split.

A probe of the config (``probes.<name>``) is tied to a row by ``table_a2: <row>``, or by its name
when that is a row's name (``table_a2: null`` unties it). A tied probe takes the row's metric and,
if torchvision reads it, the row's split arguments; a config that asks for anything else is an
error naming the key, so no probe departs from Table A2 without saying so.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

METRICS = ("top1", "mean_per_class")
SPLITS = ("train", "val", "test")
# torchvision arguments that do not select a split
_NOT_SPLIT_ARGS = {"self", "root", "transform", "target_transform", "transforms", "download", "loader"}


@dataclass(frozen=True)
class Row:
    """One row of Table A2. ``torchvision`` is None where torchvision.datasets has no class that
    splits the dataset as the table does (the probe then reads webdataset shards of the split)."""
    title: str
    n_classes: int
    n_train: int
    n_test: int
    metric: str
    torchvision: str | None = None
    train: dict | None = None
    val: dict | None = None
    test: dict | None = None
    note: str = ""
    trainval: dict | None = None  # arguments selecting train + val as one split (the sweep then holds out part)

    def splits(self) -> dict:
        return {s: copy.deepcopy(getattr(self, s)) for s in SPLITS if getattr(self, s) is not None}


_ACC, _MPC = METRICS
# Table A2 (App. A.3): dataset, classes, train size, test size, metric; the split arguments are
# torchvision's for the table's splits.
TABLE_A2: dict[str, Row] = {
    "food101": Row("Food-101", 101, 75_750, 25_250, _ACC, "Food101", {"split": "train"}, None, {"split": "test"}),
    "cifar10": Row("CIFAR-10", 10, 50_000, 10_000, _ACC, "CIFAR10", {"train": True}, None, {"train": False}),
    "cifar100": Row("CIFAR-100", 100, 50_000, 10_000, _ACC, "CIFAR100", {"train": True}, None, {"train": False}),
    "sun397": Row("SUN397", 397, 19_850, 19_850, _ACC,
                  note="50 train and 50 test images per class (one of SUN397's official partitions); "
                       "torchvision's SUN397 has no split: give webdataset shards"),
    "cars": Row("Stanford Cars", 196, 8_144, 8_041, _ACC, "StanfordCars", {"split": "train"}, None, {"split": "test"}),
    "aircraft": Row("FGVC Aircraft", 100, 6_667, 3_333, _MPC, "FGVCAircraft", {"split": "train"},
                    {"split": "val"}, {"split": "test"}, note="train = train + val (torchvision's 'trainval')",
                    trainval={"split": "trainval"}),
    "dtd": Row("Describable Textures (DTD)", 47, 3_760, 1_880, _ACC, "DTD", {"split": "train", "partition": 1},
               {"split": "val", "partition": 1}, {"split": "test", "partition": 1},
               note="partition 1; train = train + val"),
    "pets": Row("Oxford-IIIT Pets", 37, 3_680, 3_669, _MPC, "OxfordIIITPet", {"split": "trainval"}, None,
                {"split": "test"}),
    "caltech101": Row("Caltech-101", 102, 3_060, 6_085, _MPC,
                      note="30 train images per class, the rest to test; torchvision's Caltech101 has no split: "
                           "give webdataset shards"),
    "flowers": Row("Oxford Flowers 102", 102, 2_040, 6_149, _MPC, "Flowers102", {"split": "train"},
                   {"split": "val"}, {"split": "test"}, note="train = train + val"),
    "stl10": Row("STL-10", 10, 1_000, 8_000, _ACC, "STL10", {"split": "train", "folds": 0}, None, {"split": "test"},
                 note="1,000 train images: one of STL-10's ten predefined folds (fold 0)"),
    "eurosat": Row("EuroSAT", 10, 10_000, 5_000, _ACC,
                   note="a class-balanced subset; torchvision's EuroSAT has no split: give webdataset shards"),
    "resisc45": Row("RESISC45", 45, 3_150, 25_200, _ACC,
                    note="70 train / 560 test images per class; not in torchvision: give webdataset shards"),
    "gtsrb": Row("GTSRB", 43, 26_640, 12_630, _ACC, "GTSRB", {"split": "train"}, None, {"split": "test"}),
    "country211": Row("Country211", 211, 43_200, 21_100, _ACC, "Country211", {"split": "train"},
                      {"split": "valid"}, {"split": "test"},
                      note="train = train + valid (torchvision holds 42,200 = 211 x 200; the table prints 43,200)"),
}


def row_name(name: str, spec: dict) -> str | None:
    """The Table A2 row a probe is tied to: ``table_a2`` if the spec has the key (None unties it),
    else the probe's own name if that is a row."""
    if "table_a2" in spec:
        return spec["table_a2"]
    return name if name in TABLE_A2 else None


def _split_args(cls_name: str, kwargs: dict | None) -> dict:
    """``kwargs`` completed with the torchvision class's defaults for its split-selecting
    arguments, so that ``{split: train}`` and ``{split: train, partition: 1}`` compare equal."""
    import inspect

    import torchvision.datasets

    cls = getattr(torchvision.datasets, cls_name, None)
    if not isinstance(cls, type):  # not torchvision's: reported where the dataset is read
        return dict(kwargs or {})
    params = inspect.signature(cls.__init__).parameters
    out = {k: p.default for k, p in params.items()
           if k not in _NOT_SPLIT_ARGS and p.default is not inspect.Parameter.empty}
    return {**out, **(kwargs or {})}


def same_split(cls_name: str, a: dict | None, b: dict | None) -> bool:
    """Whether two keyword-argument dicts select the same split of torchvision's ``cls_name``
    (torchvision is imported only when one names an argument the other leaves at its default)."""
    a, b = a or {}, b or {}
    if a == b or a.keys() == b.keys() or any(a[k] != b[k] for k in a.keys() & b.keys()):
        return a == b
    return _split_args(cls_name, a) == _split_args(cls_name, b)


def _kind(spec: dict) -> str:
    return "embedded" if spec.get("embedded") else "torchvision" if spec.get("torchvision") else "shards"


def resolve(name: str, spec: dict) -> dict:
    """A copy of ``spec`` (config ``probes.<name>``) with Table A2's metric and split arguments
    filled in: ``metric`` (the row's, else the config's, else top-1), ``table_a2`` (the row name or
    None) and, for a tied torchvision probe, ``train`` / ``val`` / ``test``. ValueError names the key
    where the config departs from its row, and the fix."""
    key = f"probes.{name}"
    out = copy.deepcopy(spec)
    rn = row_name(name, spec)
    if rn is not None and rn not in TABLE_A2:
        raise ValueError(f"config key '{key}.table_a2': {rn!r} is not a Table A2 dataset; one of "
                         f"{', '.join(TABLE_A2)}, or null for a dataset of your own")
    kind = _kind(spec)
    row = TABLE_A2.get(rn) if rn else None
    out["table_a2"] = rn
    untie = f"; or set '{key}.table_a2: null' to probe it your own way (reported as not Table A2's)"
    if row is None:
        out["metric"] = spec.get("metric") or "top1"
    else:
        if kind == "embedded":
            raise ValueError(f"config key '{key}.table_a2': the embedded digits are not Table A2's {row.title}")
        if spec.get("metric") and spec["metric"] != row.metric:
            raise ValueError(f"config key '{key}.metric': Table A2 scores {row.title} by {row.metric}, not "
                             f"{spec['metric']}; remove the key{untie}")
        out["metric"] = row.metric
    if kind == "torchvision" and row is not None:
        _tie_torchvision(key, spec, row, rn, out, untie)
    if kind == "torchvision":
        if same_split(spec["torchvision"], out.get("train"), out.get("test")):
            raise ValueError(f"config key '{key}.train': the train and test splits are the same ({out.get('test')}); "
                             f"give the keyword arguments that select each split (e.g. {{split: test}})")
    return out


def _tie_torchvision(key: str, spec: dict, row: Row, rn: str, out: dict, untie: str) -> None:
    if row.torchvision is None:
        raise ValueError(f"config key '{key}.torchvision': torchvision.datasets.{spec['torchvision']} does not give "
                         f"Table A2's split of {row.title} ({row.n_train:,} train / {row.n_test:,} test; "
                         f"{row.note}){untie}")
    if spec["torchvision"] != row.torchvision:
        raise ValueError(f"config key '{key}.torchvision': Table A2's {rn} is torchvision's {row.torchvision}, not "
                         f"{spec['torchvision']}{untie}")
    combined = row.trainval is not None and same_split(row.torchvision, spec.get("train"), row.trainval)
    if combined and spec.get("val"):
        raise ValueError(f"config key '{key}.val': train {spec['train']} already holds {row.title}'s val split; "
                         "remove the key")
    for split in SPLITS:
        want = getattr(row, split)
        given = spec.get(split)
        if combined and split != "test":
            out.pop("val", None)
            continue
        if not given:
            if want is not None:
                out[split] = copy.deepcopy(want)
            continue
        if want is None or not same_split(row.torchvision, given, want):
            hint = f"{want}" if want is not None else "none (the sweep holds out part of train)"
            raise ValueError(f"config key '{key}.{split}': {given} is not Table A2's {split} split of {row.title} "
                             f"(torchvision arguments {hint}); remove the key or give those{untie}")


def config_errors(probes: dict) -> list[str]:
    """One message per probe of the config section ``probes`` that departs from Table A2."""
    errs = []
    for name, spec in probes.items():
        try:
            resolve(name, spec)
        except ValueError as e:
            errs.append(str(e))
    return errs


def record(spec: dict) -> dict | None:
    """What a probe's JSON records of its Table A2 row (None for a probe not tied to one)."""
    rn = spec.get("table_a2")
    if not rn:
        return None
    row = TABLE_A2[rn]
    return {"dataset": rn, "title": row.title, "n_classes": row.n_classes, "n_train": row.n_train,
            "n_test": row.n_test, "metric": row.metric, "splits": row.splits(), "note": row.note}
