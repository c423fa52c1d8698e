import math

import numpy as np
import pytest

from synscale.analysis.fit import fit_power_law, in_range, per_class_k


def test_exact_power_law_recovered():
    d = np.array([250, 500, 1000, 2000, 4000, 8000])
    loss = 1.7 * (d / 4000.0) ** -0.3
    f = fit_power_law(d, loss, 4000)
    assert f["k"] == pytest.approx(0.3, abs=1e-9)
    assert f["neg_log_L_at_DI"] == pytest.approx(-math.log(1.7), abs=1e-9)
    assert f["r2"] == pytest.approx(1.0)


def test_noisy_ci_covers_truth():
    rng = np.random.default_rng(0)
    d = np.geomspace(1e5, 4e6, 8)
    hits = 0
    for _ in range(50):
        loss = 2.0 * (d / 1.3e6) ** -0.25 * np.exp(rng.normal(0, 0.02, len(d)))
        f = fit_power_law(d, loss, 1.3e6)
        hits += f["k_ci"][0] <= 0.25 <= f["k_ci"][1]
        assert f["neg_log_L_at_DI_ci"][0] < f["neg_log_L_at_DI"] < f["neg_log_L_at_DI_ci"][1]
    assert hits >= 42  # ~95% coverage


def test_fit_needs_points_and_positive_losses():
    with pytest.raises(ValueError, match="at least 2"):
        fit_power_law([1000], [1.0], 1000)
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1.0, 0.0, 0.5], 2)


def test_per_class_and_range():
    d = [100, 200, 400, 800]
    pcl = [[1.0 * (x / 400) ** -0.1, 2.0 * (x / 400) ** -0.5] for x in d]
    ks = per_class_k(d, pcl, 400)
    assert ks[0]["k"] == pytest.approx(0.1) and ks[1]["k"] == pytest.approx(0.5)
    assert in_range(d, (150, 500)) == [200, 400]
    assert in_range(d, None) == d
