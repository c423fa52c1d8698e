"""What a configuration's numbers and names must fit: one rule for every list of scales (sorted,
unique; the schema makes them positive integers of at most ``MAX_SCALE``), scales within what the
configured shards can hold (five-digit shard, chunk and block names: ``MAX_INDEX``), CLIP recipes
that can each be picked, guidance values a run name writes exactly, and run names derived once.
Every message names the config key (both keys, for a name derived twice) and the fix."""
from __future__ import annotations

import math

from .names import (
    CLIP_ARM_TAGS,
    CLIP_RUN_RE,
    MAX_INDEX,
    REAL,
    WILDCARD_RE,
    clip_twins_name,
    exact_guidance,
    fmt_guidance,
)
from .runs import named_runs

# ------------------------------------------------------------------------- scale lists


def scale_list_errors(key: str, scales: list) -> list[str]:
    """The one rule of a list of data scales (runs[].scales, clip.study.scales,
    clip.recipe_study.scales): ascending, each once."""
    errs = []
    if list(scales) != sorted(scales):
        errs.append(f"config key '{key}': scales must be sorted ascending, got {list(scales)}; "
                    f"write {sorted(set(scales))}")
    dup = sorted({s for s in scales if list(scales).count(s) > 1})
    if dup:
        errs.append(f"config key '{key}': duplicate scales {dup}; list each scale once")
    return errs


def _all_scale_lists(cfg: dict) -> list[tuple[str, list]]:
    out = [(f"runs[{i}].scales", r["scales"]) for i, r in enumerate(cfg["runs"])]
    clip = cfg.get("clip")
    if clip:
        out.append(("clip.study.scales", clip["study"]["scales"]))
        if clip.get("recipe_study"):
            out.append(("clip.recipe_study.scales", clip["recipe_study"]["scales"]))
    return out


# ------------------------------------------------------------------------- what the shards hold


def _shard_errors(cfg: dict) -> list[str]:
    """A synthetic run at scale D reads shards 0 .. ceil(D / generation.shard_size) - 1, named with
    five digits: a scale needing more shards has no rule to make them."""
    errs = []
    size = cfg["generation"]["shard_size"]
    for i, r in enumerate(cfg["runs"]):
        if r["model"] == REAL or not r["scales"]:
            continue
        top = max(r["scales"])
        n = math.ceil(top / size)
        if n > MAX_INDEX:
            errs.append(f"config key 'runs[{i}].scales': scale {top} needs {n} shards of generation.shard_size = "
                        f"{size} images, more than the {MAX_INDEX} a run's shard names hold (shard-00000 .. "
                        f"shard-{MAX_INDEX - 1}); raise generation.shard_size to at least "
                        f"{math.ceil(top / MAX_INDEX)} or lower the scale")
    return errs


def _count(pattern: str) -> int:
    from braceexpand import braceexpand

    return sum(1 for _ in braceexpand(pattern))


def _clip_capacity_errors(cfg: dict) -> list[str]:
    """A caption dataset's blocks (shards_per_block source shards each; five-digit block names) and,
    for the embedded digits, the captions a scale may ask for (local shards are counted when the
    workflow parses)."""
    clip = cfg.get("clip")
    if not clip:
        return []
    errs = []
    asked: dict[str, list[tuple[str, int]]] = {}
    st, sw, rs = clip["study"], clip.get("cfg_sweep"), clip.get("recipe_study")
    asked.setdefault(st["dataset"], []).extend(("clip.study.scales", s) for s in st["scales"])
    if sw:
        asked.setdefault(sw["dataset"], []).append(("clip.cfg_sweep.scale", sw["scale"]))
    if rs:
        asked.setdefault(rs["dataset"], []).extend(("clip.recipe_study.scales", s) for s in rs["scales"])
    for name, ds in clip["datasets"].items():
        key = f"clip.datasets.{name}"
        if ds.get("embedded"):
            if "train_size" not in cfg["data"]:
                continue
            n_shards = math.ceil(cfg["data"]["train_size"] / ds["shard_size"])
        elif ds.get("shards"):
            n_shards = _count(ds["shards"])
        else:
            continue
        n_blocks = math.ceil(n_shards / ds["shards_per_block"])
        if n_blocks > MAX_INDEX:
            errs.append(f"config key '{key}.shards_per_block': {n_shards} shards in blocks of {ds['shards_per_block']} "
                        f"make {n_blocks} blocks, more than the {MAX_INDEX} five-digit block names hold; raise it to "
                        f"at least {math.ceil(n_shards / MAX_INDEX)}")
        if not ds.get("embedded"):
            continue
        per_block = ds["shard_size"] * ds["shards_per_block"]
        for where, scale in asked.get(name, []):
            if math.ceil(scale / per_block) > n_blocks:
                errs.append(f"config key '{where}': {scale} captions, more than {key} holds (the embedded digits: "
                            f"data.train_size = {cfg['data']['train_size']}); lower the scale")
    return errs


def _caption_chunk_errors(cfg: dict) -> list[str]:
    d = cfg["data"]
    if d["source"] != "webdataset" or not d.get("train_shards"):
        return []
    per = cfg["prompts"]["captioner"]["shards_per_job"]
    n = math.ceil(_count(d["train_shards"]) / per)
    if n <= MAX_INDEX:
        return []
    return [f"config key 'prompts.captioner.shards_per_job': data.train_shards in jobs of {per} shards make {n} "
            f"caption jobs, more than the {MAX_INDEX} five-digit chunk names hold; raise it"]


# ------------------------------------------------------------------------- CLIP recipes


def _recipe_errors(clip: dict) -> list[str]:
    """Each recipe of clip.train.recipes can be picked (its own from_scale) and named (its own name);
    Table A10 names recipes and a dataset that exist."""
    errs = []
    recipes = clip["train"]["recipes"]
    names: dict[str, int] = {}
    starts: dict[int, int] = {}
    for j, r in enumerate(recipes):
        key = f"clip.train.recipes[{j}]"
        if r["name"] in names:
            errs.append(f"config key '{key}.name': {r['name']!r} is also the name of clip.train.recipes"
                        f"[{names[r['name']]}]; name each recipe once")
        names.setdefault(r["name"], j)
        if r["from_scale"] in starts:
            i = starts[r["from_scale"]]
            errs.append(f"config key '{key}.from_scale': {r['from_scale']} is also the from_scale of "
                        f"clip.train.recipes[{i}] ({recipes[i]['name']!r}), so one of the two could never be "
                        "picked; give each recipe its own from_scale")
        starts.setdefault(r["from_scale"], j)
        if isinstance(r["warmup"], list):
            froms = [int(p[0]) for p in r["warmup"]]
            dup = sorted({f for f in froms if froms.count(f) > 1})
            if dup:
                errs.append(f"config key '{key}.warmup': from_scale {dup} listed twice; give each [from_scale, steps] "
                            "pair its own from_scale")
    rs = clip.get("recipe_study")
    if rs:
        if rs["dataset"] not in clip["datasets"]:
            errs.append(f"config key 'clip.recipe_study.dataset': unknown dataset {rs['dataset']!r}; define it "
                        f"under clip.datasets (known: {sorted(clip['datasets'])})")
        bad = [r for r in rs["recipes"] if r not in names]
        if bad:
            errs.append(f"config key 'clip.recipe_study.recipes': {bad} not in clip.train.recipes "
                        f"(known: {list(names)})")
    fr = clip["study"].get("fit_range")
    if fr and fr[0] > fr[1]:
        errs.append(f"config key 'clip.study.fit_range': the range {list(fr)} is reversed; write it as "
                    f"{[fr[1], fr[0]]}")
    return errs


# ------------------------------------------------------------------------- names


def _guidance_keys(cfg: dict) -> list[tuple[str, float]]:
    out = [(f"runs[{i}].guidance", r["guidance"]) for i, r in enumerate(cfg["runs"]) if "guidance" in r]
    grid = cfg.get("grid")
    if grid:
        out += [(f"grid.guidance.{m}", g) for m, vs in grid["guidance"].items() for g in vs]
    clip = cfg.get("clip")
    if clip:
        out.append(("clip.study.guidance", clip["study"]["guidance"]))
        if clip.get("cfg_sweep"):
            out += [(f"clip.cfg_sweep.guidance[{j}]", g) for j, g in enumerate(clip["cfg_sweep"]["guidance"])]
    return out


def _name_errors(cfg: dict) -> list[str]:
    """Guidance a run name writes exactly, names the workflow's wildcards match, and every run
    name derived once (a classifier tag 'seed1' beside seeds: [0, 1] would give two runs one name)."""
    import re

    errs = []
    for key, g in _guidance_keys(cfg):
        if not exact_guidance(g):
            errs.append(f"config key '{key}': guidance {g!r} cannot be written exactly in a run name (names write "
                        f"it as {fmt_guidance(g)!r}: a plain decimal of at most 6 significant digits); round it")
    if errs or any(r["model"] != REAL and ("guidance" not in r or "prompt" not in r) for r in cfg["runs"]):
        return errs  # a run without guidance or prompt has no name (refused by the run checks)
    seen: dict[str, str] = {}
    for key, r in named_runs(cfg):
        if r.model != REAL and not re.fullmatch(WILDCARD_RE, r.name):
            errs.append(f"config key '{key}': the run name {r.name!r} does not fit the grammar "
                        "<model>_cfg<guidance>_<prompt>[-<tag>]")
        if r.name in seen:
            errs.append(f"config key '{key}': the run name {r.name!r} is also derived from {seen[r.name]}; two runs "
                        "would share every file (listed twice?): drop one, or change a classifier tag or seed")
        seen.setdefault(r.name, key)
    clip = cfg.get("clip")
    if clip:
        st = clip["study"]
        for arm in st["arms"]:
            twins = None if arm == "real" else clip_twins_name(st["model"], st["guidance"], st["dataset"])
            name = f"{CLIP_ARM_TAGS[arm]}_{twins or st['dataset']}"
            if not re.fullmatch(CLIP_RUN_RE, name):
                errs.append(f"config key 'clip.study': the CLIP run name {name!r} does not fit the grammar "
                            "<arm>_<dataset> / <arm>_<model>_cfg<guidance>_<dataset>")
    return errs


def limit_errors(cfg: dict) -> list[str]:
    """Scale lists, what the shards hold, CLIP recipes and names (``cfg`` has its defaults filled)."""
    errs = [m for key, scales in _all_scale_lists(cfg) for m in scale_list_errors(key, scales)]
    errs += _shard_errors(cfg) + _clip_capacity_errors(cfg) + _caption_chunk_errors(cfg)
    if cfg.get("clip"):
        errs += _recipe_errors(cfg["clip"])
    return errs + _name_errors(cfg)
