"""The comparison across eras (synscale.report.eras): each model's best configuration with its k and
-log L at D_I, the paper's three models from its tabulated grid, and the recognizability-diversity plane."""
import math

import pandas as pd
import pytest
from support.repo import ROOT

from synscale.report.eras import era_plane, era_scaling, era_table
from synscale.report.tables import SUMMARY_COLUMNS, paper_values

MODELS = {"sd": {"family": "latent_diffusion"}, "flux": {"family": "diffusers", "guidance": "distilled"},
          "schnell": {"family": "diffusers", "guidance": "none"}}


def _summary():
    rows = [  # sd: the fitted run with the higher -log L wins over an unfitted run with a higher one
        {"run": "sd_cfg2_incap", "model": "sd", "guidance": 2.0, "prompt": "incap", "k": 0.30, "k_ci_low": 0.1,
         "k_ci_high": 0.5, "neg_log_L_at_DI": 0.8, "r2": 0.9, "recognizability": 0.6, "diversity": 0.7},
        {"run": "sd_cfg4_incap", "model": "sd", "guidance": 4.0, "prompt": "incap", "k": 0.35, "k_ci_low": 0.2,
         "k_ci_high": 0.5, "neg_log_L_at_DI": 0.7, "r2": 0.8, "recognizability": 0.7, "diversity": 0.6},
        {"run": "sd_cfg7.5_incap", "model": "sd", "guidance": 7.5, "prompt": "incap", "neg_log_L_at_DI": 0.95,
         "recognizability": 0.8, "diversity": 0.5},
        # flux: no fit anywhere -> the best measured at D_I
        {"run": "flux_cfg2_incap", "model": "flux", "guidance": 2.0, "prompt": "incap", "neg_log_L_at_DI": 0.4},
        {"run": "flux_cfg3.5_incap", "model": "flux", "guidance": 3.5, "prompt": "incap", "neg_log_L_at_DI": 0.5,
         "recognizability": 0.9, "diversity": 0.4},
        # schnell: measured neither way -> listed without numbers
        {"run": "schnell_cfg0_incap", "model": "schnell", "guidance": 0.0, "prompt": "incap"},
        {"run": "real", "model": "real", "k": 0.5, "neg_log_L_at_DI": 1.5},
    ]
    return pd.DataFrame(rows).reindex(columns=list(SUMMARY_COLUMNS))


def test_best_configuration_per_model_and_the_papers_rows():
    paper = paper_values(ROOT / "data" / "paper_grid_1p3M.csv")
    t = era_table(_summary(), MODELS, paper).set_index("model")
    assert "real" not in t.index
    sd = t.loc["sd"]
    assert (sd["run"], sd["k"], sd["neg_log_L_at_DI"], sd["configs"]) == ("sd_cfg2_incap", 0.30, 0.8, 3)
    assert (sd["source"], sd["guidance_meaning"]) == ("measured here", "cfg")
    flux = t.loc["flux"]
    assert flux["run"] == "flux_cfg3.5_incap" and math.isnan(flux["k"]) and flux["neg_log_L_at_DI"] == 0.5
    assert flux["guidance_meaning"] == "distilled" and flux["era"].startswith("today")
    sch = t.loc["schnell"]
    assert sch["guidance_meaning"] == "none" and math.isnan(sch["neg_log_L_at_DI"])
    # the paper's rows: its ImageNet val loss at 1.3M (Tables A5: SD 2.23, Imagen 1.78, Muse 2.08 at incap)
    for label, loss, rec in (("Stable Diffusion 1.5", 2.23, 0.573), ("Imagen", 1.78, 0.647), ("Muse", 2.08, 0.520)):
        r = t.loc[label]
        assert r["neg_log_L_at_DI"] == pytest.approx(-math.log(loss)) and r["recognizability"] == rec
        assert r["source"].startswith("the paper") and math.isnan(r["k"])
    assert t.loc["Stable Diffusion 1.5", "configs"] == 45 and t.loc["Muse", "configs"] == 4


def test_without_the_papers_table_only_measured_rows(tmp_path):
    t = era_table(_summary(), MODELS)
    assert list(t["model"]) == ["flux", "schnell", "sd"] and set(t["source"]) == {"measured here"}
    era_plane(_summary(), MODELS, tmp_path / "plane.png")
    era_plane(_summary(), MODELS, tmp_path / "with_paper.png",
              paper_values(ROOT / "data" / "paper_grid_1p3M.csv"), "the paper's rows: its own numbers")
    from PIL import Image

    era_scaling(era_table(_summary(), MODELS, paper_values(ROOT / "data" / "paper_grid_1p3M.csv")),
                tmp_path / "scaling.png", "note")
    for name in ("plane.png", "with_paper.png", "scaling.png"):
        with Image.open(tmp_path / name) as im:
            assert im.size[0] > 600 and len(set(im.convert("L").getdata())) > 20   # drawn, not blank
