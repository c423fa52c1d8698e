"""Runs derived from the configuration: scaling runs with their seed variants, the guidance grid,
CLIP runs and their twins, the classifier a run trains with; config slices (what a rule passes
its job) and shard arithmetic."""
from __future__ import annotations

import copy
import math
from typing import Any

from .names import CLIP_ARM_TAGS, ClipRun, ConfigError, Run, clip_twins_name, parse_name, run_name


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


# --------------------------------------------------------------------------- derived values


def named_runs(cfg: dict) -> list[tuple[str, Run]]:
    """(the config key a run's name derives from, the run) for every run and seed variant, in
    order: ``runs[i]`` (``runs[i].classifier.tag`` for a tagged run), ``runs[i].seeds[j]``. Two with
    one name would share every file; validation refuses that, naming both keys."""
    out = []
    for i, r in enumerate(cfg["runs"]):
        rc = r.get("classifier")
        name = run_name(r["model"], r.get("guidance"), r.get("prompt"), rc["tag"] if rc else None)
        fr = r.get("fit_range") or cfg["fit"]["range"]
        variants = []
        for j, s in list(enumerate(r.get("seeds") or [0]))[1:]:
            tag = f"{rc['tag']}seed{s}" if rc else f"seed{s}"
            vname = run_name(r["model"], r.get("guidance"), r.get("prompt"), tag)
            variants.append((f"runs[{i}].seeds[{j}]",
                             Run(vname, r["model"], r.get("guidance"), r.get("prompt"), tuple(r["scales"]),
                                 tuple(fr) if fr else None, {**(rc or {}), "tag": tag}, False, seed_of=name)))
        out.append((f"runs[{i}].classifier.tag" if rc else f"runs[{i}]",
                    Run(name, r["model"], r.get("guidance"), r.get("prompt"), tuple(r["scales"]),
                        tuple(fr) if fr else None, rc, r.get("default_target", True),
                        seed_runs=tuple(v.name for _, v in variants))))
        out += variants
    return out


def runs(cfg: dict) -> dict[str, Run]:
    return {r.name: r for _, r in named_runs(cfg)}


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


