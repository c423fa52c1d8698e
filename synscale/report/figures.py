"""The report's cross-run figures and summary table (matplotlib, Agg):

* scaling curves of every fitted run on one log-log plot, fits drawn over their range (Fig. 1, 3);
* the quality plane: recognizability against diversity, FID and LPIPS, coloured by top-1 at the
  largest (or only) scale (Fig. 2, A1-A4);
* out-of-distribution scaling, one panel per OOD set (Fig. 4);
* a sample grid per run (classes x images of its synthetic test set);
* one summary table across runs (k with CIs, -log L at D_I, R^2, knee, quality, top-1, probes),
  with the paper's tabulated values beside the measured ones when the config is the paper's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from synscale.io import save_figure

SUMMARY_COLUMNS = ("run", "model", "guidance", "prompt", "scales", "k", "k_ci_low", "k_ci_high", "k_boot_low",
                   "k_boot_high", "neg_log_L_at_DI", "r2", "knee_scale", "largest_scale", "val_top1_at_largest",
                   "val_loss_at_largest", "probe_average", "recognizability", "diversity", "fid", "lpips",
                   "fid_feature_space")
PAPER_COLUMNS = ("in_val_loss", "in_val_top1", "recognizability", "diversity", "fid", "lpips")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tidy_log_axes(ax) -> None:
    """Log axes without minor-tick labels (they overlap the major ones on short ranges)."""
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _save(fig, out_png) -> None:
    fig.tight_layout()
    save_figure(fig, out_png)


def summary_rows(runs: dict[str, dict]) -> list[dict]:
    """One row per run from ``runs[name] = {"model", "guidance", "prompt", "fit" (scaling JSON or
    None), "last_eval" (evaluation JSON at the largest scale or None), "quality" (JSON or None)}``."""
    rows = []
    for name, r in runs.items():
        fit, ev, q = r.get("fit"), r.get("last_eval"), r.get("quality") or {}
        row = {"run": name, "model": r["model"], "guidance": r["guidance"], "prompt": r["prompt"],
               "scales": len(fit["points"]) if fit else (1 if ev else 0)}
        if fit:
            ci, boot = fit.get("k_ci") or [None, None], fit.get("k_ci_boot") or [None, None]
            broken = fit.get("broken") or {}
            row.update(k=fit["k"], k_ci_low=ci[0], k_ci_high=ci[1], k_boot_low=boot[0], k_boot_high=boot[1],
                       neg_log_L_at_DI=fit["neg_log_L_at_DI"], r2=fit["r2"],
                       knee_scale=broken.get("knee_scale") if broken.get("preferred") else None)
        if ev:
            row.update(largest_scale=ev["scale"], val_top1_at_largest=ev["val"]["top1"],
                       val_loss_at_largest=ev["val"]["loss"], probe_average=ev.get("probe_average"))
        for m in ("recognizability", "diversity", "fid", "lpips", "fid_feature_space"):
            row[m] = q.get(m)
        rows.append(row)
    return rows


def summary_table(rows: Sequence[dict], paper_csv: str | Path | None = None):
    """The summary DataFrame; with ``paper_csv`` (data/paper_grid_1p3M.csv) the paper's tabulated
    values of the same (model, guidance, prompt) stand beside the measured ones as ``paper_*``."""
    import pandas as pd

    df = pd.DataFrame(list(rows)).reindex(columns=list(SUMMARY_COLUMNS))
    if paper_csv:
        paper = pd.read_csv(paper_csv)
        paper = paper.rename(columns={"cfg": "guidance", **{c: f"paper_{c}" for c in PAPER_COLUMNS}})
        paper = paper[["model", "guidance", "prompt", *(f"paper_{c}" for c in PAPER_COLUMNS)]]
        df = df.merge(paper, on=["model", "guidance", "prompt"], how="left")
    return df


def table_html(df, title: str) -> str:
    """The summary table as a small standalone HTML page (the report embeds it)."""
    body = df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-", border=0, classes="summary")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + title + "</title><style>"
            "body{font-family:sans-serif;font-size:12px} table.summary{border-collapse:collapse}"
            "table.summary td,table.summary th{padding:3px 6px;border-bottom:1px solid #ddd;text-align:right}"
            "table.summary th{background:#f0f0f0}</style></head><body><h2>" + title + "</h2>" + body + "</body></html>")


def scaling_curves(fits: Sequence[dict], out_png) -> None:
    """Every fitted run's val loss against D, with its fitted line over the fit range (Fig. 1, 3)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    for i, f in enumerate(fits):
        color = plt.cm.tab10(i % 10)
        d = np.array([p["scale"] for p in f["points"]], float)
        loss = np.array([p["val_loss"] for p in f["points"]], float)
        std = [0.0 if p.get("val_loss_std") is None else p["val_loss_std"] for p in f["points"]]
        ax.errorbar(d, loss, yerr=std, fmt="o", color=color, ms=4, capsize=2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        xs = np.geomspace(min(f["fit_scales"]), max(f["fit_scales"]), 50)
        ax.loglog(xs, f["L_at_DI"] * (xs / f["reference_scale_D_I"]) ** (-f["k"]), "-", color=color,
                  label=f"{f['run']}: k={f['k']:.3f}")
    if fits:
        ax.axvline(fits[0]["reference_scale_D_I"], ls=":", c="grey", lw=0.8)
    ax.set(xlabel="training images D", ylabel="val cross-entropy loss", title="scaling of every run (dotted: D_I)")
    tidy_log_axes(ax)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, out_png)


def quality_plane(df, out_png) -> None:
    """Recognizability against diversity, FID and LPIPS, coloured by top-1 at the largest scale."""
    plt = _plt()
    d = df[df["recognizability"].notna()]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), dpi=110)
    top1 = d["val_top1_at_largest"].astype(float)
    lo, hi = (float(top1.min()), float(top1.max())) if top1.notna().any() else (0.0, 1.0)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.05, hi + 0.05
    sc = None
    for ax, m in zip(axes, ("diversity", "fid", "lpips")):
        if d.empty:
            ax.text(0.5, 0.5, "no synthetic runs", ha="center", transform=ax.transAxes)
            continue
        sc = ax.scatter(d["recognizability"].astype(float), d[m].astype(float), c=top1, cmap="viridis", vmin=lo,
                        vmax=hi, s=28)
        for _, r in d.iterrows():
            ax.annotate(r["run"], (r["recognizability"], r[m]), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set(xlabel="recognizability", ylabel=m, title=f"recognizability vs {m}")
        ax.grid(True, alpha=0.3)
    if sc is not None:
        fig.colorbar(sc, ax=list(axes), label="val top-1 at the largest scale", shrink=0.8)
    space = d["fid_feature_space"].dropna().unique()
    fig.suptitle("quality of the synthetic test sets" + (f" (FID features: {space[0]})" if len(space) else ""),
                 fontsize=9)
    save_figure(fig, out_png)


def ood_scaling(fits: Sequence[dict], out_png) -> None:
    """Per OOD set, every fitted run's OOD loss against D with its fit (Fig. 4)."""
    plt = _plt()
    names = sorted({n for f in fits for n in f.get("ood_fits", {})})
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5.5 * max(1, len(names)), 4), dpi=110, squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, f in enumerate(fits):
            color = plt.cm.tab10(i % 10)
            pts = [p for p in f["points"] if name in p["ood"]]
            d = np.array([p["scale"] for p in pts], float)
            ax.loglog(d, [p["ood"][name]["loss"] for p in pts], "o", color=color, ms=4)
            of = (f.get("ood_fits") or {}).get(name, {}).get("loss")
            if of:
                xs = np.geomspace(min(f["fit_scales"]), max(f["fit_scales"]), 50)
                ax.loglog(xs, of["L_at_DI"] * (xs / f["reference_scale_D_I"]) ** (-of["k"]), "-", color=color,
                          label=f"{f['run']}: k={of['k']:.3f}")
        ax.set(xlabel="training images D", ylabel="OOD loss", title=f"out of distribution: {name}")
        tidy_log_axes(ax)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, out_png)


def sample_grid(images: np.ndarray, labels: np.ndarray, names: Sequence[str], out_png, title: str,
                max_classes: int = 10, per_class: int = 8) -> None:
    """Classes (rows, the first ``max_classes``) x images (``per_class``) of a test set."""
    plt = _plt()
    classes = [c for c in range(len(names)) if (labels == c).any()][:max_classes]
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 0.9, len(classes) * 0.95 + 0.4),
                             dpi=110, squeeze=False)
    for row, c in zip(axes, classes):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j, ax in enumerate(row):
            ax.axis("off")
            if j < len(idx):
                im = images[idx[j]]
                ax.imshow(im[:, :, 0] if im.shape[2] == 1 else im, cmap="gray" if im.shape[2] == 1 else None,
                          vmin=0, vmax=255)
        row[0].set_title(names[c], fontsize=7, loc="left")
    fig.suptitle(title, fontsize=9)
    _save(fig, out_png)
