"""Figures and the table of a run's per-class analysis (``synscale.analysis.per_class``):

* the plane of per-class k against performance at D_I (Fig. 6), coloured by diversity, by
  recognizability and by performance at a larger scale (the paper's 4M), the groups marked; below
  it the groups beside the real-data run's classes, k against recognizability and the k-deciles;
* each chosen class's loss against D, synthetic beside real data (Fig. 7, A7, A9, A11);
* sample images of the chosen classes, by group (Fig. 8, A8, A10, A12);
* Table A9: the classes of lowest k with their group.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from synscale.report.axes import finish, pyplot
from synscale.report.figures import show_image
from synscale.report.tables import table_html

MARKERS = {"poor": "v", "easy": "^", "scaling": "D", "other": "o"}
COLORS = {"poor": "tab:red", "easy": "tab:green", "scaling": "tab:blue", "other": "tab:grey"}
PERF = "neg_log_L_at_DI"


def _thresholds(ax, rule: dict) -> None:
    for x in (rule["k_high"], rule["k_low"]):
        ax.axvline(x, ls=":", c="k", lw=0.7)
    for y in (rule["performance_strong"], rule["performance_low"]):
        ax.axhline(y, ls=":", c="k", lw=0.7)


def _fmt_scale(d: float) -> str:
    from synscale.report.axes import plain_number

    return plain_number(d)


def groups_figure(analysis: dict, out_png) -> None:
    """Fig. 6 (top row) and the groups, correlations and k-deciles (bottom row)."""
    plt = pyplot()
    cls, rule = analysis["classes"], analysis["group_rule"]
    di = _fmt_scale(analysis["reference_scale_D_I"])
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.6), dpi=110)
    colourings = (("diversity", "per-class diversity"), ("recognizability", "per-class recognizability"),
                  ("neg_log_L_at_colour_scale", f"-log L at D={_fmt_scale(analysis['colour_scale'])}"))
    for ax, (key, label) in zip(axes[0], colourings):
        vals = [c.get(key) for c in cls]
        if any(v is not None for v in vals):
            for g in MARKERS:
                rows = [c for c in cls if c["group"] == g and c.get(key) is not None]
                sc = ax.scatter([c["k"] for c in rows], [c[PERF] for c in rows], c=[c[key] for c in rows],
                                marker=MARKERS[g], cmap="viridis", s=26, vmin=np.nanmin(np.array(vals, float)),
                                vmax=np.nanmax(np.array(vals, float)), label=g)
            fig.colorbar(sc, ax=ax, label=label, shrink=0.85)
        else:
            ax.text(0.5, 0.5, f"no {label}", ha="center", transform=ax.transAxes)
        _thresholds(ax, rule)
        ax.set(xlabel="per-class k", ylabel=f"per-class -log L at D_I={di}", title=f"Fig. 6: coloured by {label}")
        ax.legend(fontsize=7, title="group (marker)", title_fontsize=7)
    ax = axes[1][0]
    for g in MARKERS:
        rows = [c for c in cls if c["group"] == g]
        ax.scatter([c["k"] for c in rows], [c[PERF] for c in rows], c=COLORS[g], marker=MARKERS[g], s=24,
                   label=f"{g} ({len(rows)})")
    if cls and "k_real" in cls[0]:
        ax.scatter([c["k_real"] for c in cls], [c[f"{PERF}_real"] for c in cls], marker="x", c="k", s=16,
                   alpha=0.5, label="real data")
    if len(cls) <= 40:
        for c in cls:
            ax.annotate(c["name"], (c["k"], c[PERF]), fontsize=6, xytext=(2, 2), textcoords="offset points")
    _thresholds(ax, rule)
    ax.set(xlabel="per-class k", ylabel=f"per-class -log L at D_I={di}", title="groups (dotted: the rule's thresholds)")
    ax.legend(fontsize=7)
    ax = axes[1][1]
    if cls and cls[0].get("recognizability") is not None:
        ax.scatter([c["recognizability"] for c in cls], [c["k"] for c in cls], c=[COLORS[c["group"]] for c in cls],
                   s=20)
        rho = (analysis["correlations_with_k"].get("recognizability") or {}).get("spearman")
        ax.set_title("k vs recognizability" + (f" (Spearman {rho:.2f})" if rho is not None else ""))
    ax.set(xlabel="per-class recognizability", ylabel="per-class k")
    ax = axes[1][2]
    dec = analysis["k_deciles"]
    for m in ("recognizability", "diversity", PERF):
        v = [d.get(m) for d in dec]
        if any(x is not None for x in v):
            ax.plot([d["bin"] for d in dec], [np.nan if x is None else x for x in v], marker="o", label=m)
    ax.set(xlabel="k bin (low to high)", ylabel="mean over the bin's classes", title="k-deciles")
    ax.legend(fontsize=7)
    for a in axes.flat:
        a.grid(True, alpha=0.3)
    fig.suptitle(f"{analysis['run']}: per-class analysis", fontsize=10)
    finish(fig, out_png)


def _example_rows(analysis: dict) -> list[tuple[str, str]]:
    """(class name, group) of each chosen class."""
    group = {c["name"]: c["group"] for c in analysis["classes"]}
    return [(n, group[n]) for n in analysis["examples"]["names"]]


def curves_figure(analysis: dict, out_png) -> None:
    """Each chosen class's val loss against D: the synthetic run beside real data (Fig. 7, A7, A9, A11)."""
    plt = pyplot()
    rows = _example_rows(analysis)
    cur = analysis["curves"]
    ncol = min(4, max(1, len(rows)))
    nrow = max(1, math.ceil(len(rows) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.0 * nrow), dpi=110, squeeze=False)
    for ax in axes.flat[len(rows):]:
        ax.axis("off")
    if not rows:
        axes.flat[0].text(0.5, 0.5, "no example classes (no group has members)", ha="center",
                          transform=axes.flat[0].transAxes)
    for ax, (name, group) in zip(axes.flat, rows):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.plot(cur["scales"], cur["loss"][name], "o-", c=COLORS[group], ms=4, label="synthetic")
        if "real_loss" in cur:
            ax.plot(cur["real_scales"], cur["real_loss"][name], "s--", c="k", ms=4, label="real")
        ax.axvline(analysis["reference_scale_D_I"], ls=":", c="grey", lw=0.8)
        ax.set(title=f"{name} ({group})", xlabel="training images D", ylabel="class val loss")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{analysis['run']}: per-class scaling, synthetic vs real ({analysis['examples']['from']})",
                 fontsize=10)
    finish(fig, out_png)


def samples_figure(analysis: dict, images: dict[int, Sequence[np.ndarray]], per_class: int, out_png) -> None:
    """Rows: the chosen classes by group; columns: up to ``per_class`` of their generated training
    images (Fig. 8, A8, A10, A12)."""
    plt = pyplot()
    rows = list(zip(analysis["examples"]["classes"], _example_rows(analysis)))
    fig, axes = plt.subplots(max(1, len(rows)), per_class, figsize=(max(4.0, per_class * 1.0), len(rows) * 1.05 + 0.6),
                             dpi=110, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    if not rows:
        axes.flat[0].text(0, 0.5, "no example classes (no group has members)", transform=axes.flat[0].transAxes)
    for row, (c, (name, group)) in zip(axes, rows):
        for ax, im in zip(row, images.get(c, [])):
            show_image(ax, im)
        row[0].set_title(f"{group}: {name}", fontsize=7, loc="left", color=COLORS[group])
    fig.suptitle(f"{analysis['run']}: generated training images by group", fontsize=9)
    finish(fig, out_png)


def table_a9_html(analysis: dict) -> str:
    """Table A9: the classes of lowest k with their group, k and performance at D_I."""
    import pandas as pd

    df = pd.DataFrame(analysis["table_a9"])
    note = (f"the {len(df)} classes of lowest per-class k of {analysis['run']}; performance: "
            f"{analysis['performance']} (D_I = {analysis['reference_scale_D_I']:,}). Group thresholds: "
            + ", ".join(f"{k} {v:.4g}" for k, v in analysis["group_rule"].items() if isinstance(v, float)))
    return table_html(df, f"Table A9: {analysis['run']}, classes of lowest k", note)
