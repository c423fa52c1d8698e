"""Per-class analysis of a synthetic run (the paper's §5 and App. E).

* per-class k (from the fit) correlated, Spearman and Pearson with p-values, with each per-class
  quality metric of the run's synthetic test set (recognizability, diversity, FID, LPIPS);
* the paper's class groups (§5.2, Fig. 6) on the plane of per-class k (x) against per-class
  performance at D_I (y: -log L at D_I, the intercept of the class's own fit of Eq. 2; the paper's
  performance at 1.3M), by the rule of ``analysis.groups``:

  - *easy* (upper right): high k and strong performance at D_I;
  - *scaling* (mid right): high k and a weaker performance at D_I;
  - *poor* (bottom left): low k and low performance at D_I;
  - *other*: the classes outside these three regions.

  High k: at least the ``k_quantile`` quantile of the classes' k; low k: below the
  ``low_k_quantile`` quantile. Strong performance: at least the upper of ``performance_quantiles``;
  low performance: below the lower one;
* summaries over k-deciles (mean k, quality and performance per decile of classes sorted by k);
* each class's loss at every scale of the run and of the real-data run (the curves of Fig. 7, A7,
  A9, A11) for chosen classes: ``analysis.examples.classes``, or each group's most typical members;
* the real-data run's per-class k and performance beside the synthetic ones;
* Table A9: the ``list_size`` classes of lowest k, with their group (and those of highest k).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

METRICS = ("recognizability", "diversity", "fid", "lpips")
GROUPS = ("poor", "easy", "scaling", "other")
PERFORMANCE = "neg_log_L_at_DI"


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


def check_rule(rule: dict) -> None:
    """The thresholds of ``analysis.groups`` in order, or an error naming the key."""
    if rule["low_k_quantile"] > rule["k_quantile"]:
        raise ValueError(f"analysis.groups: low_k_quantile ({rule['low_k_quantile']}) is above k_quantile "
                         f"({rule['k_quantile']}); low k must lie below high k")
    lo, hi = rule["performance_quantiles"]
    if lo > hi:
        raise ValueError(f"analysis.groups.performance_quantiles = [{lo}, {hi}]: give the lower quantile first")


def groups(k: np.ndarray, performance: np.ndarray, rule: dict) -> tuple[list[str], dict]:
    """The group of each class on the plane of k against performance at D_I, and the thresholds
    the rule used (``rule``: the ``analysis.groups`` section)."""
    check_rule(rule)
    k, performance = np.asarray(k, float), np.asarray(performance, float)
    k_high, k_low = float(np.quantile(k, rule["k_quantile"])), float(np.quantile(k, rule["low_k_quantile"]))
    p_low, p_strong = (float(np.quantile(performance, q)) for q in rule["performance_quantiles"])
    out = []
    for ki, pi in zip(k, performance):
        if ki >= k_high:
            out.append("easy" if pi >= p_strong else "scaling")
        elif ki < k_low and pi < p_low:
            out.append("poor")
        else:
            out.append("other")
    return out, {"k_high": k_high, "k_low": k_low, "performance_low": p_low, "performance_strong": p_strong,
                 **{key: rule[key] for key in ("k_quantile", "low_k_quantile")},
                 "performance_quantiles": list(rule["performance_quantiles"]), "performance": PERFORMANCE}


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


def per_class_losses(evals: Iterable[dict]) -> tuple[list[int], np.ndarray]:
    """(scales, losses[scale, class]): each class's val loss at every evaluated scale, the mean over
    the seed evaluations of a scale."""
    by_scale: dict[int, list] = {}
    for e in evals:
        by_scale.setdefault(int(e["scale"]), []).append(e["val"]["per_class_loss"])
    scales = sorted(by_scale)
    return scales, np.array([np.mean(by_scale[s], axis=0) for s in scales], dtype=float)


def pick_scale(scales: Sequence[int], wanted: int | None) -> int:
    """``wanted`` where it was measured; else the largest measured scale below it (the smallest if
    none is); the largest scale when ``wanted`` is None."""
    if wanted is None or wanted in scales:
        return int(max(scales) if wanted is None else wanted)
    below = [s for s in scales if s < wanted]
    return int(max(below) if below else min(scales))


def representatives(classes: list[dict], per_group: int) -> list[int]:
    """Each group's most typical members, ``per_group`` of each: the poor classes of lowest k, the
    scaling classes of highest k with the weakest performance first among equals, the easy classes
    of highest k."""
    keys = {"poor": lambda c: (c["k"], c[PERFORMANCE]), "scaling": lambda c: (-c["k"], c[PERFORMANCE]),
            "easy": lambda c: (-c["k"], -c[PERFORMANCE])}
    out = []
    for g in ("poor", "easy", "scaling"):
        members = sorted((c for c in classes if c["group"] == g), key=keys[g])
        out += [c["class_index"] for c in members[:per_group]]
    return out


def resolve_classes(wanted: Sequence, names: Sequence[str], key: str = "analysis.examples.classes") -> list[int]:
    """Class indices from names or indices, or an error naming ``key``."""
    out = []
    for w in wanted:
        if isinstance(w, int) and not isinstance(w, bool):
            if not 0 <= w < len(names):
                raise ValueError(f"{key}: class index {w} outside 0..{len(names) - 1}")
            out.append(w)
        elif w in names:
            out.append(list(names).index(w))
        else:
            raise ValueError(f"{key}: no class named {w!r} (class names: {', '.join(map(str, names[:8]))}"
                             f"{', ...' if len(names) > 8 else ''})")
    return out


def analyze(fit: dict, evals: Sequence[dict], quality: dict, names: Sequence[str], cfg: dict,
            real_fit: dict | None = None, real_evals: Sequence[dict] | None = None) -> dict:
    """The per-class analysis of one fitted run: its scaling JSON, its evaluations at every scale,
    its quality JSON and the ``analysis`` config section; the real-data run beside it when given."""
    k = np.array([c["k"] for c in fit["per_class"]], dtype=float)
    perf = np.array([c[PERFORMANCE] for c in fit["per_class"]], dtype=float)
    n = len(k)
    if len(names) != n:
        raise ValueError(f"{fit['run']}: the fit has {n} per-class k, the class index {len(names)} names")
    scales, losses = per_class_losses(evals)
    largest = max(evals, key=lambda e: e["scale"])
    acc = np.asarray(largest["val"]["per_class_top1"], dtype=float)
    colour_scale = pick_scale(scales, cfg["colour_scale"])
    perf_colour = -np.log(losses[scales.index(colour_scale)])
    per_metric = {m: quality.get(f"per_class_{m}") for m in METRICS if quality.get(f"per_class_{m}") is not None}
    grp, rule = groups(k, perf, cfg["groups"])
    corr = {m: correlate(k, v) for m, v in per_metric.items()}
    corr["top1_at_largest"] = correlate(k, acc)
    corr[PERFORMANCE] = correlate(k, perf)
    classes = []
    for c in range(n):
        row = {"class_index": c, "name": names[c], "k": float(k[c]), PERFORMANCE: float(perf[c]),
               "neg_log_L_at_colour_scale": float(perf_colour[c]), "top1_at_largest": float(acc[c]),
               "group": grp[c], **{m: v[c] for m, v in per_metric.items()}}
        classes.append(row)
    real = _real(classes, acc, names, real_fit, real_evals) if real_fit is not None else None
    chosen = (resolve_classes(cfg["examples"]["classes"], names) if cfg["examples"]["classes"]
              else representatives(classes, cfg["examples"]["per_group"]))
    order = np.argsort(-k, kind="stable")
    size = min(cfg["list_size"], n)
    out = {
        "run": fit["run"], "n_classes": n, "reference_scale_D_I": fit["reference_scale_D_I"],
        "largest_scale": int(largest["scale"]), "colour_scale": colour_scale,
        "performance": "per-class -log L at D_I: the intercept of each class's fit of Eq. 2",
        "correlations_with_k": corr,
        "group_rule": rule,
        "groups": {g: [names[c] for c in range(n) if grp[c] == g] for g in GROUPS},
        "group_summary": {g: _summary([r for r in classes if r["group"] == g], per_metric) for g in GROUPS},
        "k_deciles": deciles(k, {**per_metric, PERFORMANCE: perf.tolist(), "top1_at_largest": acc.tolist()}),
        "highest_k": [names[c] for c in order[:size]],
        "lowest_k": [names[c] for c in order[::-1][:size]],
        "table_a9": [{"rank": i + 1, **{key: classes[c][key] for key in ("name", "group", "k", PERFORMANCE)},
                      **{m: classes[c].get(m) for m in ("recognizability", "diversity")}}
                     for i, c in enumerate(order[::-1][:size])],
        "examples": {"classes": chosen, "names": [names[c] for c in chosen],
                     "from": "analysis.examples.classes" if cfg["examples"]["classes"] else "group representatives"},
        "curves": {"scales": scales, "loss": {names[c]: losses[:, c].tolist() for c in chosen}},
        "classes": classes,
    }
    if real is not None:
        out["real"] = real
        if real_evals:
            r_scales, r_losses = per_class_losses(real_evals)
            out["curves"]["real_scales"] = r_scales
            out["curves"]["real_loss"] = {names[c]: r_losses[:, c].tolist() for c in chosen}
    return out


def _real(classes: list[dict], acc: np.ndarray, names: Sequence[str], real_fit: dict,
          real_evals: Sequence[dict] | None) -> dict:
    """The real-data run beside the synthetic one: per class its k and -log L at D_I (added to
    ``classes``), its top-1 at its largest scale, and the classes where synthetic data does better."""
    rk = [c["k"] for c in real_fit["per_class"]]
    for row, rc in zip(classes, real_fit["per_class"]):
        row["k_real"] = float(rc["k"])
        row[f"{PERFORMANCE}_real"] = float(rc[PERFORMANCE])
    out = {"k_vs_real_k": correlate([c["k"] for c in classes], rk),
           "classes_synthetic_scales_better": [names[i] for i, c in enumerate(classes) if c["k"] > c["k_real"]]}
    if real_evals:
        last = max(real_evals, key=lambda e: e["scale"])
        real_acc = np.asarray(last["val"]["per_class_top1"], dtype=float)
        for row, a in zip(classes, real_acc):
            row["top1_real_at_largest"] = float(a)
        out.update(largest_scale=int(last["scale"]),
                   classes_synthetic_beats_real=[names[c] for c in range(len(names)) if acc[c] > real_acc[c]],
                   mean_top1_gap=float(np.mean(acc - real_acc)))
    return out


def _summary(rows: list[dict], per_metric: dict) -> dict:
    if not rows:
        return {"n_classes": 0}
    out = {"n_classes": len(rows), **{key: float(np.mean([r[key] for r in rows]))
                                      for key in ("k", PERFORMANCE, "top1_at_largest")}}
    for m in per_metric:
        v = [r[m] for r in rows if r.get(m) is not None]
        out[m] = float(np.mean(v)) if v else None
    return out


def sample_images(shards: Sequence[str | Path], classes: Sequence[int], per_class: int, size: int,
                  channels: int) -> dict[int, list[np.ndarray]]:
    """Up to ``per_class`` images of each of ``classes`` from a run's generated shards, in shard
    order (Fig. 8, A8, A10, A12)."""
    from synscale.data.shards import decode_image, iter_shard

    want = {int(c): [] for c in classes}
    for path in shards:
        for key, data, label, _ in iter_shard(path):
            if label in want and len(want[label]) < per_class:
                want[label].append(decode_image(data, path, key, size, channels))
        if all(len(v) >= per_class for v in want.values()):
            break
    return want
