"""Configuration: loading, validation (JSON schema draft 2020-12 plus semantic checks) and the
naming, shard and schedule arithmetic every rule shares.

A *config* of the study is a (model, CFG, prompt set) tuple named ``{model}_cfg{cfg}_{prompt}``
(e.g. ``sd_cfg2_incap``); the real-data baseline is named ``real``.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
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
REAL = "real"
NAME_RE = re.compile(r"^(?P<model>[a-z][a-z0-9]*)_cfg(?P<cfg>[0-9]+(?:\.[0-9]+)?)_(?P<prompt>[a-z][a-z0-9_]*)$")
WILDCARD_RE = r"real|[a-z][a-z0-9]*_cfg[0-9]+(?:\.[0-9]+)?_[a-z][a-z0-9_]*"

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"


class ConfigError(ValueError):
    """A configuration problem, with the offending key in the message."""


def fmt_cfg(cfg: float) -> str:
    return f"{float(cfg):g}"


def config_name(model: str, cfg: float | None = None, prompt: str | None = None) -> str:
    if model == REAL:
        return REAL
    return f"{model}_cfg{fmt_cfg(cfg)}_{prompt}"


@dataclass(frozen=True)
class Run:
    name: str
    model: str
    cfg: float | None
    prompt: str | None
    scales: tuple[int, ...]
    fit_range: tuple[int, int] | None

    @property
    def is_real(self) -> bool:
        return self.model == REAL


def parse_name(name: str) -> tuple[str, float | None, str | None]:
    if name == REAL:
        return REAL, None, None
    m = NAME_RE.match(name)
    if not m:
        raise ConfigError(f"{name!r} is not a config name of the form <model>_cfg<cfg>_<prompt> or 'real'")
    return m["model"], float(m["cfg"]), m["prompt"]


# --------------------------------------------------------------------------- loading


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
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


def schema_errors(cfg: dict) -> list[str]:
    from jsonschema import Draft202012Validator

    v = Draft202012Validator(load_schema())
    msgs = []
    for e in sorted(v.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path))):
        msgs.append(f"config key '{_key(e.absolute_path)}': {e.message}")
    return msgs


_PROMPT_MODEL_HINT = {
    "word2sen": "a local sequence-to-sequence model: set prompts.word2sen.path to the save_pretrained directory "
                "of a T5 fine-tuned for concept-to-sentence (e.g. t5-base-finetuned-common_gen)",
    "incap": "a local captioner: set prompts.captioner.path to a BLIP-2 save_pretrained directory",
}


def _prompt_model(cfg: dict, prompt: str) -> str | None:
    """The local model path a prompt set needs, when configured."""
    section = {"word2sen": "word2sen", "incap": "captioner"}.get(prompt)
    if section is None:
        return None
    return ((cfg.get("prompts") or {}).get(section) or {}).get("path")


def semantic_errors(cfg: dict) -> list[str]:
    """Checks a schema cannot express."""
    errs: list[str] = []
    models = cfg.get("models", {})
    source = cfg["data"]["source"]
    supported = SUPPORTED_PROMPTS.get(source, PROMPT_SETS)
    names = set()
    for i, run in enumerate(cfg.get("runs", [])):
        key = f"runs[{i}]"
        model = run["model"]
        if model != REAL:
            if model not in models:
                errs.append(f"config key '{key}.model': unknown model {model!r}; "
                            f"define it under 'models' (known: {sorted(models)}) or use 'real'")
            else:
                lo, hi = models[model]["cfg_range"]
                if "cfg" not in run:
                    errs.append(f"config key '{key}.cfg': required for model {model!r}")
                elif not lo <= run["cfg"] <= hi:
                    errs.append(f"config key '{key}.cfg': CFG {run['cfg']:g} is outside the range "
                                f"[{lo:g}, {hi:g}] of model {model!r} (models.{model}.cfg_range)")
            prompt = run.get("prompt")
            if prompt is None:
                errs.append(f"config key '{key}.prompt': required for model {model!r}")
            elif prompt not in PROMPT_SETS:
                errs.append(f"config key '{key}.prompt': unknown prompt set {prompt!r}; "
                            f"known: {', '.join(PROMPT_SETS)}")
            elif prompt not in supported and not _prompt_model(cfg, prompt):
                errs.append(f"config key '{key}.prompt': prompt set {prompt!r} is not available for "
                            f"data.source={source!r} without {_PROMPT_MODEL_HINT[prompt]} "
                            f"(available without one: {', '.join(supported)})")
        scales = run.get("scales", [])
        if list(scales) != sorted(scales):
            errs.append(f"config key '{key}.scales': scales must be sorted ascending, got {scales}")
        if len(set(scales)) != len(scales):
            dup = sorted({s for s in scales if scales.count(s) > 1})
            errs.append(f"config key '{key}.scales': duplicate scales {dup}")
        if model == REAL and source == "embedded_mnist":
            n_train = cfg["data"]["train_size"]
            big = [s for s in scales if s > n_train]
            if big:
                errs.append(f"config key '{key}.scales': real-data scales {big} exceed the train split "
                            f"(data.train_size={n_train})")
        if "fit_range" in run:
            lo, hi = run["fit_range"]
            if lo >= hi:
                errs.append(f"config key '{key}.fit_range': lower bound {lo} must be below upper bound {hi}")
        try:
            name = config_name(model, run.get("cfg"), run.get("prompt"))
        except (TypeError, ValueError):
            continue
        if name in names:
            errs.append(f"config key '{key}': config {name!r} is listed twice in 'runs'")
        names.add(name)
    fit = cfg.get("fit", {})
    if "range" in fit and fit["range"][0] >= fit["range"][1]:
        errs.append(f"config key 'fit.range': lower bound {fit['range'][0]} must be below upper bound {fit['range'][1]}")
    data = cfg["data"]
    if source == "embedded_mnist":
        if data["train_size"] + data["val_size"] > 5000:
            errs.append("config key 'data.train_size': train_size + val_size must be at most 5000 "
                        "(the embedded MNIST digits)")
        if data["val_size"] % 10 or data["train_size"] % 10:
            errs.append("config key 'data.val_size': train_size and val_size must be multiples of 10 classes")
        for name, m in models.items():
            if m.get("path") is None and "train" not in m:
                errs.append(f"config key 'models.{name}': give a local weights 'path' or a 'train' "
                            "section for the workflow to train a tiny model")
    else:
        for k in ("train_shards", "val_shards", "class_index"):
            if k not in data:
                errs.append(f"config key 'data.{k}': required when data.source is 'webdataset'")
        for name, m in models.items():
            if m.get("path") is None:
                errs.append(f"config key 'models.{name}.path': required when data.source is 'webdataset' "
                            "(local directory of the model's diffusers weights)")
    return errs


def validate(cfg: dict) -> dict:
    """Validate and return a normalised deep copy; raise ConfigError listing every problem."""
    cfg = copy.deepcopy(cfg)
    errs = schema_errors(cfg)
    if not errs:
        errs = semantic_errors(cfg)
    if errs:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errs))
    return cfg


def config_hash(cfg: dict) -> str:
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- derived values


def runs(cfg: dict) -> dict[str, Run]:
    out = {}
    for r in cfg["runs"]:
        name = config_name(r["model"], r.get("cfg"), r.get("prompt"))
        fr = r.get("fit_range") or cfg.get("fit", {}).get("range")
        out[name] = Run(name, r["model"], r.get("cfg"), r.get("prompt"), tuple(r["scales"]),
                        tuple(fr) if fr else None)
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
    iters = max(schedule.get("min_iters", 1), int(round(iters)))
    warm = schedule.get("base_warmup", 0) + schedule.get("warmup_per_doubling", 0) * doublings
    warm = int(round(min(max(warm, iters * 0.05), iters * 0.5)))
    return iters, warm


def seed_for(*parts: Any) -> int:
    """A stable 63-bit seed derived from the parts (strings, ints)."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)
