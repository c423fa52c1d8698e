"""The T2I families compared over a guidance sweep (the paper's Tables A4-A5 and Fig. 2, in miniature
on the embedded default): one row per (model, guidance, prompt set) with its test set's quality, and
per model the Spearman rank correlation of guidance with recognizability and with diversity.

The paper finds recognizability rising and diversity falling as guidance grows; the summary reports
whatever sign the measured correlations have.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from synscale.io import save_figure

COLUMNS = ("run", "model", "family", "guidance", "prompt", "recognizability", "diversity", "accuracy", "n_images")
OPTIONAL = ("fid", "lpips")  # where the quality JSONs hold them


def summary_table(rows: Iterable[dict]):
    """A DataFrame of the grid, sorted by model, prompt set and guidance."""
    import pandas as pd

    df = pd.DataFrame(list(rows))
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"grid rows lack columns {missing}")
    cols = list(COLUMNS) + [c for c in OPTIONAL if c in df.columns]
    return df[cols].sort_values(["model", "prompt", "guidance"], kind="stable").reset_index(drop=True)


def spearman(x: Sequence[float], y: Sequence[float]) -> dict:
    """Spearman's rho with its two-sided p-value (None where undefined: fewer than 3 points or a
    constant variable)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"rho": None, "p": None, "n": int(len(x))}
    res = spearmanr(x, y)
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": int(len(x))}


def correlations(df) -> dict:
    """Per model: Spearman of guidance with recognizability and with diversity, over every prompt
    set of the grid ("all") and within each prompt set."""
    out: dict = {}
    for model, g in df.groupby("model", sort=True):
        entry = {"family": str(g["family"].iloc[0]), "all": {}, "by_prompt": {}}
        for metric in ("recognizability", "diversity"):
            entry["all"][metric] = spearman(g["guidance"], g[metric])
        for prompt, gp in g.groupby("prompt", sort=True):
            entry["by_prompt"][str(prompt)] = {m: spearman(gp["guidance"], gp[m])
                                               for m in ("recognizability", "diversity")}
        out[str(model)] = entry
    return out


def grid_plot(df, out_png: str | Path, feature_space: str = "reference classifier") -> None:
    """One row per model: recognizability and diversity against guidance (a line per prompt set),
    and recognizability against diversity (Fig. 2's plane)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted(df["model"].unique())
    prompts = sorted(df["prompt"].unique())
    colors = {p: plt.cm.tab10(i % 10) for i, p in enumerate(prompts)}
    fig, axes = plt.subplots(len(models), 3, figsize=(12, 3.2 * len(models)), dpi=110, squeeze=False)
    for row, model in zip(axes, models):
        g = df[df["model"] == model]
        for p in prompts:
            gp = g[g["prompt"] == p].sort_values("guidance")
            if gp.empty:
                continue
            kw = dict(color=colors[p], marker="o", label=p)
            row[0].plot(gp["guidance"], gp["recognizability"], **kw)
            row[1].plot(gp["guidance"], gp["diversity"], **kw)
            row[2].plot(gp["recognizability"], gp["diversity"], **kw, alpha=0.8)
            for _, r in gp.iterrows():
                row[2].annotate(f"{r['guidance']:g}", (r["recognizability"], r["diversity"]), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")
        fam = g["family"].iloc[0]
        guid = "guidance t (Muse)" if fam == "masked_token" else "guidance scale"
        row[0].set(xlabel=guid, ylabel="recognizability", title=f"{model} ({fam})")
        row[1].set(xlabel=guid, ylabel="diversity", title=f"{model}: diversity")
        row[2].set(xlabel="recognizability", ylabel="diversity", title=f"{model}: the quality plane")
        for ax in row:
            ax.grid(True, alpha=0.3)
        row[0].legend(fontsize=7, title="prompt set", title_fontsize=7)
    fig.suptitle(f"Guidance sweep per T2I family (features: {feature_space})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png)
