"""`python -m synscale.analyze` and the sturdier fits behind it (bootstrap, broken power law)."""
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from synscale import analyze
from synscale.analysis.bootstrap import METHOD_SE, METHOD_T
from synscale.analysis.fit import aicc, bootstrap_power_law, broken_power_law, fit_series

# x = log(D / D_I) = 0, 1, 2 and log y = 1, 0.5, 0.3: OLS slope -0.35 (k = 0.35), intercept 0.95
# (-log y at D_I = -0.95), fitted 0.95, 0.6, 0.25, residuals 0.05, -0.1, 0.05
SMALL = pd.DataFrame({"config": ["a"] * 3, "scale": [1.0, math.e, math.e ** 2], "loss": np.exp([1.0, 0.5, 0.3])})


def test_ols_matches_a_hand_computation():
    r = analyze.fit_table(SMALL, "scale", "loss", "config", reference_scale=1.0)["a"]
    assert r["n"] == 3 and r["k"] == pytest.approx(0.35) and r["neg_log_L_at_DI"] == pytest.approx(-0.95)
    # R^2 = 1 - SSE / SST = 1 - 0.015 / 0.26
    assert r["r2"] == pytest.approx(1 - 0.015 / 0.26)


def test_bootstrap_with_three_points_matches_the_enumerated_distribution():
    # too few residuals to studentize: k +- t_{1, 0.975} x the bootstrap SE. The residuals
    # (0.05, -0.1, 0.05) inflated by sqrt(3 / 1) are resampled; k* = 0.35 - (r_c - r_a) / 2 with r_a, r_c
    # drawn from {0.05 sqrt 3 (2/3), -0.1 sqrt 3 (1/3)}: k* - 0.35 = 0 (5/9), +-0.075 sqrt 3 (2/9 each),
    # variance 4/9 x 0.016875 = 0.0075 = s^2 / Sxx (s^2 = 0.015, Sxx = 2), the OLS one
    b = bootstrap_power_law(SMALL["scale"], SMALL["loss"], 1.0, n_boot=4000, seed=1)
    half = 12.706204736 * math.sqrt(0.0075)
    assert b["k_ci_boot"] == pytest.approx([0.35 - half, 0.35 + half], rel=0.01)
    assert b["n_boot"] == 4000 and b["boot_method"] == METHOD_SE
    assert bootstrap_power_law(SMALL["scale"][:2], SMALL["loss"][:2], 1.0)["k_ci_boot"] is None


def _studentized_ci(x, y, est, se_of):
    """The bootstrap-t interval from the exact bootstrap distribution: all n^n resamples."""
    n = len(x)
    fitted = np.polyval(np.polyfit(x, y, 1), x)
    r = (y - fitted) * math.sqrt(n / (n - 2))
    idx = np.array(list(itertools.product(range(n), repeat=n)))
    ts = []
    for yb in fitted + r[idx]:
        ts.append((est(x, yb) - est(x, y)) / se_of(x, yb) if se_of(x, yb) > 0 else 0.0)
    q_lo, q_hi = np.quantile(ts, [0.025, 0.975])
    return [est(x, y) - q_hi * se_of(x, y), est(x, y) - q_lo * se_of(x, y)]


def test_bootstrap_t_matches_the_enumerated_distribution():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 3.0])
    y = 0.7 - 0.3 * x + np.array([0.03, -0.05, 0.01, 0.04, -0.02])
    sxx = ((x - x.mean()) ** 2).sum()

    def s(x, y):
        return math.sqrt(((y - np.polyval(np.polyfit(x, y, 1), x)) ** 2).sum() / (len(x) - 2))

    k_exact = _studentized_ci(x, y, lambda x, y: -np.polyfit(x, y, 1)[0], lambda x, y: s(x, y) / math.sqrt(sxx))
    i_exact = _studentized_ci(x, y, lambda x, y: -np.polyfit(x, y, 1)[1],
                              lambda x, y: s(x, y) * math.sqrt(1 / 5 + x.mean() ** 2 / sxx))
    b = bootstrap_power_law(np.exp(x), np.exp(y), 1.0, n_boot=20000, seed=3)
    assert b["boot_method"] == METHOD_T
    assert b["k_ci_boot"] == pytest.approx(k_exact, rel=0.01)
    assert b["neg_log_L_at_DI_ci_boot"] == pytest.approx(i_exact, rel=0.01)
    # scaling the noise scales the interval about the estimate; an exact line has a zero-width one
    doubled = bootstrap_power_law(np.exp(x), np.exp(0.7 - 0.3 * x + 2 * (y - 0.7 + 0.3 * x)), 1.0,
                                  n_boot=20000, seed=3)["k_ci_boot"]
    k_hat = -np.polyfit(x, y, 1)[0]
    k_hat2 = 0.3 + 2 * (k_hat - 0.3)
    assert [v - k_hat2 for v in doubled] == pytest.approx([2 * (v - k_hat) for v in b["k_ci_boot"]], rel=1e-9)
    assert bootstrap_power_law(np.exp(x), np.exp(0.7 - 0.3 * x), 1.0)["k_ci_boot"] == pytest.approx([0.3, 0.3])


def _kneed(seed=0, noise=0.01):
    d = np.geomspace(1e5, 6.4e7, 12)
    x, knee = np.log(d / 1.3e6), math.log(4e6 / 1.3e6)
    y = 0.5 - 0.3 * np.minimum(x - knee, 0) - 0.05 * np.maximum(x - knee, 0)
    return d, np.exp(y + np.random.default_rng(seed).normal(0, noise, len(d)))


def test_broken_power_law_finds_a_planted_knee():
    d, loss = _kneed()
    b = broken_power_law(d, loss, 1.3e6)
    assert b["preferred"] and b["knee_scale_ci"][0] <= 4e6 <= b["knee_scale_ci"][1]
    assert b["k_before"] == pytest.approx(0.3, abs=0.03) and b["k_after"] == pytest.approx(0.05, abs=0.03)
    assert b["aicc"] < b["aicc_plain"] - 2


def test_broken_power_law_not_preferred_on_a_straight_line():
    d = np.geomspace(1e5, 6.4e7, 12)
    loss = np.exp(0.5 - 0.2 * np.log(d / 1.3e6) + np.random.default_rng(3).normal(0, 0.01, 12))
    assert not broken_power_law(d, loss, 1.3e6)["preferred"]
    assert broken_power_law(d[:3], loss[:3], 1.3e6) is None
    assert aicc(1.0, 5, 4) == math.inf                      # too few points for the correction


def test_fit_series_is_what_the_workflow_fits():
    d, loss = _kneed()
    r = fit_series(d, loss, 1.3e6, n_boot=300, seed=0)
    assert {"k", "k_ci", "k_ci_boot", "broken", "r2"} <= set(r) and r["broken"]["preferred"]


def test_cli_prints_and_writes_json(tmp_path, capsys):
    d, loss = _kneed()
    table = pd.concat([pd.DataFrame({"config": "kneed", "scale": d, "top1": 100 * (1 - loss / 10)}),
                       SMALL.assign(top1=100 * (1 - SMALL["loss"] / 10))])
    csv = tmp_path / "t.csv"
    table.to_csv(csv, index=False)
    out = tmp_path / "fits.json"
    rc = analyze.main([str(csv), "--x", "scale", "--y", "top1", "--by", "config", "--reference-scale", "1.3e6",
                       "--transform", "error", "--json", str(out), "--n-boot", "300"])
    text = capsys.readouterr().out
    assert rc == 0 and "kneed" in text and "knee at" in text
    fits = json.loads(out.read_text())["fits"]
    # error = 1 - top1 / 100 = loss / 10: the same k as the loss
    assert fits["kneed"]["k"] == pytest.approx(fit_series(d, loss, 1.3e6, n_boot=10)["k"])
    assert fits["a"]["k"] == pytest.approx(0.35)
    # --range: the plain law inside it, the broken law over every row of the group
    assert analyze.main([str(csv), "--x", "scale", "--y", "top1", "--by", "config", "--reference-scale", "1.3e6",
                         "--transform", "error", "--range", "1e5", "4e6", "--json", str(out), "--n-boot", "300"]) == 0
    ranged = json.loads(out.read_text())
    kneed = ranged["fits"]["kneed"]
    assert ranged["fit_range"] == [1e5, 4e6] and kneed["fit_scales"] == [float(v) for v in d if v <= 4e6]
    assert kneed["n"] == 7 and kneed["k"] == pytest.approx(0.3, abs=0.02)
    assert kneed["broken"]["n_points"] == 12 and kneed["broken"]["preferred"]
    assert "a fit needs 2" in ranged["fits"]["a"]["error"]                  # SMALL's x (1, e, e^2) lie below 1e5
    capsys.readouterr()
    assert analyze.main([str(csv), "--x", "scale", "--y", "nope", "--reference-scale", "1"]) == 2
    assert "column 'nope' not in the table" in capsys.readouterr().err


def test_cli_on_the_paper_table_needs_a_scale_column(capsys):
    from support.repo import ROOT

    paper = ROOT / "data" / "paper_grid_1p3M.csv"
    rc = analyze.main([str(paper), "--x", "scale", "--y", "in_val_loss", "--reference-scale", "1.3e6"])
    assert rc == 2 and "column 'scale' not in the table" in capsys.readouterr().err
