"""Per-class analysis (synscale.analysis.per_class): correlations, the paper's groups on the plane of
k against performance at D_I, per-class curves, sample images, deciles."""
import copy

import numpy as np
import pytest

from synscale.analysis import per_class as P

RULE = {"k_quantile": 0.67, "low_k_quantile": 0.33, "performance_quantiles": [0.33, 0.67]}
CFG = {"groups": RULE, "colour_scale": None, "examples": {"classes": None, "per_group": 1}, "list_size": 3,
       "samples": {"per_class": 2, "shards": 1}}

# nine classes whose groups are known by hand. Sorted k: .05 .10 .15 .40 .45 .50 .80 .85 .90;
# np.quantile (linear): q.67 sits at 0.67 * 8 = 5.36 -> 0.50 + 0.36 * 0.30 = 0.608 (high k),
# q.33 at 2.64 -> 0.15 + 0.64 * 0.25 = 0.31 (low k). Sorted performance: .5 .6 .9 1.0 1.0 1.1 1.2
# 2.0 2.5; q.33 -> 0.9 + 0.64 * 0.1 = 0.964 (low), q.67 -> 1.1 + 0.36 * 0.1 = 1.136 (strong).
K = [0.05, 0.10, 0.15, 0.40, 0.45, 0.50, 0.80, 0.85, 0.90]
PERF = [0.5, 0.6, 2.0, 1.0, 1.1, 1.2, 2.5, 1.0, 0.9]
EXPECTED = ["poor", "poor", "other", "other", "other", "other", "easy", "scaling", "scaling"]
# class 6 has high k AND the strongest performance at D_I: upper right, the paper's 'easy'. The old rule
# (any k above the k threshold is 'scaling', top-1 at the largest scale decides the rest) called it scaling.


def test_correlate_matches_scipy_and_handles_gaps():
    r = P.correlate([1, 2, 3, 4], [1, 3, 2, 4])
    assert r["spearman"] == pytest.approx(0.8) and r["n"] == 4
    assert r["pearson"] == pytest.approx(0.8) and 0 < r["pearson_p"] < 1
    assert P.correlate([1, None, 3, 4], [1, 2, 3, 5])["n"] == 3
    assert P.correlate([1, 2, 3], [2, 2, 2])["spearman"] is None


def test_groups_are_the_papers_regions():
    g, rule = P.groups(np.array(K), np.array(PERF), RULE)
    assert rule["k_high"] == pytest.approx(0.608) and rule["k_low"] == pytest.approx(0.31)
    assert rule["performance_low"] == pytest.approx(0.964) and rule["performance_strong"] == pytest.approx(1.136)
    assert g == EXPECTED
    assert K[6] >= rule["k_high"] and g[6] == "easy"     # high k: a rule on k alone says 'scaling'


@pytest.mark.parametrize("rule,key", [({**RULE, "low_k_quantile": 0.8}, "low_k_quantile"),
                                      ({**RULE, "performance_quantiles": [0.7, 0.2]}, "performance_quantiles")])
def test_groups_refuse_thresholds_out_of_order(rule, key):
    with pytest.raises(ValueError, match=rf"analysis\.groups.*{key}"):
        P.groups(np.array(K), np.array(PERF), rule)


def _fit(k=K, perf=PERF, run="sd_cfg2_incap"):
    return {"run": run, "reference_scale_D_I": 1000,
            "per_class": [{"class_index": c, "k": k[c], "neg_log_L_at_DI": perf[c]} for c in range(len(k))]}


def _eval(scale, losses, top1, run="sd_cfg2_incap"):
    return {"run": run, "scale": scale, "val": {"per_class_loss": list(losses), "per_class_top1": list(top1)}}


def _evals(n=9, run="sd_cfg2_incap", offset=0.0):
    """Scales 250, 1000, 4000, two seeds at 1000 (class c's loss there: the mean 1 + c / 10 + offset)."""
    base = np.arange(n) / 10 + offset
    top1 = [0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.1, 0.9, 0.9][:n]   # class 6: worst top-1 at the largest scale
    return [_eval(250, 2 + base, top1, run), _eval(1000, 0.9 + base, top1, run), _eval(1000, 1.1 + base, top1, run),
            _eval(4000, 0.5 + base, top1, run)]


def _quality(n=9):
    k = np.array(K[:n])
    return {"per_class_recognizability": (k * 0.5 + 0.2).tolist(), "per_class_diversity": (1 - k).tolist(),
            "per_class_fid": [None] + list(range(n - 1)), "per_class_lpips": [1.0] * n}


NAMES = [f"c{i}" for i in range(9)]


def test_analyze_groups_by_performance_at_DI_not_top1_at_the_largest_scale():
    a = P.analyze(_fit(), _evals(), _quality(), NAMES, CFG)
    assert [c["group"] for c in a["classes"]] == EXPECTED
    assert a["groups"]["easy"] == ["c6"] and a["groups"]["poor"] == ["c0", "c1"]
    assert a["groups"]["scaling"] == ["c7", "c8"] and len(a["groups"]["other"]) == 4
    assert a["classes"][6]["top1_at_largest"] == 0.1                # worst top-1, still easy
    assert a["correlations_with_k"]["recognizability"]["spearman"] == pytest.approx(1.0)
    assert a["correlations_with_k"]["diversity"]["spearman"] == pytest.approx(-1.0)
    assert a["correlations_with_k"]["fid"]["n"] == 8
    assert a["correlations_with_k"]["lpips"]["spearman"] is None    # constant
    assert a["highest_k"] == ["c8", "c7", "c6"] and a["lowest_k"] == ["c0", "c1", "c2"]
    assert [r["name"] for r in a["table_a9"]] == ["c0", "c1", "c2"] and a["table_a9"][0]["group"] == "poor"
    assert a["largest_scale"] == 4000 and a["colour_scale"] == 4000
    # colour: -log of the class's loss at the colour scale (class 3 at 4000: 0.5 + 0.3)
    assert a["classes"][3]["neg_log_L_at_colour_scale"] == pytest.approx(-np.log(0.8))
    # one representative per group: poor of lowest k, easy of highest k, scaling of highest k
    assert a["examples"]["names"] == ["c0", "c6", "c8"]
    # per-class curves: the mean over the two seeds at 1000 (0.9 and 1.1 -> 1.0, + 0.8 for class 8)
    assert a["curves"]["scales"] == [250, 1000, 4000]
    assert a["curves"]["loss"]["c8"] == pytest.approx([2.8, 1.8, 1.3])
    assert len(a["k_deciles"]) == 9 and a["k_deciles"][0]["k"] == pytest.approx(0.05)


def test_analyze_beside_real_data():
    real_fit = _fit(k=[0.5] * 9, perf=[1.0] * 9, run="real")
    real_evals = [{**e, "val": {**e["val"], "per_class_top1": [0.5] * 9}} for e in _evals(run="real", offset=-0.2)]
    a = P.analyze(_fit(), _evals(), _quality(), NAMES, CFG, real_fit=real_fit, real_evals=real_evals)
    assert a["real"]["largest_scale"] == 4000
    assert a["real"]["classes_synthetic_beats_real"] == ["c0", "c1", "c2", "c7", "c8"]   # top-1 0.9 > 0.5
    assert a["real"]["classes_synthetic_scales_better"] == ["c6", "c7", "c8"]            # k > 0.5
    assert a["classes"][0]["k_real"] == 0.5 and a["classes"][0]["top1_real_at_largest"] == 0.5
    assert a["curves"]["real_loss"]["c8"] == pytest.approx([2.6, 1.6, 1.1])


def test_colour_scale_and_chosen_classes_follow_the_config():
    cfg = copy.deepcopy(CFG)
    cfg["colour_scale"], cfg["examples"]["classes"] = 2000, ["c4", 7]
    a = P.analyze(_fit(), _evals(), _quality(), NAMES, cfg)
    assert a["colour_scale"] == 1000        # not measured: the largest measured scale below it
    assert a["examples"]["classes"] == [4, 7] and set(a["curves"]["loss"]) == {"c4", "c7"}
    cfg["examples"]["classes"] = ["c4", "zebra"]
    with pytest.raises(ValueError, match=r"analysis\.examples\.classes: no class named 'zebra'"):
        P.analyze(_fit(), _evals(), _quality(), NAMES, cfg)
    with pytest.raises(ValueError, match=r"class index 9 outside 0\.\.8"):
        P.resolve_classes([9], NAMES)


def test_pick_scale():
    assert P.pick_scale([250, 1000, 4000], None) == 4000
    assert P.pick_scale([250, 1000, 4000], 1000) == 1000
    assert P.pick_scale([250, 1000, 4000], 4_000_000) == 4000
    assert P.pick_scale([250, 1000, 4000], 100) == 250


def test_sample_images_read_the_run_shards(tmp_path):
    from synscale.data.shards import Sample, write_shard

    # two shards, labels cycling over 3 classes, each image filled with its sample number
    for s in range(2):
        write_shard(tmp_path / f"shard-{s}.tar", [Sample(f"s{s}_{i:03d}", np.full((4, 4, 1), 10 * s + i, np.uint8),
                                                         i % 3) for i in range(6)])
    got = P.sample_images([tmp_path / "shard-0.tar", tmp_path / "shard-1.tar"], [0, 2], 3, 4, 1)
    assert sorted(got) == [0, 2]
    # class 0: samples 0 and 3 of shard 0, then sample 0 of shard 1 (value 10)
    assert [int(im[0, 0, 0]) for im in got[0]] == [0, 3, 10]
    assert [int(im[0, 0, 0]) for im in got[2]] == [2, 5, 12]


def test_per_class_figures_and_table(tmp_path):
    from synscale.report import per_class_figures as F

    real_fit = _fit(k=[0.5] * 9, perf=[1.0] * 9, run="real")
    a = P.analyze(_fit(), _evals(), _quality(), NAMES, CFG, real_fit=real_fit, real_evals=_evals(run="real"))
    F.groups_figure(a, tmp_path / "a.png")
    F.curves_figure(a, tmp_path / "c.png")
    imgs = {c: [np.full((8, 8, 1), 25 * c, np.uint8)] * 2 for c in a["examples"]["classes"]}
    F.samples_figure(a, imgs, 2, tmp_path / "s.png")
    for name in ("a.png", "c.png", "s.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG" and (tmp_path / name).stat().st_size > 5_000
    html = F.table_a9_html(a)
    assert "Table A9" in html and html.index("c0") < html.index("c1") < html.index("c2") and "poor" in html
