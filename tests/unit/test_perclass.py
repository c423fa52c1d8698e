"""Per-class analysis (synscale.perclass): correlations, groups by the configured rule, deciles."""
import numpy as np
import pytest

from synscale.analysis import per_class as P


def _inputs(n=10):
    k = np.linspace(0.1, 1.0, n)
    acc = np.array([0.2, 0.3, 0.9, 0.95, 0.4, 0.85, 0.5, 0.6, 0.7, 0.8])[:n]
    fit = {"run": "sd_cfg2_incap", "per_class": [{"class_index": c, "k": float(k[c])} for c in range(n)]}
    ev = {"scale": 8000, "val": {"per_class_top1": acc.tolist()}}
    q = {"per_class_recognizability": (k * 0.5 + 0.2).tolist(), "per_class_diversity": (1 - k).tolist(),
         "per_class_fid": [None] + list(range(n - 1)), "per_class_lpips": [1.0] * n}
    return fit, ev, q, [f"c{i}" for i in range(n)]


def test_correlate_matches_scipy_and_handles_gaps():
    r = P.correlate([1, 2, 3, 4], [1, 3, 2, 4])
    assert r["spearman"] == pytest.approx(0.8) and r["n"] == 4
    assert r["pearson"] == pytest.approx(0.8) and 0 < r["pearson_p"] < 1
    assert P.correlate([1, None, 3, 4], [1, 2, 3, 5])["n"] == 3
    assert P.correlate([1, 2, 3], [2, 2, 2])["spearman"] is None


def test_groups_follow_the_rule():
    k = np.array([0.1, 0.2, 0.3, 0.9])
    acc = np.array([0.1, 0.9, 0.2, 0.1])
    g, rule = P.groups(k, acc, k_quantile=0.75, accuracy_quantile=0.5)
    # k threshold: 0.75 quantile of k = 0.45; accuracy threshold: median 0.15
    assert rule["k_threshold"] == pytest.approx(0.45) and rule["accuracy_threshold"] == pytest.approx(0.15)
    assert g == ["poor", "easy", "easy", "scaling"]


def test_analyze_a_run():
    fit, ev, q, names = _inputs()
    real_fit = {"per_class": [{"k": 0.5} for _ in names][:-1] + [{"k": 0.6}]}
    real_ev = {"scale": 4000, "val": {"per_class_top1": [0.5] * 10}}
    a = P.analyze(fit, ev, q, names, 0.7, 0.5, list_size=3, real_fit=real_fit, real_eval=real_ev)
    assert a["correlations_with_k"]["recognizability"]["spearman"] == pytest.approx(1.0)
    assert a["correlations_with_k"]["diversity"]["spearman"] == pytest.approx(-1.0)
    assert a["correlations_with_k"]["fid"]["n"] == 9
    assert a["correlations_with_k"]["lpips"]["spearman"] is None          # constant
    assert a["highest_k"] == ["c9", "c8", "c7"] and a["lowest_k"] == ["c0", "c1", "c2"]
    assert sum(len(v) for v in a["groups"].values()) == 10 and set(a["groups"]["scaling"]) == {"c7", "c8", "c9"}
    assert len(a["k_deciles"]) == 10 and a["k_deciles"][0]["k"] == pytest.approx(0.1)
    assert a["real"]["classes_synthetic_beats_real"] == ["c2", "c3", "c5", "c7", "c8", "c9"]
    assert a["classes"][0]["k_real"] == 0.5 and a["classes"][0]["top1_real_at_largest"] == 0.5


def test_plot(tmp_path):
    fit, ev, q, names = _inputs()
    a = P.analyze(fit, ev, q, names)
    P.plot(a, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 10_000
