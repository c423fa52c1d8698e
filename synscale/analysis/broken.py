"""The broken power law: two log-log segments meeting at a knee D_knee (§4.4: beyond ~4M the
curve bends), fitted by least squares over the knee, with a profile-likelihood CI of the knee and
the AICc of both models over the same points.

The knee is searched on a fine grid in log D between the second and the second-to-last distinct
scale (each segment keeps two scales). For a fixed knee the model is linear, so the profile sum of
squares SSE(c) of every grid knee c comes from one projection per knee, and a stack of series
(shape ``(m, n)``) is profiled at once. The knee's interval is the set of knees the F test does
not reject, ``SSE(c) <= SSE_min (1 + F_{1-a}(1, n - 4) / (n - 4))`` (its hull, and bounded by the
search range: ``knee_ci_open`` says on which side the data do not bound it); its coverage is
checked by simulation (tests/unit/test_fit_coverage.py).
"""
from __future__ import annotations

import math

import numpy as np

from synscale.analysis.bootstrap import log_xy

GRID = 1000
MIN_SCALES = 4               # distinct scales: each segment needs two


def aicc(sse: float, n: int, n_params: int) -> float:
    """Akaike's criterion with the small-sample correction (AICc) of a least-squares fit with
    Gaussian errors, the error variance counted as a parameter; infinite where n is too small for
    the correction (n <= parameters + 1)."""
    p = n_params + 1
    if n - p - 1 <= 0:
        return math.inf
    return n * math.log(max(sse, 1e-300) / n) + 2 * p + 2 * p * (p + 1) / (n - p - 1)


def _design(x: np.ndarray, knees: np.ndarray) -> np.ndarray:
    """(G, n, 3): columns 1, min(x - c, 0), max(x - c, 0) for every knee c (value at the knee,
    slope before, slope after)."""
    lo = np.minimum(x[None, :] - knees[:, None], 0.0)
    hi = np.maximum(x[None, :] - knees[:, None], 0.0)
    return np.stack([np.ones_like(lo), lo, hi], axis=-1)


def knee_grid(x: np.ndarray, grid: int = GRID) -> np.ndarray:
    xs = np.unique(x)
    if len(xs) < MIN_SCALES:
        raise ValueError(f"a broken power law needs {MIN_SCALES} distinct scales, got {len(xs)}")
    return np.linspace(xs[1], xs[-2], grid)


def profile_sse(x: np.ndarray, y: np.ndarray, knees: np.ndarray) -> np.ndarray:
    """SSE of the two-segment fit of every series in y ((n,) or (m, n)) at every knee: (..., G)."""
    design = _design(x, knees)                                      # (G, n, 3)
    coef = np.einsum("gkn,...n->...gk", np.linalg.pinv(design), y)
    resid = y[..., None, :] - np.einsum("gnk,...gk->...gn", design, coef)
    return (resid ** 2).sum(-1)


def knee_profile(scales, values, reference_scale: float, alpha: float = 0.05, grid: int = GRID) -> dict:
    """Knee (as a scale), its CI and the SSE at the best knee of every series in ``values``
    ((n,) or (m, n)); the CI is None with fewer than 5 observations (no residual dof)."""
    from scipy import stats

    x, y = log_xy(scales, values, reference_scale)
    n = len(x)
    knees = knee_grid(x, grid)
    sse = profile_sse(x, y, knees)
    best = sse.argmin(-1)
    sse_min = np.take_along_axis(sse, best[..., None], -1)[..., 0]
    out = {"knee": np.exp(knees[best]) * reference_scale, "sse": sse_min, "knee_ci": None, "knee_ci_open": None}
    if n - 4 >= 1:
        inside = sse <= (sse_min * (1 + stats.f.ppf(1 - alpha, 1, n - 4) / (n - 4)))[..., None]
        lo = np.where(inside, knees, np.inf).min(-1)
        hi = np.where(inside, knees, -np.inf).max(-1)
        out["knee_ci"] = np.stack([np.exp(lo), np.exp(hi)], -1) * reference_scale
        out["knee_ci_open"] = np.stack([lo <= knees[0], hi >= knees[-1]], -1)
    return out


def broken_power_law(scales, values, reference_scale: float, alpha: float = 0.05) -> dict | None:
    """The broken power law of one series beside the plain one, both fitted on the same points:
    the knee with its CI, k before and after it, and the AICc of both (the broken law is preferred
    when its AICc is lower by more than 2; with 6 or fewer observations its AICc is infinite and
    the plain law stays). None with fewer than 4 distinct scales (each segment needs two)."""
    x, y = log_xy(scales, values, reference_scale)
    n = len(x)
    if len(np.unique(x)) < MIN_SCALES:
        return None
    prof = knee_profile(scales, values, reference_scale, alpha=alpha)
    knee = math.log(float(prof["knee"]) / reference_scale)
    coef, *_ = np.linalg.lstsq(_design(x, np.array([knee]))[0], y, rcond=None)
    sse = float(prof["sse"])
    plain = np.polyfit(x, y, 1)
    sse_plain = float(((y - np.polyval(plain, x)) ** 2).sum())
    aic_plain, aic_broken = aicc(sse_plain, n, 2), aicc(sse, n, 4)
    ci = prof["knee_ci"]
    fitted_on = sorted({int(s) if float(s).is_integer() else float(s) for s in np.asarray(scales, float)})
    return {
        "fit_scales": fitted_on, "fit_range": [fitted_on[0], fitted_on[-1]], "n_points": int(n),
        "knee_scale": float(prof["knee"]),
        "knee_scale_ci": None if ci is None else [float(v) for v in ci],
        "knee_ci_open": None if ci is None else [bool(v) for v in prof["knee_ci_open"]],
        "knee_ci_method": "profile likelihood (F test), hull over the knee search range",
        "k_before": float(-coef[1]), "k_after": float(-coef[2]), "k_plain": float(-plain[0]),
        "sse": sse, "sse_plain": sse_plain, "aicc": _finite(aic_broken), "aicc_plain": _finite(aic_plain),
        "preferred": bool(aic_broken < aic_plain - 2.0),
    }


def _finite(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)
