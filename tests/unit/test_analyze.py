"""`python -m synscale.analyze` and the sturdier fits behind it (bootstrap, broken power law)."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from synscale import analyze
from synscale.analysis.fit import aicc, bootstrap_power_law, broken_power_law, fit_series

# x = log(D / D_I) = 0, 1, 2 and log y = 1, 0.5, 0.3: OLS slope -0.35 (k = 0.35), intercept 0.95
# (-log y at D_I = -0.95), fitted 0.95, 0.6, 0.25, residuals 0.05, -0.1, 0.05
SMALL = pd.DataFrame({"config": ["a"] * 3, "scale": [1.0, math.e, math.e ** 2], "loss": np.exp([1.0, 0.5, 0.3])})


def test_ols_matches_a_hand_computation():
    r = analyze.fit_table(SMALL, "scale", "loss", "config", reference_scale=1.0)["a"]
    assert r["n"] == 3 and r["k"] == pytest.approx(0.35) and r["neg_log_L_at_DI"] == pytest.approx(-0.95)
    # R^2 = 1 - SSE / SST = 1 - 0.015 / 0.26
    assert r["r2"] == pytest.approx(1 - 0.015 / 0.26)


def test_bootstrap_matches_the_enumerated_distribution():
    # a residual bootstrap refits fitted + (r_a, r_b, r_c): k* = 0.35 - (r_c - r_a) / 2, with r_a, r_c
    # drawn from {0.05 (2/3), -0.1 (1/3)}: k* = 0.275 (2/9), 0.35 (5/9), 0.425 (2/9); its 2.5th and
    # 97.5th percentiles are 0.275 and 0.425
    b = bootstrap_power_law(SMALL["scale"], SMALL["loss"], 1.0, n_boot=4000, seed=1)
    assert b["k_ci_boot"] == pytest.approx([0.275, 0.425], abs=1e-9)
    assert b["n_boot"] == 4000
    assert bootstrap_power_law(SMALL["scale"][:2], SMALL["loss"][:2], 1.0)["k_ci_boot"] is None


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
    assert analyze.main([str(csv), "--x", "scale", "--y", "nope", "--reference-scale", "1"]) == 2
    assert "column 'nope' not in the table" in capsys.readouterr().err


def test_cli_on_the_paper_table_needs_a_scale_column(capsys):
    from support.repo import ROOT

    paper = ROOT / "data" / "paper_grid_1p3M.csv"
    rc = analyze.main([str(paper), "--x", "scale", "--y", "in_val_loss", "--reference-scale", "1.3e6"])
    assert rc == 2 and "column 'scale' not in the table" in capsys.readouterr().err
