"""Configuration: loading, validation (JSON schema draft 2020-12 plus semantic checks) and the
naming, shard and schedule arithmetic every rule shares.

A *run* of the study is a (model, guidance, prompt set) tuple named ``{model}_cfg{guidance}_{prompt}``
(e.g. ``sd_cfg2_incap``: the paper's names, where CFG is the classifier-free guidance scale); the
real-data baseline is the run ``real``. ``cfg`` and ``config`` in code always mean the configuration.

Validation fills every default declared in ``config/schema.yaml`` once, so code reads keys directly
and never carries fallbacks of its own.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

PROMPT_SETS = (
    "classname", "classname_desc", "classname_hyper", "classname_desc_places",
    "classname_hyper_places", "word2sen", "clip7", "clip80", "incap",
)
# prompt sets each data source can build without a model path (word2sen needs prompts.word2sen.path
# everywhere; incap on real data needs prompts.captioner.path)
SUPPORTED_PROMPTS = {
    "embedded_mnist": tuple(p for p in PROMPT_SETS if p != "word2sen"),
    "webdataset": tuple(p for p in PROMPT_SETS if p not in ("word2sen", "incap")),
}
# model families with a loader (synscale/t2i.py); the schema's enum lists the same
FAMILIES = ("latent_diffusion", "pixel_cascade", "masked_token")
# families whose tiny analog the workflow can train (path: null on the embedded default)
TRAINABLE_FAMILIES = ("latent_diffusion", "pixel_cascade", "masked_token")
REAL = "real"
NAME_RE = re.compile(
    r"^(?P<model>[a-z][a-z0-9]*)_cfg(?P<guidance>[0-9]+(?:\.[0-9]+)?)_(?P<prompt>[a-z][a-z0-9_]*)"
    r"(?:-(?P<tag>[a-z][a-z0-9]*))?$")
# a run: real data or a generator config, with an optional '-<tag>' naming its own classifier
WILDCARD_RE = r"(?:real|[a-z][a-z0-9]*_cfg[0-9]+(?:\.[0-9]+)?_[a-z][a-z0-9_]*)(?:-[a-z][a-z0-9]*)?"
# out-of-distribution class subsets timm ships (label indices into ImageNet-1k)
TIMM_SUBSETS = {"timm:imagenet_a": "imagenet_a_indices.txt", "timm:imagenet_r": "imagenet_r_indices.txt"}

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"


class ConfigError(ValueError):
    """A configuration problem, with the offending key in the message."""


def fmt_guidance(guidance: float) -> str:
    return f"{float(guidance):g}"


def run_name(model: str, guidance: float | None = None, prompt: str | None = None, tag: str | None = None) -> str:
    base = REAL if model == REAL else f"{model}_cfg{fmt_guidance(guidance)}_{prompt}"
    return f"{base}-{tag}" if tag else base


def data_name(name: str) -> str:
    """The images a run trains on: its name without the classifier tag (runs that differ only in
    their classifier share their shards)."""
    return name.split("-", 1)[0]


@dataclass(frozen=True)
class Run:
    name: str
    model: str
    guidance: float | None
    prompt: str | None
    scales: tuple[int, ...]
    fit_range: tuple[int, int] | None
    classifier: dict | None = None  # runs[].classifier: this run's own classifier
    default_target: bool = True
    seed_of: str | None = None      # a seed variant: the run whose fit it enters
    seed_runs: tuple[str, ...] = ()  # a run's seed variants (runs[].seeds beyond the first)

    @property
    def is_real(self) -> bool:
        return self.model == REAL

    @property
    def data(self) -> str:
        return data_name(self.name)


def parse_name(name: str) -> tuple[str, float | None, str | None]:
    """(model, guidance, prompt) of a run name (a classifier tag is dropped)."""
    name = data_name(name)
    if name == REAL:
        return REAL, None, None
    m = NAME_RE.match(name)
    if not m:
        raise ConfigError(f"{name!r} is not a run name of the form <model>_cfg<guidance>_<prompt> or 'real'")
    return m["model"], float(m["guidance"]), m["prompt"]


# --------------------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key repeated in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (first on line {seen[key] + 1}); "
                    "keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path) as fh:
            data = yaml.load(fh, Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def load_schema() -> dict:
    return load_yaml(SCHEMA_PATH)


def _key(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Re-read the config files Snakemake loaded, refusing what its YAML reader lets through
    (a repeated key silently wins there)."""
    for p in paths:
        load_yaml(p)


def _defaults_filling_validator():
    """Draft 2020-12 validator that fills each property's ``default`` before validating it.

    jsonschema validates but never fills defaults; this is its documented extension pattern
    (wrap the ``properties`` keyword). Kept here rather than snakemake.utils.validate so the
    package validates the same way inside and outside Snakemake and reports every error with
    its key.
    """
    from jsonschema import Draft202012Validator, validators

    props = Draft202012Validator.VALIDATORS["properties"]

    def properties(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from props(validator, properties, instance, schema)

    # 1.0 is not an integer here (JSON Schema would accept it): seeds and scales are exact, and
    # seed 1.0 would derive other seeds than seed 1; a boolean is not a number
    types = Draft202012Validator.TYPE_CHECKER.redefine_many({
        "integer": lambda _, x: isinstance(x, int) and not isinstance(x, bool),
        "number": lambda _, x: isinstance(x, (int, float)) and not isinstance(x, bool),
    })
    return validators.extend(Draft202012Validator, {"properties": properties}, type_checker=types)


def _schema_message(e) -> str:
    key = _key(e.absolute_path)
    return f"config key '{key}': {e.message}"


def schema_errors(cfg: dict) -> list[str]:
    """Schema errors, one message per key; fills the schema's defaults into ``cfg`` in place."""
    v = _defaults_filling_validator()(load_schema())
    return [_schema_message(e) for e in sorted(v.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))]


_PROMPT_MODEL_HINT = {
    "word2sen": "a local sequence-to-sequence model: set prompts.word2sen.path to the save_pretrained directory "
                "of a T5 fine-tuned for concept-to-sentence (e.g. t5-base-finetuned-common_gen)",
    "incap": "a local captioner: set prompts.captioner.path to a BLIP-2 save_pretrained directory",
}


def _prompt_model(cfg: dict, prompt: str) -> str | None:
    """The local model path a prompt set needs, when configured."""
    section = {"word2sen": "word2sen", "incap": "captioner"}.get(prompt)
    return cfg["prompts"][section]["path"] if section else None


def _range_errors(key: str, bounds, what: str) -> list[str]:
    lo, hi = bounds
    if lo > hi:
        return [f"config key '{key}': the range [{lo:g}, {hi:g}] is reversed; write it as [{hi:g}, {lo:g}]"]
    if lo == hi and what == "fit":
        return [f"config key '{key}': lower bound {lo} must be below upper bound {hi}"]
    return []


def _run_errors(cfg: dict, i: int, run: dict, names: set) -> list[str]:
    errs: list[str] = []
    key = f"runs[{i}]"
    models = cfg["models"]
    source = cfg["data"]["source"]
    supported = SUPPORTED_PROMPTS[source]
    model = run["model"]
    if model != REAL:
        if model not in models:
            errs.append(f"config key '{key}.model': unknown model {model!r}; "
                        f"define it under 'models' (known: {sorted(models)}) or use 'real'")
        elif "guidance" not in run:
            errs.append(f"config key '{key}.guidance': required for model {model!r}")
        else:
            lo, hi = models[model]["guidance_range"]
            if lo <= hi and not lo <= run["guidance"] <= hi:
                errs.append(f"config key '{key}.guidance': guidance {run['guidance']:g} is outside the range "
                            f"[{lo:g}, {hi:g}] of model {model!r} (models.{model}.guidance_range)")
        prompt = run.get("prompt")
        if prompt is None:
            errs.append(f"config key '{key}.prompt': required for model {model!r}")
        elif prompt not in PROMPT_SETS:
            errs.append(f"config key '{key}.prompt': unknown prompt set {prompt!r}; known: {', '.join(PROMPT_SETS)}")
        elif prompt not in supported and not _prompt_model(cfg, prompt):
            errs.append(f"config key '{key}.prompt': prompt set {prompt!r} is not available for "
                        f"data.source={source!r} without {_PROMPT_MODEL_HINT[prompt]} "
                        f"(available without one: {', '.join(supported)})")
    else:
        for k in ("guidance", "prompt"):
            if k in run:
                errs.append(f"config key '{key}.{k}': the real-data run has no {k}; remove it")
    scales = run["scales"]
    if list(scales) != sorted(scales):
        errs.append(f"config key '{key}.scales': scales must be sorted ascending, got {scales}")
    if len(set(scales)) != len(scales):
        dup = sorted({s for s in scales if scales.count(s) > 1})
        errs.append(f"config key '{key}.scales': duplicate scales {dup}")
    if model == REAL and source == "embedded_mnist" and "train_size" in cfg["data"]:
        n_train = cfg["data"]["train_size"]
        big = [s for s in scales if s > n_train]
        if big:
            errs.append(f"config key '{key}.scales': real-data scales {big} exceed the train split "
                        f"(data.train_size={n_train})")
    if "fit_range" in run:
        errs += _range_errors(f"{key}.fit_range", run["fit_range"], "fit")
    if model != REAL and ("guidance" not in run or "prompt" not in run):
        return errs
    name = run_name(model, run.get("guidance"), run.get("prompt"), (run.get("classifier") or {}).get("tag"))
    if name in names:
        errs.append(f"config key '{key}': run {name!r} is listed twice in 'runs'")
    names.add(name)
    return errs


def _recipe_errors(cfg: dict) -> list[str]:
    """The global batch must split evenly over each training job's processes and accumulation."""
    from .recipe import build

    errs = []
    sections = [("classifier", cfg["classifier"])]
    sections += [(f"runs[{i}].classifier", run_classifier(cfg["classifier"], r["classifier"]))
                 for i, r in enumerate(cfg["runs"]) if r.get("classifier")]
    for key, cc in sections:
        try:
            build(cc, iters=1, warmup=0)
        except ValueError as e:
            errs.append(f"config key '{key}': {e}")
    return errs


def _probe_errors(cfg: dict) -> list[str]:
    errs = []
    embedded = cfg["data"]["source"] == "embedded_mnist"
    for name, spec in cfg["probes"].items():
        key = f"probes.{name}"
        groups = (("torchvision", ("torchvision", "root")), ("shards", ("train_shards", "test_shards")),
                  ("embedded", ("embedded",)))
        kinds = [k for k, keys in groups if any(spec.get(x) for x in keys)]
        if len(kinds) != 1:
            errs.append(f"config key '{key}': give exactly one of torchvision + root, train_shards + test_shards, "
                        f"or embedded (got {kinds or 'none'})")
        elif kinds == ["torchvision"] and not (spec.get("torchvision") and spec.get("root")):
            errs.append(f"config key '{key}': a torchvision probe needs both 'torchvision' and 'root'")
        elif kinds == ["shards"] and not (spec.get("train_shards") and spec.get("test_shards")):
            errs.append(f"config key '{key}': a webdataset probe needs both 'train_shards' and 'test_shards'")
        elif kinds == ["embedded"] and not embedded:
            errs.append(f"config key '{key}.embedded': only for data.source 'embedded_mnist'")
    return errs


def _grid_errors(cfg: dict) -> list[str]:
    grid = cfg["grid"]
    if grid is None:
        return []
    errs = []
    models = cfg["models"]
    supported = SUPPORTED_PROMPTS[cfg["data"]["source"]]
    for p in grid["prompts"]:
        if p not in PROMPT_SETS:
            errs.append(f"config key 'grid.prompts': unknown prompt set {p!r}; known: {', '.join(PROMPT_SETS)}")
        elif p not in supported and not _prompt_model(cfg, p):
            errs.append(f"config key 'grid.prompts': prompt set {p!r} is not available for data.source="
                        f"{cfg['data']['source']!r} without {_PROMPT_MODEL_HINT[p]}")
    if len(set(grid["prompts"])) != len(grid["prompts"]):
        errs.append("config key 'grid.prompts': a prompt set is listed twice")
    if bool(grid["guidance"]) != bool(grid["prompts"]):
        errs.append("config key 'grid': give both 'guidance' (model -> values) and 'prompts' for a sweep, or neither")
    if not grid["guidance"] and not grid["include_runs"]:
        errs.append("config key 'grid': empty; give 'guidance' and 'prompts', or 'include_runs: true', "
                    "or set grid: null")
    for model, values in grid["guidance"].items():
        key = f"grid.guidance.{model}"
        if model not in models:
            errs.append(f"config key '{key}': unknown model {model!r}; define it under 'models' "
                        f"(known: {sorted(models)})")
            continue
        lo, hi = models[model]["guidance_range"]
        bad = [v for v in values if not lo <= v <= hi]
        if bad and lo <= hi:
            errs.append(f"config key '{key}': guidance {', '.join(f'{v:g}' for v in bad)} outside the range "
                        f"[{lo:g}, {hi:g}] of model {model!r} (models.{model}.guidance_range)")
        if len({fmt_guidance(v) for v in values}) != len(values):
            errs.append(f"config key '{key}': a guidance value is listed twice")
    return errs


def semantic_errors(cfg: dict) -> list[str]:
    """Checks a schema cannot express (``cfg`` has its defaults filled)."""
    errs: list[str] = _recipe_errors(cfg)
    models = cfg["models"]
    source = cfg["data"]["source"]
    for name, m in models.items():
        errs += _range_errors(f"models.{name}.guidance_range", m["guidance_range"], "guidance")
        if m["family"] == "pixel_cascade" and m["path"] and not m["sr_path"]:
            errs.append(f"config key 'models.{name}.sr_path': required for family pixel_cascade (the local "
                        "IFSuperResolutionPipeline directory of stage II)")
        if m["family"] != "pixel_cascade" and m["sr_path"]:
            errs.append(f"config key 'models.{name}.sr_path': only for family pixel_cascade; remove it")
    names: set = set()
    for i, run in enumerate(cfg["runs"]):
        errs += _run_errors(cfg, i, run, names)
    if cfg["fit"]["range"] is not None:
        errs += _range_errors("fit.range", cfg["fit"]["range"], "fit")
    errs += _grid_errors(cfg)
    errs += _probe_errors(cfg)
    errs += _clip_errors(cfg)
    data = cfg["data"]
    if source == "embedded_mnist":
        missing = [k for k in ("train_size", "val_size") if k not in data]
        if missing:
            return errs + [f"config key 'data.{k}': required when data.source is 'embedded_mnist' "
                           "(e.g. 4000 and 1000 of the 5,000 digits)" for k in missing]
        if data["train_size"] + data["val_size"] > 5000:
            errs.append("config key 'data.train_size': train_size + val_size must be at most 5000 "
                        "(the embedded MNIST digits)")
        if data["val_size"] % 10 or data["train_size"] % 10:
            errs.append("config key 'data.val_size': train_size and val_size must be multiples of 10 classes")
        for k in ("train_shards", "val_shards", "class_index"):
            if k in data:
                errs.append(f"config key 'data.{k}': only for data.source 'webdataset'; "
                            "the embedded default makes its own shards")
        if data["ood"]:
            errs.append("config key 'data.ood': only for data.source 'webdataset'; the embedded default's "
                        "out-of-distribution set is scikit-learn's digits")
        for name, m in models.items():
            if m["path"] is None and "train" not in m:
                errs.append(f"config key 'models.{name}': give a local weights 'path' or a 'train' "
                            "section for the workflow to train a tiny model")
            elif m["path"] is None and m["family"] not in TRAINABLE_FAMILIES:
                errs.append(f"config key 'models.{name}.path': the workflow trains tiny models of family "
                            f"{', '.join(TRAINABLE_FAMILIES)} only; give family {m['family']!r} local weights")
    else:
        for k in ("train_shards", "val_shards", "class_index"):
            if k not in data:
                errs.append(f"config key 'data.{k}': required when data.source is 'webdataset'")
        for k in ("train_size", "val_size"):
            if k in data:
                errs.append(f"config key 'data.{k}': only for data.source 'embedded_mnist' (the webdataset "
                            "splits are whatever data.train_shards and data.val_shards hold); remove it")
        for name, m in models.items():
            if m["path"] is None:
                errs.append(f"config key 'models.{name}.path': required when data.source is 'webdataset' "
                            "(local directory of the model's diffusers weights)")
            if "train" in m:
                errs.append(f"config key 'models.{name}.train': the workflow trains tiny models only for "
                            "data.source 'embedded_mnist'; remove it")
        if cfg["reference_classifier"]["path"] is None:
            errs.append("config key 'reference_classifier.path': required when data.source is 'webdataset' "
                        "(a local timm state dict of the pretrained reference classifier)")
        for name, o in data["ood"].items():
            sub = o["class_subset"]
            if isinstance(sub, str) and sub.startswith("timm:") and sub not in TIMM_SUBSETS:
                errs.append(f"config key 'data.ood.{name}.class_subset': unknown {sub!r}; "
                            f"known: {', '.join(TIMM_SUBSETS)} (or a list of label indices, or a file of them)")
    return errs


def _clip_errors(cfg: dict) -> list[str]:
    clip = cfg.get("clip")
    if not clip:
        return []
    errs = []
    embedded = cfg["data"]["source"] == "embedded_mnist"
    for name, ds in clip["datasets"].items():
        key = f"clip.datasets.{name}"
        if name in PROMPT_SETS:
            errs.append(f"config key '{key}': {name!r} is a prompt set's name; name the dataset otherwise")
        if bool(ds.get("shards")) == bool(ds.get("embedded")):
            errs.append(f"config key '{key}': give either 'shards' (a brace pattern of local image-text shards) "
                        "or 'embedded: digits'")
        elif ds.get("embedded") and not embedded:
            errs.append(f"config key '{key}.embedded': only for data.source 'embedded_mnist'")
    if sum(1 for ds in clip["datasets"].values() if ds.get("embedded")) > 1:
        errs.append("config key 'clip.datasets': one embedded caption dataset at most (the train digits)")
    sections = [("clip.study", clip["study"], [clip["study"]["guidance"]])]
    if clip["cfg_sweep"]:
        sections.append(("clip.cfg_sweep", clip["cfg_sweep"], clip["cfg_sweep"]["guidance"]))
    for key, sec, guidances in sections:
        if sec["dataset"] not in clip["datasets"]:
            errs.append(f"config key '{key}.dataset': unknown dataset {sec['dataset']!r}; define it under "
                        f"clip.datasets (known: {sorted(clip['datasets'])})")
        m = cfg["models"].get(sec["model"])
        if m is None:
            errs.append(f"config key '{key}.model': unknown model {sec['model']!r}; define it under 'models' "
                        f"(known: {sorted(cfg['models'])})")
            continue
        lo, hi = m["guidance_range"]
        bad = [g for g in guidances if not lo <= g <= hi]
        if bad:
            errs.append(f"config key '{key}.guidance': {', '.join(f'{g:g}' for g in bad)} outside the range "
                        f"[{lo:g}, {hi:g}] of model {sec['model']!r} (models.{sec['model']}.guidance_range)")
    mc = clip["model"]["config"]
    if mc is not None and not all(k in mc for k in ("embed_dim", "vision_cfg", "text_cfg")):
        errs.append("config key 'clip.model.config': an open_clip model config needs embed_dim, vision_cfg "
                    "and text_cfg")
    world = clip["train"]["nodes"] * clip["train"]["gpus"]
    for i, r in enumerate(clip["train"]["recipes"]):
        if r["batch_size"] % world:
            errs.append(f"config key 'clip.train.recipes[{i}].batch_size': {r['batch_size']} does not split over "
                        f"clip.train.nodes x gpus = {world} processes")
        elif r["batch_size"] // world > clip["train"]["max_device_batch"]:
            errs.append(f"config key 'clip.train.recipes[{i}].batch_size': {r['batch_size'] // world} images per "
                        f"process, more than clip.train.max_device_batch = {clip['train']['max_device_batch']}; "
                        "use more GPUs (clip.train.nodes / gpus)")
    if clip["zero_shot"]["probes"]:
        for name, spec in cfg["probes"].items():
            if spec.get("train_shards") and not spec.get("classnames"):
                errs.append(f"config key 'probes.{name}.classnames': CLIP's zero-shot evaluation needs the class "
                            "names of a webdataset probe (a JSON list in label order), or set "
                            "clip.zero_shot.probes: false")
    return errs


def _fit_errors(cfg: dict) -> list[str]:
    """Every run that is fitted has at least fit.min_points scales inside its fit range."""
    errs = []
    need = cfg["fit"]["min_points"]
    for i, r in enumerate(cfg["runs"]):
        if len(r["scales"]) < 2:
            continue  # evaluated, not fitted
        fr = r.get("fit_range") or cfg["fit"]["range"]
        inside = [s for s in r["scales"] if fr is None or fr[0] <= s <= fr[1]]
        if len(inside) < need:
            where = f"runs[{i}].fit_range" if r.get("fit_range") else "fit.range"
            errs.append(f"config key '{where}': run {i} ({r['model']}) has {len(inside)} of its scales "
                        f"{r['scales']} inside the fit range {list(fr) if fr else 'all'}, but fit.min_points is "
                        f"{need}; widen the range, add scales or lower fit.min_points")
    clip = cfg.get("clip")
    if clip and 1 < len(clip["study"]["scales"]) < need:
        errs.append(f"config key 'clip.study.scales': {len(clip['study']['scales'])} scales, fewer than "
                    f"fit.min_points = {need}")
    return errs


def _cascade_size_errors(name: str, tc: dict, size: int) -> list[str]:
    """A trained cascade: stage I's base size below and dividing the image size, and each stage's
    UNet down-sampling dividing its resolution."""
    key = f"models.{name}.train"
    base = tc["base_size"]
    if size <= base or size % base:
        return [f"config key '{key}.base_size': {base} px must divide data.image_size ({size} px) and be "
                "smaller (stage II up-samples by an integer factor)"]
    errs = []
    for stage, res in (("stage_1", base), ("stage_2", size)):
        factor = 2 ** (len(tc["arch"][stage]["channels"]) - 1)
        if res % factor:
            errs.append(f"config key '{key}.arch.{stage}.channels': {len(tc['arch'][stage]['channels'])} "
                        f"resolutions down-sample by {factor}, which does not divide {res} px")
    return errs


def _image_size_errors(cfg: dict) -> list[str]:
    """The embedded T2I models' down-sampling must divide the image size."""
    errs = []
    size = cfg["data"]["image_size"]
    for name, m in cfg["models"].items():
        if "train" not in m:
            continue
        arch = m["train"]["arch"]
        if m["family"] == "masked_token":
            factor = 2 ** (len(arch["vq_channels"]) - 1) * (2 if arch["downsample"] else 1)
            if size % factor:
                errs.append(f"config key 'data.image_size': {size} px does not fit models.{name}.train.arch: its VQ "
                            f"tokenizer{' and transformer' if arch['downsample'] else ''} down-sample by {factor}, "
                            f"so the size must be a multiple of {factor}")
            continue
        if m["family"] == "pixel_cascade":
            errs += _cascade_size_errors(name, m["train"], size)
            continue
        vae_factor = 2 ** (len(arch["vae_channels"]) - 1)
        unet_factor = 2 ** (len(arch["unet_channels"]) - 1)
        if size % (vae_factor * unet_factor):
            errs.append(f"config key 'data.image_size': {size} px does not fit models.{name}.train.arch: its VAE "
                        f"down-samples by {vae_factor} and its UNet by {unet_factor}, so the size must be a "
                        f"multiple of {vae_factor * unet_factor}")
    return errs


_MODEL_CHECKS: dict = {}


def _timm_error(key: str, arch: str, kwargs: dict, channels: int, size: int) -> str | None:
    """Build the timm model on the meta device (no memory, no weights) and push one image of the
    configured size through it: a wrong arch name, a typo in kwargs or an image size the model
    does not take is found before any job runs."""
    from importlib.metadata import version

    sig = (arch, json.dumps(kwargs, sort_keys=True), channels, size)
    if sig in _MODEL_CHECKS:
        return _MODEL_CHECKS[sig] and _MODEL_CHECKS[sig].replace("@KEY@", key)
    disk_key = json.dumps([*sig, version("timm"), version("torch")])
    if disk_key in _passed_model_checks():  # built and run before with these versions: it still fits
        _MODEL_CHECKS[sig] = None
        return None
    import timm
    import torch

    msg = None
    try:
        with torch.device("meta"):
            model = timm.create_model(arch, pretrained=False, num_classes=2, in_chans=channels, **kwargs)
            try:
                model.eval()(torch.empty(1, channels, size, size))
            except Exception as e:  # the forward pass raises what the model raises
                msg = (f"config keys '@KEY@.input_size' and '@KEY@.kwargs': a {size}x{size} image does not fit "
                       f"{arch} with kwargs {kwargs} ({e}); set @KEY@.kwargs.img_size to @KEY@.input_size or "
                       "pick another model")
    except RuntimeError as e:
        if "Unknown model" in str(e):
            msg = f"config key '@KEY@.arch': timm has no model {arch!r}; see timm.list_models()"
        else:
            msg = f"config key '@KEY@.kwargs': timm cannot build {arch} with {kwargs}: {e}"
    except TypeError as e:
        msg = f"config key '@KEY@.kwargs': {arch} does not take these keyword arguments ({e})"
    _MODEL_CHECKS[sig] = msg
    if msg is None:
        _remember_model_check(disk_key)
    return msg and msg.replace("@KEY@", key)


def _model_check_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "synscale" / "model-checks.json"


def _passed_model_checks() -> set:
    """Model checks that passed before (arch, kwargs, channels, size, timm and torch versions):
    building ViT-B/L on the meta device takes seconds, and a dry run of the grid repeats it."""
    try:
        return set(json.loads(_model_check_cache().read_text()))
    except (OSError, ValueError):
        return set()


def _remember_model_check(disk_key: str) -> None:
    from .io import atomic_path

    path = _model_check_cache()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(_passed_model_checks() | {disk_key})
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(keys))
    except OSError:  # a read-only home: checks just run every time
        pass


def model_errors(cfg: dict) -> list[str]:
    errs = _image_size_errors(cfg)
    d = cfg["data"]
    checks = [(key, cfg[key]) for key in ("classifier", "reference_classifier")]
    checks += [(f"runs[{i}].classifier", run_classifier(cfg["classifier"], r["classifier"]))
               for i, r in enumerate(cfg["runs"]) if r.get("classifier")]
    for key, m in checks:
        from .recipe import model_kwargs

        kw = model_kwargs(m["arch"], m) if key != "reference_classifier" else m["kwargs"]
        err = _timm_error(key, m["arch"], kw, d["channels"], m["input_size"])
        if err:
            errs.append(err)
    return errs


def validate(cfg: dict) -> dict:
    """Validate and return a deep copy with every schema default filled in; raise ConfigError
    listing every problem."""
    cfg = copy.deepcopy(cfg)
    errs = schema_errors(cfg)
    if not errs:
        errs = semantic_errors(cfg)
    if not errs:
        errs = _fit_errors(cfg) + model_errors(cfg)
    if errs:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errs))
    return cfg


def external_paths(cfg: dict) -> list[tuple[str, str]]:
    """(config key, path) of every local file or directory the configuration's runs need;
    brace patterns are expanded."""
    from braceexpand import braceexpand

    out: list[tuple[str, str]] = []
    d = cfg["data"]
    if d["source"] == "webdataset":
        for k in ("train_shards", "val_shards"):
            out += [(f"data.{k}", p) for p in braceexpand(d[k])]
        out.append(("data.class_index", d["class_index"]))
        for name, o in d["ood"].items():
            out += [(f"data.ood.{name}.shards", p) for p in braceexpand(o["shards"])]
            sub = o["class_subset"]
            if isinstance(sub, str) and sub not in TIMM_SUBSETS:
                out.append((f"data.ood.{name}.class_subset", sub))
    used = [*runs(cfg).values(), *grid_runs(cfg).values()]
    for name in sorted({r.model for r in [*used, *clip_twin_runs(cfg).values()] if not r.is_real}):
        for k in ("path", "sr_path"):
            if cfg["models"][name][k]:
                out.append((f"models.{name}.{k}", cfg["models"][name][k]))
    if cfg["reference_classifier"]["path"]:
        out.append(("reference_classifier.path", cfg["reference_classifier"]["path"]))
    for name, spec in cfg["probes"].items():
        if spec.get("root"):
            out.append((f"probes.{name}.root", spec["root"]))
        for k in ("train_shards", "test_shards"):
            if spec.get(k):
                out += [(f"probes.{name}.{k}", p) for p in braceexpand(spec[k])]
    if cfg["quality"]["fid"]["inception_weights"]:
        out.append(("quality.fid.inception_weights", cfg["quality"]["fid"]["inception_weights"]))
    if cfg["quality"]["lpips"]["backbone_weights"]:
        out.append(("quality.lpips.backbone_weights", cfg["quality"]["lpips"]["backbone_weights"]))
    clip = cfg.get("clip")
    if clip:
        for name, ds in clip["datasets"].items():
            if ds.get("shards") and name in clip_datasets_used(cfg):
                out += [(f"clip.datasets.{name}.shards", p) for p in braceexpand(ds["shards"])]
        if clip["zero_shot"]["probes"]:
            out += [(f"probes.{n}.classnames", s["classnames"]) for n, s in cfg["probes"].items()
                    if s.get("classnames")]
    prompts = {r.prompt for r in used}
    for prompt, section in (("word2sen", "word2sen"), ("incap", "captioner")):
        if prompt in prompts and cfg["prompts"][section]["path"]:
            out.append((f"prompts.{section}.path", cfg["prompts"][section]["path"]))
    return out


def missing_paths(cfg: dict) -> dict[str, list[str]]:
    """config key -> the paths under it that do not exist."""
    out: dict[str, list[str]] = {}
    for key, path in external_paths(cfg):
        if not os.path.exists(path):
            out.setdefault(key, []).append(path)
    return out


def pick(cfg: dict, *keys: str) -> dict:
    """The slice of ``cfg`` holding only the given dotted keys, nested as in ``cfg``: what a rule
    passes its job as ``params`` (so editing any other key re-runs nothing of that rule)."""
    out: dict = {}
    for key in keys:
        *parents, last = key.split(".")
        src, dst = cfg, out
        for p in parents:
            src, dst = src[p], dst.setdefault(p, {})
        dst[last] = copy.deepcopy(src[last])
    return _sorted(out)


def _sorted(obj: Any) -> Any:
    """Dicts with sorted keys, recursively: Snakemake compares params by their repr, so a slice
    must not depend on the order keys appear in the YAML file."""
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [_sorted(v) for v in obj]
    return obj


def config_hash(cfg: dict) -> str:
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- derived values


def runs(cfg: dict) -> dict[str, Run]:
    out = {}
    for r in cfg["runs"]:
        rc = r.get("classifier")
        name = run_name(r["model"], r.get("guidance"), r.get("prompt"), rc["tag"] if rc else None)
        fr = r.get("fit_range") or cfg["fit"]["range"]
        variants = {}
        for s in list(r.get("seeds") or [0])[1:]:
            tag = f"{rc['tag']}seed{s}" if rc else f"seed{s}"
            vname = run_name(r["model"], r.get("guidance"), r.get("prompt"), tag)
            variants[vname] = Run(vname, r["model"], r.get("guidance"), r.get("prompt"), tuple(r["scales"]),
                                  tuple(fr) if fr else None, {**(rc or {}), "tag": tag}, False, seed_of=name)
        out[name] = Run(name, r["model"], r.get("guidance"), r.get("prompt"), tuple(r["scales"]),
                        tuple(fr) if fr else None, rc, r.get("default_target", True), seed_runs=tuple(variants))
        out.update(variants)
    return out


def grid_runs(cfg: dict) -> dict[str, Run]:
    """The (model, guidance, prompt) configs of the ``grid`` section (the configured runs' own with
    ``include_runs``), as runs without scales: each has a synthetic test set and its quality, shared
    with the scaling run of the same name."""
    grid = cfg.get("grid")
    if not grid:
        return {}
    out = {}
    if grid.get("include_runs"):
        for r in runs(cfg).values():
            if not r.is_real and r.data not in out:
                out[r.data] = Run(r.data, r.model, float(r.guidance), r.prompt, (), None)
    for model in sorted(grid.get("guidance", {})):
        for prompt in grid["prompts"]:
            for g in sorted(grid["guidance"][model]):
                name = run_name(model, g, prompt)
                out[name] = Run(name, model, float(g), prompt, (), None)
    return out


# --------------------------------------------------------------------------- the CLIP study

CLIP_ARM_TAGS = {"real": "real", "syn": "syn", "syn+real": "synreal"}
CLIP_RUN_RE = r"(?:real_[a-z][a-z0-9]*|(?:syn|synreal)_[a-z][a-z0-9]*_cfg[0-9]+(?:\.[0-9]+)?_[a-z][a-z0-9]*)"


@dataclass(frozen=True)
class ClipRun:
    """CLIP trained on one arm of a caption dataset: ``real_{dataset}``, or ``syn_{twins}`` /
    ``synreal_{twins}`` with ``twins`` the data name of the synthetic twins (model_cfgG_dataset)."""
    name: str
    arm: str
    dataset: str
    twins: str | None
    scales: tuple[int, ...]


def clip_twins_name(model: str, guidance: float, dataset: str) -> str:
    return run_name(model, guidance, dataset)


def clip_runs(cfg: dict) -> dict[str, ClipRun]:
    """The CLIP runs of the study (one per arm) and of the CFG sweep (one per guidance), by name."""
    clip = cfg.get("clip")
    if not clip:
        return {}
    out: dict[str, ClipRun] = {}

    def add(arm, dataset, model, guidance, scales):
        twins = None if arm == "real" else clip_twins_name(model, guidance, dataset)
        name = f"{CLIP_ARM_TAGS[arm]}_{twins or dataset}"
        old = out.get(name)
        scales = tuple(sorted(set(scales) | set(old.scales if old else ())))
        out[name] = ClipRun(name, arm, dataset, twins, scales)

    st = clip["study"]
    for arm in st["arms"]:
        add(arm, st["dataset"], st["model"], st["guidance"], st["scales"])
    sw = clip["cfg_sweep"]
    if sw:
        for g in sw["guidance"]:
            add(sw["arm"], sw["dataset"], sw["model"], g, [sw["scale"]])
    return out


def clip_study_runs(cfg: dict) -> dict[str, ClipRun]:
    """arm -> the study's CLIP run of that arm."""
    st = cfg["clip"]["study"]
    byname = clip_runs(cfg)
    out = {}
    for arm in st["arms"]:
        twins = None if arm == "real" else clip_twins_name(st["model"], st["guidance"], st["dataset"])
        out[arm] = byname[f"{CLIP_ARM_TAGS[arm]}_{twins or st['dataset']}"]
    return out


def clip_twin_runs(cfg: dict) -> dict[str, Run]:
    """The synthetic twins the CLIP runs read, as runs without scales (their shards are made by the
    generation rule, one per block, from the block's captions)."""
    out = {}
    for r in clip_runs(cfg).values():
        if r.twins and r.twins not in out:
            model, g, dataset = parse_name(r.twins)
            out[r.twins] = Run(r.twins, model, g, dataset, (), None)
    return out


def clip_datasets_used(cfg: dict) -> set[str]:
    return {r.dataset for r in clip_runs(cfg).values()}


def run_classifier(cc: dict, override: dict | None) -> dict:
    """The classifier section a run trains with: ``classifier`` with the run's own
    (``runs[].classifier``: arch, kwargs, and how it spreads over GPUs) in place."""
    out = copy.deepcopy(cc)
    for k, v in (override or {}).items():
        if k != "tag":
            out[k] = copy.deepcopy(v)
    return out


def shard_count(scale: int, shard_size: int) -> int:
    if shard_size <= 0:
        raise ConfigError(f"shard size must be positive, got {shard_size}")
    return math.ceil(scale / shard_size)


def iterations(scale: int, schedule: dict) -> tuple[int, int]:
    """(iterations, warm-up) at data scale D, growing linearly in log D as in the paper
    (95k iterations / 10k warm-up at 1M, +95k / +10k per doubling), floored at a minimum."""
    doublings = math.log2(scale / schedule["base_scale"])
    iters = schedule["base_iters"] + schedule["iters_per_doubling"] * doublings
    iters = max(schedule["min_iters"], int(round(iters)))
    warm = schedule["base_warmup"] + schedule["warmup_per_doubling"] * doublings
    warm = int(round(min(max(warm, iters * 0.05), iters * 0.5)))
    return iters, warm


def seed_for(*parts: Any) -> int:
    """A stable 63-bit seed derived from the parts (strings, ints)."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)
