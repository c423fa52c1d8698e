"""A run's scaling plot (matplotlib, Agg backend), saved for the report."""
from __future__ import annotations

from pathlib import Path

from synscale.report.axes import finish, pyplot


def scaling_plot(fit: dict, out_png: str | Path, xlabel: str = "training images D",
                 ylabel: str = "cross-entropy loss (real val)") -> None:
    import numpy as np

    plt = pyplot()
    pts = fit["points"]
    d = np.array([p["scale"] for p in pts], dtype=float)
    loss = np.array([p["val_loss"] for p in pts], dtype=float)
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    ax.set_xscale("log")
    ax.set_yscale("log")
    std = [p.get("val_loss_std") for p in pts]
    if any(v is not None for v in std):
        n = max(p.get("n_seeds", 1) for p in pts)
        ax.errorbar(d, loss, yerr=[0.0 if v is None else v for v in std], fmt="o", capsize=3,
                    label=f"val loss (mean ± sd over {n} seeds)")
    else:
        ax.plot(d, loss, "o", label="val loss")
    lo, hi = min(fit["fit_scales"]), max(fit["fit_scales"])
    xs = np.geomspace(lo, hi, 50)
    ys = fit["L_at_DI"] * (xs / fit["reference_scale_D_I"]) ** (-fit["k"])
    ax.plot(xs, ys, "-", label=f"fit k={fit['k']:.3f}, R²={fit['r2']:.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(fit["run"])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    finish(fig, out_png)
