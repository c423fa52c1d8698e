"""The CLIP study's figures: Fig. 9 (zero-shot loss against captions, every arm), Fig. A14 (the
downstream average), Fig. A15 (zero-shot top-1 per downstream dataset), Table A11's CFG sweep and
Table A10 (S vs L recipe)."""
from __future__ import annotations

import math

from synscale.report.axes import finish, pyplot


def clip_summary_figure(df, arms: dict, out_png: str) -> None:
    """``df``: one row per arm and scale (captions, val_loss, downstream_average, in_fit); ``arms``:
    arm -> {k}. Scales outside the fit are drawn hollow."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for arm, g in df.groupby("arm", sort=False):
        line, = axes[0].plot(g["captions"], g["val_loss"], "-", label=f"{arm} (k={arms[arm]['k']:.3f})")
        fitted = g["in_fit"].fillna(True).astype(bool) if "in_fit" in g else [True] * len(g)
        for x, y, inside in zip(g["captions"], g["val_loss"], fitted):
            axes[0].plot([x], [y], "o", color=line.get_color(), mfc=line.get_color() if inside else "none")
        axes[1].plot(g["captions"], g["downstream_average"], "o-", label=arm)
    for ax, ylab, title in ((axes[0], "zero-shot val loss", "Fig. 9: zero-shot loss (hollow: not fitted)"),
                            (axes[1], "zero-shot top-1, downstream average", "Fig. A14: downstream average")):
        ax.set_xscale("log")
        ax.set_xlabel("captions")
        ax.set_ylabel(ylab)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_yscale("log")
    finish(fig, out_png)


def per_dataset_figure(df, out_png: str) -> None:
    """Fig. A15: one panel per dataset (val first), zero-shot top-1 against captions, one line per
    arm. ``df``: columns of ``synscale.clip.study.PER_DATASET_COLUMNS``."""
    plt = pyplot()
    sets = ["val"] + sorted(set(df["dataset"]) - {"val"})
    cols = min(4, len(sets))
    rows = math.ceil(len(sets) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, sets):
        for arm, g in df[df["dataset"] == name].groupby("arm", sort=False):
            g = g.sort_values("captions")
            ax.plot(g["captions"], g["top1"], "o-", ms=3, label=arm)
        ax.set_xscale("log")
        ax.set_title("ImageNet-like val" if name == "val" else name, fontsize=9)
        ax.set_xlabel("captions", fontsize=8)
        ax.set_ylabel("zero-shot top-1", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="both")
    for ax in list(axes.flat)[len(sets):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Fig. A15: zero-shot top-1 per dataset against captions", fontsize=10)
    finish(fig, out_png)


def cfg_sweep_figure(df, out_png: str) -> None:
    """``df``: one row per guidance (val_top1, downstream_average)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(df["guidance"], df["val_top1"], "o-", label="val")
    ax.plot(df["guidance"], df["downstream_average"], "s--", label="downstream average")
    ax.set_xticks(list(df["guidance"]))
    ax.set_xlabel("guidance (CFG)")
    ax.set_ylabel("zero-shot top-1")
    ax.set_title("Table A11: CFG sweep, synthetic captions")
    ax.legend()
    finish(fig, out_png)


def recipe_figure(df, out_png: str) -> None:
    """Table A10: zero-shot val top-1 and the downstream average per scale, one bar per recipe,
    the values written on the bars. ``df``: columns of ``synscale.clip.study.RECIPE_COLUMNS``."""
    plt = pyplot()
    scales = sorted(set(df["scale"]))
    recipes = list(dict.fromkeys(df["recipe"]))
    width = 0.8 / max(1, len(recipes))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, col, ylab in ((axes[0], "val_top1", "zero-shot val top-1"),
                          (axes[1], "downstream_average", "zero-shot top-1, downstream average")):
        for i, r in enumerate(recipes):
            g = df[df["recipe"] == r].set_index("scale")
            xs = [j + (i - (len(recipes) - 1) / 2) * width for j in range(len(scales))]
            vals = [float(g[col].get(s, float("nan"))) if s in g.index else float("nan") for s in scales]
            bars = ax.bar(xs, [0 if math.isnan(v) else v for v in vals], width, label=f"recipe {r}")
            for b, v in zip(bars, vals):
                ax.text(b.get_x() + b.get_width() / 2, b.get_height(), "-" if math.isnan(v) else f"{v:.3f}",
                        ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(scales)))
        ax.set_xticklabels([f"{s:,}" for s in scales])
        ax.set_xlabel("captions (real arm)")
        ax.set_ylabel(ylab)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    model = ", ".join(sorted({str(m) for m in df["model"] if m}))
    fig.suptitle(f"Table A10: recipe S vs L{' (' + model + ')' if model else ''}", fontsize=10)
    finish(fig, out_png)
