"""The CLIP study's figures: Fig. 9 (zero-shot loss against captions, every arm), Fig. A14 (the
downstream average) and Table A11's CFG sweep."""
from __future__ import annotations

from synscale.io import save_figure


def clip_summary_figure(df, arms: dict, out_png: str) -> None:
    """``df``: one row per arm and scale (captions, val_loss, downstream_average); ``arms``: arm -> {k}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for arm, g in df.groupby("arm", sort=False):
        axes[0].plot(g["captions"], g["val_loss"], "o-", label=f"{arm} (k={arms[arm]['k']:.3f})")
        axes[1].plot(g["captions"], g["downstream_average"], "o-", label=arm)
    for ax, ylab, title in ((axes[0], "zero-shot val loss", "Fig. 9: zero-shot loss"),
                            (axes[1], "zero-shot top-1, downstream average", "Fig. A14: downstream average")):
        ax.set_xscale("log")
        ax.set_xlabel("captions")
        ax.set_ylabel(ylab)
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_yscale("log")
    fig.tight_layout()
    save_figure(fig, out_png, dpi=120)


def cfg_sweep_figure(df, out_png: str) -> None:
    """``df``: one row per guidance (val_top1, downstream_average)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(df["guidance"], df["val_top1"], "o-", label="val")
    ax.plot(df["guidance"], df["downstream_average"], "s--", label="downstream average")
    ax.set_xlabel("guidance (CFG)")
    ax.set_ylabel("zero-shot top-1")
    ax.set_title("Table A11: CFG sweep, synthetic captions")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_png, dpi=120)
