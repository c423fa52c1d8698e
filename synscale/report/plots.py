"""Figures (matplotlib, Agg backend), saved for the report."""
from __future__ import annotations

from pathlib import Path

from synscale.io import save_figure


def scaling_plot(fit: dict, out_png: str | Path, xlabel: str = "training images D",
                 ylabel: str = "cross-entropy loss (real val)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pts = fit["points"]
    d = np.array([p["scale"] for p in pts], dtype=float)
    loss = np.array([p["val_loss"] for p in pts], dtype=float)
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    std = [p.get("val_loss_std") for p in pts]
    if any(v is not None for v in std):
        n = max(p.get("n_seeds", 1) for p in pts)
        ax.errorbar(d, loss, yerr=[0.0 if v is None else v for v in std], fmt="o", capsize=3,
                    label=f"val loss (mean ± sd over {n} seeds)")
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.loglog(d, loss, "o", label="val loss")
    lo, hi = min(fit["fit_scales"]), max(fit["fit_scales"])
    xs = np.geomspace(lo, hi, 50)
    ys = fit["L_at_DI"] * (xs / fit["reference_scale_D_I"]) ** (-fit["k"])
    ax.loglog(xs, ys, "-", label=f"fit k={fit['k']:.3f}, R²={fit['r2']:.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(fit["run"])
    from synscale.report.figures import tidy_log_axes

    tidy_log_axes(ax)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_png)
