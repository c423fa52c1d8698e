"""Several training seeds per scale: seed-variant runs share their run's images and enter its fit."""
import copy
import json

import numpy as np
import pytest

from synscale import config as C
from synscale.seeds import seed_for


def test_seeds_make_variant_runs(embedded_cfg):
    cfg = copy.deepcopy(embedded_cfg)
    cfg["runs"][0]["seeds"] = [0, 1, 2]
    cfg["runs"].append({"model": "sd", "guidance": 2, "prompt": "incap", "scales": [250, 500, 1000], "seeds": [0, 5],
                        "classifier": {"tag": "wide", "arch": "vit_tiny_patch16_224",
                                       "kwargs": dict(cfg["classifier"]["kwargs"], embed_dim=48)}})
    runs = C.runs(C.validate(cfg))
    base = runs["sd_cfg2_incap"]
    assert base.seed_runs == ("sd_cfg2_incap-seed1", "sd_cfg2_incap-seed2") and base.default_target
    v = runs["sd_cfg2_incap-seed2"]
    assert v.seed_of == "sd_cfg2_incap" and not v.default_target and v.data == "sd_cfg2_incap"
    assert C.run_classifier(cfg["classifier"], v.classifier) == C.run_classifier(cfg["classifier"], None)
    w = runs["sd_cfg2_incap-wideseed5"]      # a run's own classifier keeps its architecture
    assert w.seed_of == "sd_cfg2_incap-wide" and w.classifier["kwargs"]["embed_dim"] == 48
    assert C.parse_name("sd_cfg2_incap-wideseed5") == ("sd", 2.0, "incap")
    # different names: different training seeds (seed_for(seed, 'train', run, scale))
    assert seed_for(0, "train", "sd_cfg2_incap", 250) != seed_for(0, "train", "sd_cfg2_incap-seed1", 250)


def test_duplicate_seeds_are_refused(embedded_cfg):
    cfg = copy.deepcopy(embedded_cfg)
    cfg["runs"][0]["seeds"] = [0, 0]
    with pytest.raises(C.ConfigError, match=r"runs\.0\.seeds|runs\[0\]\.seeds"):
        C.validate(cfg)


def _eval(tmp_path, run, scale, loss, results):
    p = tmp_path / f"{run}-{scale}.json"
    p.write_text(json.dumps({"run": run, "scale": scale, "provenance": {"results": results},
                             "val": {"loss": loss, "top1": 1 - loss / 2, "per_class_loss": [loss, 2 * loss]},
                             "ood": {"digits": {"loss": 2 * loss, "top1": 0.5}}}))
    return str(p)


def test_every_seed_enters_the_fit(tmp_path, embedded_cfg):
    from synscale.analysis.fit import fit_power_law
    from synscale.steps.fit import fit_run as fit

    cfg = C.pick(embedded_cfg, "results", "seed", "fit.reference_scale", "fit.min_points")
    scales = [250, 500, 1000]
    losses = {0: [1.0, 0.8, 0.6], 1: [1.2, 0.9, 0.62]}
    paths = [_eval(tmp_path, "sd_cfg2_incap" if s == 0 else "sd_cfg2_incap-seed1", sc, losses[s][i], cfg["results"])
             for s in (0, 1) for i, sc in enumerate(scales)]
    run = {"name": "sd_cfg2_incap", "model": "sd", "guidance": 2.0, "prompt": "incap", "fit_range": None,
           "seed_runs": ["sd_cfg2_incap-seed1"]}
    out = fit(cfg, run, paths, None, str(tmp_path / "fit.json"), str(tmp_path / "fit.png"))
    assert out["n_points"] == 6 and out["seeds_per_scale"] == 2
    expected = fit_power_law(scales * 2, losses[0] + losses[1], cfg["fit"]["reference_scale"])
    assert out["k"] == pytest.approx(expected["k"])
    p0 = out["points"][0]
    assert p0["val_loss"] == pytest.approx(1.1) and p0["val_loss_std"] == pytest.approx(np.std([1.0, 1.2], ddof=1))
    assert p0["seed_losses"] == [1.0, 1.2] and p0["n_seeds"] == 2
    # per-class k fits the per-class means
    pc = fit_power_law(scales, [np.mean([losses[0][i], losses[1][i]]) for i in range(3)],
                       cfg["fit"]["reference_scale"])
    assert out["per_class"][0]["k"] == pytest.approx(pc["k"])
    assert (tmp_path / "fit.png").stat().st_size > 10_000
