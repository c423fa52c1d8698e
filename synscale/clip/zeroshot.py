"""The class names and prompt templates of a zero-shot evaluation set, and the zero-shot scores of a
downstream (probe) dataset's test split.

The paper evaluates CLIP zero-shot "with the CLIP paper's prompt templates and class names per
dataset" (B.3). Those ship as data with the ``clip-benchmark`` package (its
``clip_benchmark/datasets/en_classnames.json`` and ``en_zeroshot_classification_templates.json``);
they are read as files, without importing the package (whose evaluation code needs more than this
project installs).

For probe dataset ``probes.<name>`` (config ``clip.zero_shot``):

* its clip-benchmark key: ``benchmark_keys.<name>`` (null: none), else the one of its torchvision
  class (``TORCHVISION_KEYS``), else ``<name>`` where clip-benchmark knows it;
* templates: clip-benchmark's for that key, else ``clip.zero_shot.templates``;
* class names, the first that applies: ``probe_classnames.<name>`` (a list, or a JSON file of
  one, in label order); clip-benchmark's for the key, for a torchvision dataset (whose label order
  is torchvision's, the one clip-benchmark's names follow) or where ``benchmark_keys.<name>`` names
  the key explicitly; the dataset's own names (``probes.<name>.classnames``, or the torchvision
  dataset's ``classes``); else an error naming the dataset and the keys that would give them.

With ``clip.zero_shot.benchmark: false`` clip-benchmark is not read: the dataset's own names and
``clip.zero_shot.templates``. Every evaluation records which source gave its names and templates.
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from typing import Sequence

DISTRIBUTION = "clip-benchmark"
CLASSNAMES_FILE = "clip_benchmark/datasets/en_classnames.json"
TEMPLATES_FILE = "clip_benchmark/datasets/en_zeroshot_classification_templates.json"
INSTALL_HINT = ("install it without its dependencies (only its data files are read): "
                ".venv/bin/python -m pip install --no-deps clip-benchmark==1.6.2")

# torchvision.datasets class -> clip-benchmark key, where clip-benchmark builds that dataset from the
# same torchvision class (so its class names follow torchvision's label order)
TORCHVISION_KEYS = {
    "Food101": "food101", "CIFAR10": "cifar10", "CIFAR100": "cifar100", "SUN397": "sun397",
    "StanfordCars": "cars", "FGVCAircraft": "fgvc_aircraft", "DTD": "dtd", "OxfordIIITPet": "pets",
    "Flowers102": "flowers", "STL10": "stl10", "EuroSAT": "eurosat", "GTSRB": "gtsrb",
    "Country211": "country211", "MNIST": "mnist", "SVHN": "svhn", "PCAM": "pcam", "FER2013": "fer2013",
    "RenderedSST2": "renderedsst2",
}


@dataclass(frozen=True)
class Benchmark:
    """clip-benchmark's English class names and zero-shot templates (templates with ``{}``)."""
    version: str
    classnames: dict
    templates: dict

    def source(self, what: str, key: str) -> str:
        f = CLASSNAMES_FILE if what == "classnames" else TEMPLATES_FILE
        return f"{DISTRIBUTION} {self.version}: {f.rsplit('/', 1)[1]}[{key}]"


@functools.cache
def benchmark() -> Benchmark:
    """clip-benchmark's data files (read once per process)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        raise ModuleNotFoundError(f"the {DISTRIBUTION} package is not installed: it holds the per-dataset class "
                                  f"names and templates of the zero-shot evaluation (clip.zero_shot.benchmark); "
                                  f"{INSTALL_HINT}") from None
    tables = []
    for rel in (CLASSNAMES_FILE, TEMPLATES_FILE):
        path = dist.locate_file(rel)
        try:
            tables.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise FileNotFoundError(f"{path}: {DISTRIBUTION} {dist.version} does not ship {rel} ({e}); "
                                    f"{INSTALL_HINT}") from None
    templates = {k: [_placeholder(t, k) for t in v] for k, v in tables[1].items()}
    return Benchmark(dist.version, tables[0], templates)


def _placeholder(template: str, key: str) -> str:
    """clip-benchmark writes the class name as ``{c}``; the zero-shot classifier fills ``{}``."""
    out = template.replace("{c}", "{}")
    try:
        out.format("x")
    except (IndexError, KeyError, ValueError):
        raise ValueError(f"{DISTRIBUTION} template {template!r} of {key!r}: not a template with one "
                         "'{c}'") from None
    return out


@dataclass(frozen=True)
class Prompts:
    """What a zero-shot classifier of one dataset is built from, and where it came from."""
    classnames: tuple[str, ...]
    templates: tuple[str, ...]
    classnames_source: str
    templates_source: str
    benchmark_key: str | None = None

    def record(self) -> dict:
        """For the evaluation JSON: the sources, the key and the counts (not the lists)."""
        d = asdict(self)
        return {"classnames_source": d["classnames_source"], "templates_source": d["templates_source"],
                "benchmark_key": d["benchmark_key"], "classes": len(self.classnames),
                "templates": len(self.templates)}


def benchmark_key(name: str, spec: dict, zs: dict) -> str | None:
    """The clip-benchmark key of probe ``name`` (see the module docstring)."""
    keys = zs.get("benchmark_keys") or {}
    if name in keys:
        return keys[name]
    if spec.get("torchvision") in TORCHVISION_KEYS:
        return TORCHVISION_KEYS[spec["torchvision"]]
    if not zs.get("benchmark", True):
        return None
    b = benchmark()
    return name if name in b.classnames or name in b.templates else None


def _listed(value, key: str) -> list[str]:
    """A list of class names given inline or as a JSON file of one (``{names: [...]}`` too)."""
    if isinstance(value, str):
        from synscale.io import read_json

        try:
            value = read_json(value)
        except (OSError, ValueError) as e:
            raise ValueError(f"config key '{key}' = {value!r}: not a readable JSON list of class names ({e})") from None
        if isinstance(value, dict):
            value = value.get("names")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"config key '{key}': give the class names in label order, as a list of strings or a "
                         "JSON file of one")
    return list(value)


def downstream_prompts(name: str, spec: dict, zs: dict, own: Sequence[str] | None = None,
                       own_source: str | None = None, default_templates: Sequence[str] = (),
                       default_templates_source: str = "clip.zero_shot.templates") -> Prompts:
    """The class names and templates of probe dataset ``name`` (``spec``: ``probes.<name>``);
    ``own``: the dataset's own names in label order, where it has them (``own_source`` says
    where from); ``default_templates``: ``clip.zero_shot.templates``, resolved."""
    use_benchmark = zs.get("benchmark", True)
    key = benchmark_key(name, spec, zs) if use_benchmark else None
    b = benchmark() if key else None
    if b and key not in b.classnames and key not in b.templates:
        known = ", ".join(sorted(set(b.classnames) | set(b.templates)))
        raise ValueError(f"config key 'clip.zero_shot.benchmark_keys.{name}' = {key!r}: not a dataset of "
                         f"{DISTRIBUTION} {b.version} (known: {known})")
    if b and key in b.templates:
        temps, temps_src = b.templates[key], b.source("templates", key)
    else:
        temps, temps_src = list(default_templates), default_templates_source
    override = (zs.get("probe_classnames") or {}).get(name)
    if override is not None:
        ckey = f"clip.zero_shot.probe_classnames.{name}"
        names, src = _listed(override, ckey), f"config: {ckey}"
    elif b and key in b.classnames and (spec.get("torchvision") or name in (zs.get("benchmark_keys") or {})):
        names, src = list(b.classnames[key]), b.source("classnames", key)
        if own and len(own) != len(names):
            raise ValueError(
                f"probe dataset {name!r}: {len(own)} classes ({own_source}), but {b.source('classnames', key)} "
                f"lists {len(names)}; the dataset is not the one clip-benchmark's {key!r} describes. Give its names "
                f"in label order under config key 'clip.zero_shot.probe_classnames.{name}', or set "
                f"'clip.zero_shot.benchmark_keys.{name}: null' to use the dataset's own names")
    elif own:
        names, src = [str(n).replace("_", " ") for n in own], own_source or "the dataset's own class names"
    else:
        raise ValueError(
            f"probe dataset {name!r} ({spec.get('torchvision') or 'webdataset shards'}) has no class names: "
            f"no 'classes' attribute, no 'probes.{name}.classnames' file, and clip-benchmark has none "
            f"{'for key ' + repr(key) if key else '(no key: clip.zero_shot.benchmark_keys.' + name + ')'}. Give them "
            f"in label order under config key 'clip.zero_shot.probe_classnames.{name}' (a list, or a JSON "
            f"file of one), or map the dataset to clip-benchmark's key with "
            f"'clip.zero_shot.benchmark_keys.{name}'")
    if not temps:
        raise ValueError(f"probe dataset {name!r}: no templates (clip.zero_shot.templates)")
    return Prompts(tuple(names), tuple(temps), src, temps_src, key)


def check_labels(labels, prompts: Prompts, name: str) -> None:
    """Every label of the test split names one of the classes."""
    top = int(labels.max()) if len(labels) else -1
    if top >= len(prompts.classnames) or (len(labels) and int(labels.min()) < 0):
        raise ValueError(f"probe dataset {name!r}: labels up to {top}, but {len(prompts.classnames)} class names "
                         f"({prompts.classnames_source}); give its names in label order under config key "
                         f"'clip.zero_shot.probe_classnames.{name}'")


def own_classnames(dataset) -> list[str] | None:
    """A torchvision dataset's class names in label order, where it has them (``classes``, or
    Caltech101's ``categories``)."""
    for attr in ("classes", "categories"):
        names = getattr(dataset, attr, None)
        if names:
            return [str(n) for n in names]
    return None


def probe_test_set(name: str, spec: dict, tf, shard_paths: Sequence[str] | None, batch: int, workers: int,
                   pin_memory: bool = False):
    """(loader of the test split, the dataset's own class names or None, where they came from) of
    probe dataset ``name``; webdataset shards' names come from ``probes.<name>.classnames``."""
    from torch.utils.data import DataLoader

    from synscale.data.loader import ShardPart, make_loader
    from synscale.measure.probes import pil_transform, probe_kind, torchvision_split

    key = f"probes.{name}"
    if probe_kind(spec) == "shards":
        own = _listed(spec["classnames"], f"{key}.classnames") if spec.get("classnames") else None
        loader = make_loader([ShardPart(str(p)) for p in shard_paths], batch, None, 3, tf,
                             workers=min(workers, len(shard_paths)), pin_memory=pin_memory)
        return loader, own, f"{key}.classnames ({spec.get('classnames')})"
    ds = torchvision_split(spec, "test", pil_transform(tf, 3), key)
    return (DataLoader(ds, batch_size=batch, num_workers=workers, pin_memory=pin_memory), own_classnames(ds),
            f"torchvision {spec['torchvision']}.classes")


def evaluate_downstream(model, tokenizer, name: str, spec: dict, zs: dict, loader, own, own_source: str,
                        default_templates: Sequence[str], tau: float, device="cpu", amp_dtype=None) -> dict:
    """Zero-shot top-1, mean per-class accuracy and loss of probe ``name`` on ``loader``'s test
    split, with the sources of its class names and templates."""
    import numpy as np
    import torch

    from synscale.clip.model import class_weights, image_features, zero_shot_scores

    prompts = downstream_prompts(name, spec, zs, own, own_source, default_templates)
    feats, labels = image_features(model, loader, amp_dtype or torch.float32)
    check_labels(labels, prompts, name)
    w = class_weights(model, tokenizer, prompts.classnames, prompts.templates, device).cpu()
    res = zero_shot_scores(feats, w, tau, labels)
    out = {k: v for k, v in res.items() if not k.startswith("per_class")}
    out["mean_per_class"] = float(np.mean(list(res["per_class_top1"].values())))
    out.update(prompts.record())
    return out
