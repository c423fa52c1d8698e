"""The scaling-law fit of Eq. 2: log L_D = -k (log D - log D_I) + log L_{D_I}, by OLS, with its
t-based CIs (exact under i.i.d. Gaussian errors in log L), the residual-bootstrap CIs
(``synscale.analysis.bootstrap``) and the broken power law beside it (``synscale.analysis.broken``)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from synscale.analysis.bootstrap import bootstrap_power_law
from synscale.analysis.broken import aicc, broken_power_law

__all__ = ["aicc", "bootstrap_power_law", "broken_power_law", "fit_power_law", "fit_series", "fit_or_none",
           "in_range", "per_class_k"]


def fit_power_law(scales: Sequence[float], losses: Sequence[float], reference_scale: float,
                  alpha: float = 0.05) -> dict:
    """OLS of log L on (log D - log D_I). Returns k, -log L at D_I, their CIs, R^2."""
    import statsmodels.api as sm

    d = np.asarray(scales, dtype=float)
    loss = np.asarray(losses, dtype=float)
    if len(d) != len(loss):
        raise ValueError("scales and losses differ in length")
    if len(d) < 2:
        raise ValueError(f"a fit needs at least 2 points, got {len(d)}; widen fit.range or add scales")
    if np.any(loss <= 0) or np.any(d <= 0):
        raise ValueError("scales and losses must be positive to fit in log space")
    x = np.log(d) - math.log(reference_scale)
    y = np.log(loss)
    res = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
    intercept, slope = (float(v) for v in res.params)
    out = {
        "k": -slope,
        "neg_log_L_at_DI": -intercept,
        "L_at_DI": math.exp(intercept),
        "r2": float(res.rsquared) if len(d) > 2 else 1.0,
        "n_points": int(len(d)),
    }
    if len(d) > 2:
        ci = res.conf_int(alpha)
        (i_lo, i_hi), (s_lo, s_hi) = ci[0], ci[1]
        out["k_ci"] = [-float(s_hi), -float(s_lo)]
        out["neg_log_L_at_DI_ci"] = [-float(i_hi), -float(i_lo)]
        out["k_se"] = float(res.bse[1])
    else:
        out["k_ci"] = None
        out["neg_log_L_at_DI_ci"] = None
        out["k_se"] = None
    out["ci_level"] = 1 - alpha
    out["ci_method"] = "OLS t (exact under i.i.d. Gaussian errors in log L)"
    return out


def per_class_k(scales: Sequence[float], per_class_losses: Sequence[Sequence[float]],
                reference_scale: float) -> list[dict]:
    """Per-class fits: per_class_losses[i][c] is class c's loss at scales[i]."""
    arr = np.asarray(per_class_losses, dtype=float)
    out = []
    for c in range(arr.shape[1]):
        f = fit_power_law(scales, arr[:, c], reference_scale)
        out.append({"class_index": c, "k": f["k"], "neg_log_L_at_DI": f["neg_log_L_at_DI"], "r2": f["r2"]})
    return out


def in_range(scales: Sequence[int], fit_range: Sequence[int] | None) -> list[int]:
    if not fit_range:
        return list(scales)
    lo, hi = fit_range
    return [s for s in scales if lo <= s <= hi]


# --------------------------------------------------------------------------- sturdier fits


def fit_series(scales, values, reference_scale: float, n_boot: int = 2000, seed: int = 0,
               all_scales=None, all_values=None) -> dict:
    """Everything synscale fits to one series (a loss, or an error rate, against D): the OLS power
    law with its t-based CIs and the residual-bootstrap CIs on ``scales``/``values`` (the points in
    the fit range), and the broken power law on ``all_scales``/``all_values`` (every measured point,
    so a bend beyond the fit range can be found; default: the same points), its ``fit_scales``
    recorded in its block."""
    out = fit_power_law(scales, values, reference_scale)
    out.update(bootstrap_power_law(scales, values, reference_scale, n_boot=n_boot, seed=seed))
    if all_scales is None:
        all_scales, all_values = scales, values
    out["broken"] = broken_power_law(all_scales, all_values, reference_scale)
    return out


def fit_or_none(scales, values, d_i) -> dict | None:
    """The power law of a loss or an error rate (1 - top-1) over the scales; None where a value is
    not positive (an error of exactly 0 has no logarithm)."""
    if min(values) <= 0:
        return None
    return fit_power_law(scales, values, d_i)
