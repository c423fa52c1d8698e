"""The scaling-law fit of Eq. 2: log L_D = -k (log D - log D_I) + log L_{D_I}, by OLS."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


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


def _log_xy(scales, values, reference_scale: float) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(scales, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(d) != len(v):
        raise ValueError("scales and values differ in length")
    if np.any(v <= 0) or np.any(d <= 0):
        raise ValueError("scales and values must be positive to fit in log space")
    return np.log(d) - math.log(reference_scale), np.log(v)


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(intercept, slope, SSE) of y on x."""
    a = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    r = y - a @ coef
    return float(coef[0]), float(coef[1]), float(r @ r)


def bootstrap_power_law(scales, values, reference_scale: float, n_boot: int = 2000, seed: int = 0,
                        alpha: float = 0.05) -> dict:
    """Residual-bootstrap percentile CIs of k and -log L at D_I: the design (the scales) stays fixed,
    the OLS residuals are resampled with replacement onto the fitted line and the line refitted."""
    x, y = _log_xy(scales, values, reference_scale)
    if len(x) < 3:
        return {"k_ci_boot": None, "neg_log_L_at_DI_ci_boot": None, "n_boot": 0}
    b0, b1, _ = _ols(x, y)
    fitted = b0 + b1 * x
    resid = y - fitted
    rng = np.random.default_rng(seed)
    ks, ints = np.empty(n_boot), np.empty(n_boot)
    for i in range(n_boot):
        yb = fitted + rng.choice(resid, size=len(resid), replace=True)
        c0, c1, _ = _ols(x, yb)
        ks[i], ints[i] = -c1, -c0
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    return {"k_ci_boot": [float(v) for v in np.percentile(ks, q)],
            "neg_log_L_at_DI_ci_boot": [float(v) for v in np.percentile(ints, q)], "n_boot": int(n_boot)}


def _broken_at(x: np.ndarray, y: np.ndarray, knee: float) -> tuple[np.ndarray, float]:
    """Coefficients (value at the knee, slope before, slope after) and SSE of the continuous
    two-segment line with its knee at ``knee``."""
    a = np.column_stack([np.ones_like(x), np.minimum(x - knee, 0.0), np.maximum(x - knee, 0.0)])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    r = y - a @ coef
    return coef, float(r @ r)


def _best_knee(x: np.ndarray, y: np.ndarray, grid: int = 200) -> tuple[float, np.ndarray, float]:
    """The knee (between the second and the second-to-last scale, so each segment has two points)
    minimising the SSE, on a fine grid."""
    xs = np.sort(x)
    knees = np.linspace(xs[1], xs[-2], grid)
    best = min(((k, *_broken_at(x, y, k)) for k in knees), key=lambda t: t[2])
    return best


def aicc(sse: float, n: int, n_params: int) -> float:
    """Akaike's criterion with the small-sample correction (AICc) of a least-squares fit with
    Gaussian errors, the error variance counted as a parameter; infinite where n is too small for
    the correction (n <= parameters + 1)."""
    p = n_params + 1
    if n - p - 1 <= 0:
        return math.inf
    return n * math.log(max(sse, 1e-300) / n) + 2 * p + 2 * p * (p + 1) / (n - p - 1)


def broken_power_law(scales, values, reference_scale: float, n_boot: int = 1000, seed: int = 0,
                     alpha: float = 0.05) -> dict | None:
    """A power law with one knee (two log-log segments meeting at D_knee), fitted by least squares
    over the knee location, with a residual-bootstrap CI of the knee, the two k's, and the AICc of
    both models (the broken law is preferred when its AICc is lower by more than 2; with fewer than
    7 scales its AICc is infinite and the plain law stays). None with fewer than 4 scales (each
    segment needs two)."""
    x, y = _log_xy(scales, values, reference_scale)
    n = len(x)
    if n < 4 or len(np.unique(x)) < 4:
        return None
    knee, coef, sse = _best_knee(x, y)
    _, _, sse_plain = _ols(x, y)
    fitted = np.column_stack([np.ones_like(x), np.minimum(x - knee, 0.0), np.maximum(x - knee, 0.0)]) @ coef
    resid = y - fitted
    rng = np.random.default_rng(seed)
    knees = np.empty(n_boot)
    for i in range(n_boot):
        knees[i] = _best_knee(x, fitted + rng.choice(resid, size=n, replace=True), grid=60)[0]
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    aic_plain, aic_broken = aicc(sse_plain, n, 2), aicc(sse, n, 4)
    return {
        "knee_scale": float(math.exp(knee) * reference_scale),
        "knee_scale_ci": [float(math.exp(v) * reference_scale) for v in np.percentile(knees, q)],
        "k_before": float(-coef[1]), "k_after": float(-coef[2]),
        "sse": sse, "sse_plain": sse_plain, "aicc": _finite(aic_broken), "aicc_plain": _finite(aic_plain),
        "preferred": bool(aic_broken < aic_plain - 2.0), "n_boot": int(n_boot),
    }


def _finite(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)


def fit_series(scales, values, reference_scale: float, n_boot: int = 2000, seed: int = 0) -> dict:
    """Everything synscale fits to one series (a loss, or an error rate, against D): the OLS power
    law with its t-based CIs, residual-bootstrap CIs, and the broken power law beside it."""
    out = fit_power_law(scales, values, reference_scale)
    out.update(bootstrap_power_law(scales, values, reference_scale, n_boot=n_boot, seed=seed))
    out["broken"] = broken_power_law(scales, values, reference_scale, n_boot=max(200, n_boot // 2), seed=seed)
    return out


def fit_or_none(scales, values, d_i) -> dict | None:
    """The power law of a loss or an error rate (1 - top-1) over the scales; None where a value is
    not positive (an error of exactly 0 has no logarithm)."""
    if min(values) <= 0:
        return None
    return fit_power_law(scales, values, d_i)
