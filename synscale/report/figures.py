"""The report's cross-run figures (matplotlib, Agg):

* k of every fitted run as bars with its 95% CI (Fig. 1);
* scaling curves of every fitted run on one log-log plot, fits drawn over their range (Fig. 1, 3);
* the quality plane: recognizability against diversity, FID and LPIPS, coloured by -log L at D_I,
  the performance at 1.3M of the paper (Fig. 2, A1-A4);
* out-of-distribution scaling, one panel per OOD set (Fig. 4);
* a sample grid per run (classes x images of its synthetic test set).

The summary table and the per-scale tables: ``synscale.report.tables``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from synscale.report.axes import finish, pyplot


def k_bars(fits: Sequence[dict], out_png) -> None:
    """k of every fitted run as a bar with its CI from the scaling JSON (``k_ci``, the level in
    ``ci_level``), sorted by k (Fig. 1)."""
    plt = pyplot()
    fits = sorted(fits, key=lambda f: f["k"])
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.38 * max(1, len(fits))), dpi=110)
    if not fits:
        ax.text(0.5, 0.5, "no fitted runs", ha="center", transform=ax.transAxes)
    y = np.arange(len(fits))
    k = np.array([f["k"] for f in fits], float)
    cis = [f.get("k_ci") or [np.nan, np.nan] for f in fits]
    lo = np.array([c[0] if c[0] is not None else np.nan for c in cis], float)
    hi = np.array([c[1] if c[1] is not None else np.nan for c in cis], float)
    colors = ["tab:grey" if f.get("model") == "real" else "tab:blue" for f in fits]
    ax.barh(y, k, color=colors, alpha=0.8)
    has = np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(k[has], y[has], xerr=[k[has] - lo[has], hi[has] - k[has]], fmt="none", ecolor="k", capsize=3,
                lw=1)
    for yi, ki, hii in zip(y, k, hi):
        ax.annotate(f"{ki:.3f}", (np.nanmax([ki, hii]), yi), xytext=(4, -3), textcoords="offset points", fontsize=7)
    ax.set_yticks(y, [f["run"] for f in fits], fontsize=8)
    levels = sorted({f.get("ci_level") for f in fits if f.get("k_ci")} - {None})
    level = f"{levels[0]:.0%} CI" if len(levels) == 1 else "CI"
    ax.set(xlabel=f"scaling ability k (bars: {level} of the fit; grey: real data)",
           title="scaling ability of every fitted run")
    ax.axvline(0, c="k", lw=0.6)
    ax.grid(True, axis="x", alpha=0.3)
    finish(fig, out_png)


def scaling_curves(fits: Sequence[dict], out_png) -> None:
    """Every fitted run's val loss against D, with its fitted line over the fit range (Fig. 1, 3)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for i, f in enumerate(fits):
        color = plt.cm.tab10(i % 10)
        d = np.array([p["scale"] for p in f["points"]], float)
        loss = np.array([p["val_loss"] for p in f["points"]], float)
        std = [0.0 if p.get("val_loss_std") is None else p["val_loss_std"] for p in f["points"]]
        ax.errorbar(d, loss, yerr=std, fmt="o", color=color, ms=4, capsize=2)
        xs = np.geomspace(min(f["fit_scales"]), max(f["fit_scales"]), 50)
        ax.plot(xs, f["L_at_DI"] * (xs / f["reference_scale_D_I"]) ** (-f["k"]), "-", color=color,
                label=f"{f['run']}: k={f['k']:.3f}")
    if fits:
        ax.axvline(fits[0]["reference_scale_D_I"], ls=":", c="grey", lw=0.8)
        ax.legend(fontsize=7)
    ax.set(xlabel="training images D", ylabel="val cross-entropy loss", title="scaling of every run (dotted: D_I)")
    ax.grid(True, which="both", alpha=0.3)
    finish(fig, out_png)


def quality_plane(df, out_png) -> None:
    """Recognizability against diversity, FID and LPIPS, coloured by -log L at D_I (Fig. 2: the
    paper's performance at 1.3M); runs without a value at D_I are hollow."""
    plt = pyplot()
    d = df[df["recognizability"].notna()]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), dpi=110, layout="constrained")
    perf = d["neg_log_L_at_DI"].astype(float)
    known = perf.notna()
    lo, hi = (float(perf[known].min()), float(perf[known].max())) if known.any() else (0.0, 1.0)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.05, hi + 0.05
    sc = None
    for ax, m in zip(axes, ("diversity", "fid", "lpips")):
        if d.empty:
            ax.text(0.5, 0.5, "no synthetic runs", ha="center", transform=ax.transAxes)
            continue
        x, y = d["recognizability"].astype(float), d[m].astype(float)
        sc = ax.scatter(x[known], y[known], c=perf[known], cmap="viridis", vmin=lo, vmax=hi, s=28)
        if (~known).any():
            ax.scatter(x[~known], y[~known], facecolors="none", edgecolors="grey", s=28, label="not measured at D_I")
            ax.legend(fontsize=7)
        for _, r in d.iterrows():
            ax.annotate(r["run"], (r["recognizability"], r[m]), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set(xlabel="recognizability", ylabel=m, title=f"recognizability vs {m}")
        ax.grid(True, alpha=0.3)
    if sc is not None:
        fig.colorbar(sc, ax=list(axes), label="-log L at D_I (performance at D_I)", shrink=0.8)
    space = d["fid_feature_space"].dropna().unique()
    fig.suptitle("quality of the synthetic test sets" + (f" (FID features: {space[0]})" if len(space) else ""),
                 fontsize=9)
    finish(fig, out_png, tight=False)


def ood_scaling(fits: Sequence[dict], out_png) -> None:
    """Per OOD set, every fitted run's OOD loss against D with its fit (Fig. 4)."""
    plt = pyplot()
    names = sorted({n for f in fits for n in f.get("ood_fits", {})})
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5.5 * max(1, len(names)), 4), dpi=110, squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.set_xscale("log")
        ax.set_yscale("log")
        for i, f in enumerate(fits):
            color = plt.cm.tab10(i % 10)
            pts = [p for p in f["points"] if name in p["ood"]]
            ax.plot([p["scale"] for p in pts], [p["ood"][name]["loss"] for p in pts], "o", color=color, ms=4)
            of = (f.get("ood_fits") or {}).get(name, {}).get("loss")
            if of:
                xs = np.geomspace(min(f["fit_scales"]), max(f["fit_scales"]), 50)
                ax.plot(xs, of["L_at_DI"] * (xs / f["reference_scale_D_I"]) ** (-of["k"]), "-", color=color,
                        label=f"{f['run']}: k={of['k']:.3f}")
        ax.set(xlabel="training images D", ylabel="OOD loss", title=f"out of distribution: {name}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    finish(fig, out_png)


def sample_grid(images: np.ndarray, labels: np.ndarray, names: Sequence[str], out_png, title: str,
                max_classes: int = 10, per_class: int = 8) -> None:
    """Classes (rows, the first ``max_classes``) x images (``per_class``) of a test set."""
    plt = pyplot()
    classes = [c for c in range(len(names)) if (labels == c).any()][:max_classes]
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 0.9, len(classes) * 0.95 + 0.4),
                             dpi=110, squeeze=False)
    for row, c in zip(axes, classes):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j, ax in enumerate(row):
            ax.axis("off")
            if j < len(idx):
                show_image(ax, images[idx[j]])
        row[0].set_title(names[c], fontsize=7, loc="left")
    fig.suptitle(title, fontsize=9)
    finish(fig, out_png)


def show_image(ax, image: np.ndarray) -> None:
    """A uint8 H x W x C image (grey when C is 1) on ``ax``."""
    ax.imshow(image[:, :, 0] if image.shape[2] == 1 else image, cmap="gray" if image.shape[2] == 1 else None,
              vmin=0, vmax=255)
