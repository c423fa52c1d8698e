"""The comparison across eras that the paper's title ("... for Now") asks for: does a T2I model of
today scale better as training data than those of 2023?

* ``era_table``: each model's best configuration -- its k (with CI) and -log L at D_I, from this
  workflow's own measurements -- with the model's family and what its guidance value means; beside
  them, labelled as the paper's numbers, the paper's three models at their scaling-run configurations
  (SD 1.5 at CFG 2, Imagen at 1.5, Muse at 0.3, all ``incap``): -log L at 1.3M from its tabulated
  1.3M grid (Tables A4-A6). The paper's k values are drawn in its Fig. 3 but not tabulated, so they
  are not shipped and the column stays empty for its rows.
* ``era_scaling``: those best configurations in the (k, -log L at D_I) plane, the paper's models as
  lines at their -log L at 1.3M;
* ``era_plane``: recognizability against diversity of every measured configuration of every model,
  marked by family, with the paper's 52 tabulated configurations (hollow) for orientation.

The measured values and the paper's come from different data and reference classifiers unless the
study runs on ImageNet-1k with D_I = 1.3M (``synscale.report.tables.paper_comparison``); the table
and the figure say which.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from synscale.report.axes import finish, pyplot

#: the paper's three models at the configurations of its scaling runs (PAPER_NOTES: Fig. 3, Table A7)
PAPER_MODELS = {"sd": ("Stable Diffusion 1.5", 2.0, "incap"), "imagen": ("Imagen", 1.5, "incap"),
                "muse": ("Muse", 0.3, "incap")}
#: what the run's guidance value means, by family (family diffusers: the model's ``guidance`` key)
GUIDANCE_MEANING = {"latent_diffusion": "cfg", "pixel_cascade": "cfg (stage I; stage II fixed)",
                    "masked_token": "cfg, 1 + t rising linearly (Muse)"}
ERA = {"latent_diffusion": "2023 (the paper's models)", "pixel_cascade": "2023 (the paper's models)",
       "masked_token": "2023 (the paper's models)", "diffusers": "today (family diffusers)"}
COLUMNS = ("source", "era", "model", "family", "guidance_meaning", "run", "guidance", "prompt", "configs", "k",
           "k_ci_low", "k_ci_high", "neg_log_L_at_DI", "r2", "recognizability", "diversity")


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def best_rows(summary, models: Mapping[str, dict]) -> list[dict]:
    """Each synthetic model's best configuration among the summary's rows: the fitted run with the
    highest -log L at D_I (the paper's "performance at 1.3M"), or, where no run of the model has a fit,
    the run measured at D_I with the highest value; models with neither are listed without numbers."""
    out = []
    for model in sorted(set(summary["model"]) - {"real"}):
        rows = summary[summary["model"] == model]
        fitted = rows[rows["k"].notna() & rows["neg_log_L_at_DI"].notna()]
        pool = fitted if len(fitted) else rows[rows["neg_log_L_at_DI"].notna()]
        best = pool.loc[pool["neg_log_L_at_DI"].astype(float).idxmax()] if len(pool) else rows.iloc[0]
        family = (models.get(model) or {}).get("family", "")
        meaning = (models.get(model) or {}).get("guidance", "cfg") if family == "diffusers" else \
            GUIDANCE_MEANING.get(family, "")
        out.append({"source": "measured here", "era": ERA.get(family, ""), "model": model, "family": family,
                    "guidance_meaning": meaning, "run": best["run"], "guidance": _num(best["guidance"]),
                    "prompt": best["prompt"], "configs": int(len(rows)),
                    **{k: _num(best[k]) if len(pool) else None
                       for k in ("k", "k_ci_low", "k_ci_high", "neg_log_L_at_DI", "r2")},
                    "recognizability": _num(best["recognizability"]), "diversity": _num(best["diversity"])})
    return out


def paper_rows(paper) -> list[dict]:
    """The paper's three models at their scaling-run configurations from its tabulated 1.3M grid
    (``synscale.report.tables.paper_values``): -log L at 1.3M = -ln(ImageNet val loss); k: not tabulated."""
    out = []
    for model, (label, guidance, prompt) in PAPER_MODELS.items():
        hit = paper[(paper["model"] == model) & (paper["guidance"].astype(float) == guidance)
                    & (paper["prompt"] == prompt)]
        if hit.empty:
            continue
        r = hit.iloc[0]
        out.append({"source": "the paper (ImageNet-1k, ViT-B/16, at 1.3M; Tables A4-A6)",
                    "era": "2023 (the paper's models)", "model": label, "family": model,
                    "guidance_meaning": GUIDANCE_MEANING.get({"sd": "latent_diffusion", "imagen": "pixel_cascade",
                                                              "muse": "masked_token"}[model], ""),
                    "run": f"{model}_cfg{guidance:g}_{prompt}", "guidance": guidance, "prompt": prompt,
                    "configs": int((paper["model"] == model).sum()), "k": None, "k_ci_low": None, "k_ci_high": None,
                    "neg_log_L_at_DI": -math.log(float(r["paper_in_val_loss"])), "r2": None,
                    "recognizability": _num(r["paper_recognizability"]), "diversity": _num(r["paper_diversity"])})
    return out


def era_table(summary, models: Mapping[str, dict], paper=None):
    """The comparison as a DataFrame (``COLUMNS``): the measured best configuration of every model, then
    the paper's rows where ``paper`` (``paper_values``) is given."""
    import pandas as pd

    rows = best_rows(summary, models) + (paper_rows(paper) if paper is not None else [])
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def era_plane(summary, models: Mapping[str, dict], out_png, paper=None, note: str = "") -> None:
    """Recognizability against diversity of every measured synthetic configuration (filled; a star for
    today's models, a circle for the paper's families), each model its own colour; the paper's tabulated
    configurations hollow and grey, by model."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=110)
    d = summary[(summary["model"] != "real") & summary["recognizability"].notna() & summary["diversity"].notna()]
    for i, model in enumerate(sorted(set(d["model"]))):
        rows = d[d["model"] == model]
        family = (models.get(model) or {}).get("family", "")
        ax.scatter(rows["recognizability"].astype(float), rows["diversity"].astype(float), color=plt.cm.tab10(i % 10),
                   marker="*" if family == "diffusers" else "o", s=90 if family == "diffusers" else 36,
                   label=f"{model} ({ERA.get(family, family)})", zorder=3)
        for _, r in rows.iterrows():
            ax.annotate(r["run"], (float(r["recognizability"]), float(r["diversity"])), fontsize=6, xytext=(3, 2),
                        textcoords="offset points")
    if paper is not None:
        for model, marker in (("sd", "s"), ("imagen", "^"), ("muse", "D")):
            p = paper[paper["model"] == model]
            if len(p):
                ax.scatter(p["paper_recognizability"], p["paper_diversity"], facecolors="none", edgecolors="grey",
                           marker=marker, s=30, label=f"the paper's {PAPER_MODELS[model][0]} (Tables A4-A6)")
    if d.empty and paper is None:
        ax.text(0.5, 0.5, "no synthetic configuration measured", ha="center", transform=ax.transAxes)
    ax.set(xlabel="recognizability", ylabel="diversity",
           title="recognizability vs diversity of every model's configurations")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    if note:
        fig.text(0.01, 0.01, note, fontsize=6.5, wrap=True)
    finish(fig, out_png)


def era_scaling(table, out_png, note: str = "") -> None:
    """Each model's best configuration in the plane of the scaling law's two numbers: k (with its CI)
    against -log L at D_I (stars: today's models); the paper's models, whose k is not tabulated, as
    dashed lines at their -log L at 1.3M."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    measured = table[(table["source"] == "measured here") & table["k"].notna() & table["neg_log_L_at_DI"].notna()]
    for i, (_, r) in enumerate(measured.iterrows()):
        today = r["family"] == "diffusers"
        lo, hi = r["k_ci_low"], r["k_ci_high"]
        xerr = [[r["k"] - lo], [hi - r["k"]]] if _num(lo) is not None and _num(hi) is not None else None
        ax.errorbar([r["k"]], [r["neg_log_L_at_DI"]], xerr=xerr, fmt="*" if today else "o", ms=12 if today else 7,
                    color=plt.cm.tab10(i % 10), capsize=3, label=f"{r['run']} ({r['guidance_meaning']})")
    paper = table[table["source"] != "measured here"]
    for _, r in paper.iterrows():
        ax.axhline(r["neg_log_L_at_DI"], ls="--", lw=0.9, color="grey")
        ax.annotate(f"the paper's {r['model']} at 1.3M", (0.01, r["neg_log_L_at_DI"]), xycoords=("axes fraction",
                    "data"), fontsize=7, color="dimgrey", xytext=(0, 2), textcoords="offset points")
    if measured.empty:
        ax.text(0.5, 0.5, "no fitted run", ha="center", transform=ax.transAxes)
    ax.set(xlabel="scaling ability k (bars: CI of the fit)", ylabel="-log L at D_I (performance at D_I)",
           title="each model's best configuration: k against -log L at D_I")
    ax.grid(True, alpha=0.3)
    if len(measured):
        ax.legend(fontsize=7, loc="best")
    if note:
        fig.text(0.01, 0.01, note, fontsize=6.5, wrap=True)
    finish(fig, out_png)
