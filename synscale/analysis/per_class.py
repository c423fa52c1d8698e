"""Per-class analysis of a synthetic run (the paper's §5 and App. E).

* per-class k (from the fit) correlated, Spearman and Pearson with p-values, with each per-class
  quality metric of the run's synthetic test set (recognizability, diversity, FID, LPIPS);
* the paper's class groups, by a rule whose thresholds come from the config
  (``analysis.groups``): a class is *scaling* when its k is at least the ``k_quantile`` quantile of
  the classes' k; otherwise *easy* when its top-1 at the largest scale is at least the
  ``accuracy_quantile`` quantile, else *poor* (low k and low accuracy);
* summaries over k-deciles (mean k, quality and top-1 per decile of classes sorted by k);
* the real-data run's per-class k and top-1 beside the synthetic ones;
* lists like Table A9: the classes of each group and the classes of highest and lowest k.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from synscale.io import save_figure

METRICS = ("recognizability", "diversity", "fid", "lpips")
GROUPS = ("poor", "easy", "scaling")


def correlate(x: Sequence[float], y: Sequence[float]) -> dict:
    """Spearman and Pearson correlations with two-sided p-values over the pairs where both are
    defined; None where fewer than 3 pairs or a constant variable."""
    from scipy.stats import pearsonr, spearmanr

    x = np.asarray([np.nan if v is None else v for v in x], dtype=float)
    y = np.asarray([np.nan if v is None else v for v in y], dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"n": int(len(x)), "spearman": None, "spearman_p": None, "pearson": None, "pearson_p": None}
    s, p = spearmanr(x, y), pearsonr(x, y)
    return {"n": int(len(x)), "spearman": float(s.statistic), "spearman_p": float(s.pvalue),
            "pearson": float(p.statistic), "pearson_p": float(p.pvalue)}


def groups(k: np.ndarray, acc: np.ndarray, k_quantile: float, accuracy_quantile: float) -> tuple[list[str], dict]:
    """The group of each class and the thresholds the rule used."""
    k_thr = float(np.quantile(k, k_quantile))
    a_thr = float(np.quantile(acc, accuracy_quantile))
    out = ["scaling" if ki >= k_thr else ("easy" if ai >= a_thr else "poor") for ki, ai in zip(k, acc)]
    return out, {"k_threshold": k_thr, "accuracy_threshold": a_thr, "k_quantile": k_quantile,
                 "accuracy_quantile": accuracy_quantile}


def deciles(k: np.ndarray, columns: dict[str, Sequence], n_bins: int = 10) -> list[dict]:
    """Classes sorted by k, split into ``n_bins`` near-equal bins (fewer when there are fewer
    classes); per bin the mean of k and of each column."""
    order = np.argsort(k, kind="stable")
    out = []
    for i, idx in enumerate(np.array_split(order, min(n_bins, len(k)))):
        row = {"bin": i + 1, "n_classes": int(len(idx)), "k": float(np.mean(k[idx]))}
        for name, vals in columns.items():
            v = np.asarray([np.nan if vals[j] is None else vals[j] for j in idx], dtype=float)
            row[name] = float(np.nanmean(v)) if np.isfinite(v).any() else None
        out.append(row)
    return out


def analyze(fit: dict, last_eval: dict, quality: dict, names: Sequence[str], k_quantile: float = 0.5,
            accuracy_quantile: float = 0.5, list_size: int = 10, real_fit: dict | None = None,
            real_eval: dict | None = None) -> dict:
    """The per-class analysis of one fitted run (its scaling JSON, its evaluation at the largest
    scale, its quality JSON), with the real-data run beside it when given."""
    k = np.array([c["k"] for c in fit["per_class"]], dtype=float)
    acc = np.asarray(last_eval["val"]["per_class_top1"], dtype=float)
    n = len(k)
    per_metric = {m: quality.get(f"per_class_{m}") for m in METRICS if quality.get(f"per_class_{m}") is not None}
    corr = {m: correlate(k, v) for m, v in per_metric.items()}
    corr["top1_at_largest"] = correlate(k, acc)
    grp, rule = groups(k, acc, k_quantile, accuracy_quantile)
    classes = []
    for c in range(n):
        row = {"class_index": c, "name": names[c], "k": float(k[c]), "top1_at_largest": float(acc[c]),
               "group": grp[c], **{m: v[c] for m, v in per_metric.items()}}
        if real_fit is not None:
            row["k_real"] = float(real_fit["per_class"][c]["k"])
        if real_eval is not None:
            row["top1_real_at_largest"] = float(real_eval["val"]["per_class_top1"][c])
        classes.append(row)
    order = np.argsort(-k, kind="stable")
    out = {
        "run": fit["run"], "n_classes": n, "largest_scale": last_eval["scale"],
        "correlations_with_k": corr,
        "group_rule": rule,
        "groups": {g: [classes[c]["name"] for c in range(n) if grp[c] == g] for g in GROUPS},
        "group_summary": {g: _summary([classes[c] for c in range(n) if grp[c] == g], per_metric) for g in GROUPS},
        "k_deciles": deciles(k, {**per_metric, "top1_at_largest": acc.tolist()}),
        "highest_k": [classes[c]["name"] for c in order[:list_size]],
        "lowest_k": [classes[c]["name"] for c in order[::-1][:list_size]],
        "classes": classes,
    }
    if real_eval is not None:
        real_acc = np.asarray(real_eval["val"]["per_class_top1"], dtype=float)
        out["real"] = {"largest_scale": real_eval["scale"],
                       "classes_synthetic_beats_real": [names[c] for c in range(n) if acc[c] > real_acc[c]],
                       "k_vs_real_k": correlate(k, [r["k"] for r in real_fit["per_class"]]) if real_fit else None,
                       "mean_top1_gap": float(np.mean(acc - real_acc))}
    return out


def _summary(rows: list[dict], per_metric: dict) -> dict:
    if not rows:
        return {"n_classes": 0}
    out = {"n_classes": len(rows), "k": float(np.mean([r["k"] for r in rows])),
           "top1_at_largest": float(np.mean([r["top1_at_largest"] for r in rows]))}
    for m in per_metric:
        v = [r[m] for r in rows if r.get(m) is not None]
        out[m] = float(np.mean(v)) if v else None
    return out


def plot(analysis: dict, out_png: str | Path) -> None:
    """Fig. 5-7 in one figure: classes by k and top-1 at the largest scale (coloured by group, real
    data's k beside them), k against recognizability, and the k-decile means of the quality metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cls = analysis["classes"]
    colors = {"poor": "tab:red", "easy": "tab:green", "scaling": "tab:blue"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), dpi=110)
    ax = axes[0]
    for g in GROUPS:
        rows = [c for c in cls if c["group"] == g]
        ax.scatter([c["k"] for c in rows], [c["top1_at_largest"] for c in rows], c=colors[g], label=g, s=22)
    if cls and "k_real" in cls[0] and "top1_real_at_largest" in cls[0]:
        ax.scatter([c["k_real"] for c in cls], [c["top1_real_at_largest"] for c in cls], marker="x", c="grey",
                   s=18, label="real data")
    if len(cls) <= 40:
        for c in cls:
            ax.annotate(c["name"], (c["k"], c["top1_at_largest"]), fontsize=6, xytext=(2, 2),
                        textcoords="offset points")
    rule = analysis["group_rule"]
    ax.axvline(rule["k_threshold"], ls=":", c="k", lw=0.8)
    ax.axhline(rule["accuracy_threshold"], ls=":", c="k", lw=0.8)
    ax.set(xlabel="per-class k", ylabel=f"top-1 at D={analysis['largest_scale']}",
           title="classes by scaling and accuracy")
    ax.legend(fontsize=7)
    ax = axes[1]
    if cls and "recognizability" in cls[0]:
        ax.scatter([c["recognizability"] for c in cls], [c["k"] for c in cls],
                   c=[colors[c["group"]] for c in cls], s=22)
        r = analysis["correlations_with_k"].get("recognizability") or {}
        rho = r.get("spearman")
        ax.set_title("k vs recognizability" + (f" (Spearman {rho:.2f})" if rho is not None else ""))
    ax.set(xlabel="per-class recognizability", ylabel="per-class k")
    ax = axes[2]
    dec = analysis["k_deciles"]
    for m in ("recognizability", "diversity", "top1_at_largest"):
        v = [d.get(m) for d in dec]
        if any(x is not None for x in v):
            ax.plot([d["bin"] for d in dec], [np.nan if x is None else x for x in v], marker="o", label=m)
    ax.set(xlabel="k bin (low to high)", ylabel="mean over the bin's classes", title="k-deciles")
    ax.legend(fontsize=7)
    for a in axes:
        a.grid(True, alpha=0.3)
    fig.suptitle(f"{analysis['run']}: per-class analysis", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png)
