"""What the CLIP study fits and tabulates, as plain data: the recipe each scale trains with, the
scales the power law is fitted over (``clip.study.fit_range``), the runs of Table A10 (S vs L recipe,
``clip.recipe_study``), and the rows of Table A10 and Fig. A15 (zero-shot top-1 per downstream
dataset against captions).

The paper finds CLIP's zero-shot loss a power law "when the data amount is under around 64 million"
captions and fits that range: 1M-64M, all trained with Table A3's S recipe, below the switch to L at
100M. ``clip.study.fit_range: [lo, hi]`` fits the study's scales inside it; null fits the scales
trained with the recipe of the smallest scale (the paper's choice on its scales). A range that
spans a recipe switch is fitted as asked, with a warning, and the fit records it.
"""
from __future__ import annotations

import logging
from typing import Sequence

log = logging.getLogger(__name__)


def recipe_of(recipes: Sequence[dict], scale: int) -> str:
    """The name of the recipe ``clip.train.recipes`` picks at ``scale`` captions: the last whose
    ``from_scale`` is at most the scale (the first below them all), as ``pick_recipe`` does."""
    ordered = sorted(recipes, key=lambda r: r["from_scale"])
    name = ordered[0]["name"]
    for r in ordered:
        if r["from_scale"] <= scale:
            name = r["name"]
    return name


def fit_selection(study: dict, recipes: Sequence[dict], min_points: int) -> dict:
    """The study's scales its fit uses, and why: ``fit_range`` (as configured, or null), ``rule``
    (in words), ``scales``, ``recipes`` (scale -> recipe name, every study scale) and
    ``crosses_recipe_switch``. ValueError naming ``clip.study.fit_range`` where fewer than
    ``min_points`` scales are inside."""
    scales = sorted(int(s) for s in study["scales"])
    by_scale = {s: recipe_of(recipes, s) for s in scales}
    fr = study.get("fit_range")
    if fr:
        lo, hi = int(fr[0]), int(fr[1])
        if lo > hi:
            raise ValueError(f"config key 'clip.study.fit_range' = {list(fr)}: give [lo, hi] with lo <= hi")
        used = [s for s in scales if lo <= s <= hi]
        rule = f"the study's scales inside clip.study.fit_range [{lo}, {hi}]"
    else:
        first = by_scale[scales[0]]
        used = [s for s in scales if by_scale[s] == first]
        switch = min((r["from_scale"] for r in recipes if r["from_scale"] > scales[0]), default=None)
        rule = (f"the scales trained with the smallest scale's recipe ({first})"
                + (f": below the recipe switch at {switch} captions" if switch is not None else ""))
    if len(used) < min_points:
        raise ValueError(f"config key 'clip.study.fit_range' = {fr}: {len(used)} of the CLIP study's scales "
                         f"{scales} are fitted ({rule}), need fit.min_points = {min_points}; widen the range or "
                         "add scales to clip.study.scales")
    names = sorted({by_scale[s] for s in used})
    return {"fit_range": [int(fr[0]), int(fr[1])] if fr else None, "rule": rule, "scales": used,
            "recipes": {str(s): by_scale[s] for s in scales}, "fit_recipes": names,
            "crosses_recipe_switch": len(names) > 1}


# --------------------------------------------------------------------------- Table A10


def recipe_study(clip: dict) -> dict | None:
    """``clip.recipe_study`` checked against the config: its dataset and recipes exist."""
    rs = clip.get("recipe_study")
    if not rs:
        return None
    if rs["dataset"] not in clip["datasets"]:
        raise ValueError(f"config key 'clip.recipe_study.dataset': unknown dataset {rs['dataset']!r}; define it "
                         f"under clip.datasets (known: {sorted(clip['datasets'])})")
    known = [r["name"] for r in clip["train"]["recipes"]]
    bad = [r for r in rs["recipes"] if r not in known]
    if bad:
        raise ValueError(f"config key 'clip.recipe_study.recipes': {bad} not in clip.train.recipes (known: {known})")
    return rs


def recipe_run(clip: dict, recipe: str) -> dict:
    """The run of Table A10 with ``recipe``: the real arm of the study's dataset, the named recipe at
    every scale, the study's own model (or clip.model), and the same initial weights for every
    recipe at a scale."""
    rs = recipe_study(clip)
    if rs is None or recipe not in rs["recipes"]:
        raise ValueError(f"recipe {recipe!r} is not one of clip.recipe_study.recipes")
    ds = rs["dataset"]
    return {"name": f"real_{ds}_recipe-{recipe}", "arm": "real", "dataset": ds, "twins": None, "recipe": recipe,
            "model": rs.get("model"), "seed_parts": ["clip-recipes", ds]}


def run_train_section(clip: dict, run: dict) -> dict:
    """``clip.train`` as a run trains with it: a run with its own ``recipe`` uses that recipe at
    every scale."""
    tc = clip["train"]
    if not run.get("recipe"):
        return tc
    chosen = [r for r in tc["recipes"] if r["name"] == run["recipe"]]
    if not chosen:
        raise ValueError(f"{run['name']}: recipe {run['recipe']!r} is not in clip.train.recipes")
    return {**tc, "recipes": [{**chosen[0], "from_scale": 0}]}


RECIPE_COLUMNS = ("recipe", "scale", "captions", "model", "val_top1", "val_loss", "downstream_average", "tau")


def recipe_rows(evals: Sequence[dict]) -> list[dict]:
    """Table A10's rows from the recipe runs' evaluations, by scale, then recipe in the order the
    evaluations first name them (clip.recipe_study.recipes: S before L)."""
    order = list(dict.fromkeys(e["recipe"] for e in evals))
    rows = [{"recipe": e["recipe"], "scale": e["scale"], "captions": e["captions"], "model": e.get("model"),
             "val_top1": e["val"]["top1"], "val_loss": e["val"]["loss"],
             "downstream_average": e["downstream_average"], "tau": e["tau"]} for e in evals]
    return sorted(rows, key=lambda r: (r["scale"], order.index(r["recipe"])))


# --------------------------------------------------------------------------- Fig. A15


PER_DATASET_COLUMNS = ("arm", "dataset", "kind", "scale", "captions", "top1")


def per_dataset_rows(fits: dict[str, dict]) -> list[dict]:
    """Fig. A15's data: per arm, downstream dataset and scale, the zero-shot top-1 (probe datasets;
    without any, the OOD sets), from the arms' fit points; ImageNet (val) first."""
    rows = []
    for arm, f in fits.items():
        for p in f["points"]:
            base = {"arm": arm, "scale": p["scale"], "captions": p["captions"]}
            rows.append({**base, "dataset": "val", "kind": "val", "top1": p["val_top1"]})
            if p.get("probes"):
                rows += [{**base, "dataset": k, "kind": "probe", "top1": v} for k, v in sorted(p["probes"].items())]
            else:
                rows += [{**base, "dataset": k, "kind": "ood", "top1": v["top1"]} for k, v in sorted(p["ood"].items())]
    return rows
