"""The broken power law is fitted over every measured scale, beyond the plain law's fit range, so the
§4.4 bend beyond 4M can be found: a knee planted at 8M on the paper's ten SD scales is recovered."""
import json
import math

import numpy as np
import pytest
from support.repo import ROOT

from synscale import config as C
from synscale.analysis.broken import aicc, broken_power_law

SD_SCALES = [125_000, 250_000, 500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000, 32_000_000,
             64_000_000]
D_I = 1_300_000


def _kneed_losses(seed: int, knee: float = 8e6, k_before: float = 0.2, k_after: float = 0.05,
                  noise: float = 0.015) -> np.ndarray:
    """A loss of 2.0 at the knee falling with k_before up to it and k_after beyond (ViT-B's
    capacity bend), with 1.5% multiplicative noise."""
    x = np.log(np.array(SD_SCALES) / knee)
    y = math.log(2.0) - k_before * np.minimum(x, 0) - k_after * np.maximum(x, 0)
    return np.exp(y + np.random.default_rng(seed).normal(0, noise, len(x)))


def test_aicc_by_hand():
    # n = 10, SSE = 0.01, 4 parameters + variance: 10 log(0.001) + 10 + 60 / 4
    assert aicc(0.01, 10, 4) == pytest.approx(10 * math.log(0.001) + 10 + 15)
    assert aicc(0.01, 10, 2) == pytest.approx(10 * math.log(0.001) + 6 + 24 / 6)
    # in the paper's fit range (7 scales, 0.125M-4M with 1.3M) the broken law's AICc is hopeless:
    # a 60-point penalty against the plain law's 12
    assert aicc(0.01, 7, 4) - aicc(0.01, 7, 2) == pytest.approx(10 + 60 - 6 - 8)
    assert aicc(1.0, 6, 4) == math.inf


def test_knee_at_8M_recovered_on_the_ten_sd_scales():
    loss = _kneed_losses(seed=0)
    b = broken_power_law(SD_SCALES, loss, D_I)
    assert b["preferred"] and b["aicc"] < b["aicc_plain"] - 2
    assert 8e6 / 1.5 <= b["knee_scale"] <= 8e6 * 1.5
    lo, hi = b["knee_scale_ci"]
    assert lo <= b["knee_scale"] <= hi and b["knee_ci_open"] == [False, False]
    assert b["k_before"] == pytest.approx(0.2, abs=0.02) and b["k_after"] == pytest.approx(0.05, abs=0.04)
    assert b["fit_scales"] == SD_SCALES and b["n_points"] == 10 and b["fit_range"] == [125_000, 64_000_000]


def test_recovery_is_not_luck_of_one_seed():
    hits = [broken_power_law(SD_SCALES, _kneed_losses(seed=s), D_I) for s in range(40)]
    assert sum(b["preferred"] and abs(math.log(b["knee_scale"] / 8e6)) < math.log(1.5) for b in hits) >= 38
    straight = [broken_power_law(SD_SCALES, _kneed_losses(seed=s, k_after=0.2), D_I) for s in range(40)]
    assert sum(b["preferred"] for b in straight) <= 2


def _eval(tmp_path, scale, loss, results):
    p = tmp_path / f"sd-{scale}.json"
    p.write_text(json.dumps({"run": "sd_cfg2_incap", "scale": scale, "provenance": {"results": results},
                             "val": {"loss": loss, "top1": 1 - loss / 4, "per_class_loss": [loss, 2 * loss]},
                             "ood": {"sketch": {"loss": 2 * loss, "top1": 1 - loss / 3}}}))
    return str(p)


def test_the_fit_step_fits_the_broken_law_over_all_scales(tmp_path, embedded_cfg):
    from synscale.steps.fit import fit_run

    paper_fit = C.load_yaml(ROOT / "config" / "paper.yaml")["fit"]
    cfg = C.pick(embedded_cfg, "results", "seed", "fit.min_points")
    cfg["fit"]["reference_scale"] = paper_fit["reference_scale"]
    loss = _kneed_losses(seed=0)
    paths = [_eval(tmp_path, s, float(v), cfg["results"]) for s, v in zip(SD_SCALES, loss)]
    run = {"name": "sd_cfg2_incap", "model": "sd", "guidance": 2.0, "prompt": "incap",
           "fit_range": paper_fit["range"], "seed_runs": []}
    out = fit_run(cfg, run, paths, None, str(tmp_path / "fit.json"))
    # the plain law (and its CIs) inside the paper's range, 0.125M-4M; the broken law over all ten
    assert out["fit_range"] == [125_000, 4_000_000] and out["fit_scales"] == SD_SCALES[:6] and out["n_points"] == 6
    b = out["broken"]
    assert b["fit_scales"] == SD_SCALES and b["preferred"] and 8e6 / 1.5 <= b["knee_scale"] <= 8e6 * 1.5
    assert json.loads((tmp_path / "fit.json").read_text())["broken"]["fit_scales"] == SD_SCALES
    assert out["k"] == pytest.approx(0.2, abs=0.02) and out["boot_method"].startswith("residual bootstrap-t")
