"""The CLIP study's tables and their figures, from the fits and evaluations already read: Table 1 /
A12 with Fig. 9 and A14 (the arms side by side), Fig. A15 (zero-shot top-1 per downstream dataset
against captions), Table A11 (the CFG sweep) and Table A10 (S vs L recipe)."""
from __future__ import annotations

from synscale.clip.study import PER_DATASET_COLUMNS, RECIPE_COLUMNS, per_dataset_rows, recipe_rows
from synscale.io import atomic_path

SUMMARY_COLUMNS = ("arm", "scale", "captions", "recipe", "in_fit", "val_loss", "val_top1", "downstream_average", "tau")


def _csv(df, path: str) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def summary(fits: dict[str, dict], out_csv: str, out_png: str, per_dataset_csv: str | None = None,
            per_dataset_png: str | None = None) -> dict:
    """Table 1 / A12 (per arm and scale: zero-shot val loss and top-1, the downstream average, the
    recipe, whether the scale is fitted), each arm's k with its CIs and fit range; Fig. 9 / A14;
    Fig. A15 beside them when its paths are given."""
    import pandas as pd

    from synscale.report.clip_figures import clip_summary_figure, per_dataset_figure

    rows, arms = [], {}
    for arm, f in fits.items():
        arms[arm] = {"k": f["k"], "k_ci": f.get("k_ci"), "k_ci_boot": f.get("k_ci_boot") or [None, None],
                     "r2": f["r2"], "fit_scales": f.get("fit_scales"), "fit_range": f.get("fit_range"),
                     "largest": f["points"][-1]}
        rows += [{"arm": arm, **{k: p.get(k) for k in SUMMARY_COLUMNS[1:]}} for p in f["points"]]
    df = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    _csv(df, out_csv)
    clip_summary_figure(df, arms, out_png)
    out = {"arms": arms, "rows": rows}
    if per_dataset_csv or per_dataset_png:
        per = pd.DataFrame(per_dataset_rows(fits), columns=list(PER_DATASET_COLUMNS))
        if per_dataset_csv:
            _csv(per, per_dataset_csv)
        if per_dataset_png:
            per_dataset_figure(per, per_dataset_png)
        out["per_dataset_sets"] = sorted(set(per["dataset"]))
    return out


def sweep(evals: dict[str, dict], out_csv: str, out_png: str) -> list[dict]:
    """Table A11: zero-shot val top-1 and loss and the downstream average per guidance."""
    import pandas as pd

    from synscale.report.clip_figures import cfg_sweep_figure

    rows = [{"guidance": float(g), "captions": e["captions"], "val_top1": e["val"]["top1"],
             "val_loss": e["val"]["loss"], "downstream_average": e["downstream_average"]} for g, e in evals.items()]
    df = pd.DataFrame(rows).sort_values("guidance")
    _csv(df, out_csv)
    cfg_sweep_figure(df, out_png)
    return rows


def recipes(evals: list[dict], out_csv: str, out_png: str) -> list[dict]:
    """Table A10: per scale and recipe, zero-shot val top-1 and loss and the downstream average."""
    import pandas as pd

    from synscale.report.clip_figures import recipe_figure

    rows = recipe_rows(evals)
    df = pd.DataFrame(rows, columns=list(RECIPE_COLUMNS))
    _csv(df, out_csv)
    recipe_figure(df, out_png)
    return rows
