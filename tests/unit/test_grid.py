"""The guidance sweep of the T2I families: config section, run enumeration, summary and Spearman."""
import copy
import json

import numpy as np
import pandas as pd
import pytest

from synscale import config as C
from synscale.analysis.guidance_sweep import correlations, grid_plot, spearman, summary_table


def _rows():
    rows = []
    for model, family, gs in (("sd", "latent_diffusion", [1, 2, 4]), ("muse", "masked_token", [0.1, 0.5, 1])):
        for prompt in ("classname", "incap"):
            for i, g in enumerate(gs):
                rows.append({"run": C.run_name(model, g, prompt), "model": model, "family": family, "guidance": g,
                             "prompt": prompt, "recognizability": 0.5 + 0.1 * i + (0.01 if prompt == "incap" else 0),
                             "diversity": 0.4 - 0.05 * i if model == "sd" else 0.3 + 0.02 * ((i + 1) % 3),
                             "accuracy": 0.5, "n_images": 100})
    return rows


def test_spearman_matches_a_hand_computation():
    # ranks of x: 1 2 3 4; ranks of y: 2 1 4 3 -> d^2 = 1+1+1+1 = 4; rho = 1 - 6*4 / (4*15) = 0.6
    r = spearman([1, 2, 3, 4], [20, 10, 40, 30])
    assert r["rho"] == pytest.approx(0.6) and r["n"] == 4 and 0 < r["p"] < 1
    assert spearman([1, 2], [3, 4])["rho"] is None            # too few points
    assert spearman([1, 2, 3], [5, 5, 5])["rho"] is None      # constant


def test_correlations_per_model_and_prompt():
    df = summary_table(_rows())
    assert list(df.columns)[:5] == ["run", "model", "family", "guidance", "prompt"]
    assert df.iloc[0]["model"] == "muse" and df.iloc[0]["guidance"] == 0.1  # sorted by model, prompt, guidance
    c = correlations(df)
    assert c["sd"]["family"] == "latent_diffusion"
    assert c["sd"]["all"]["recognizability"]["rho"] == pytest.approx(
        spearman(df[df.model == "sd"]["guidance"], df[df.model == "sd"]["recognizability"])["rho"])
    assert c["sd"]["by_prompt"]["incap"]["recognizability"]["rho"] == pytest.approx(1.0)
    assert c["sd"]["by_prompt"]["incap"]["diversity"]["rho"] == pytest.approx(-1.0)
    # muse diversity 0.32, 0.34, 0.30 against t 0.1, 0.5, 1: ranks 2 3 1 against 1 2 3 -> rho = -0.5
    assert c["muse"]["by_prompt"]["classname"]["diversity"]["rho"] == pytest.approx(-0.5)
    assert c["muse"]["all"]["recognizability"]["n"] == 6


def test_summary_table_refuses_missing_columns():
    rows = _rows()
    for r in rows:
        r.pop("diversity")
    with pytest.raises(ValueError, match="diversity"):
        summary_table(rows)


def test_grid_plot_writes_a_figure(tmp_path):
    out = tmp_path / "g.png"
    grid_plot(summary_table(_rows()), out)
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


def test_grid_runs_are_the_cross_product(embedded_cfg):
    cfg = copy.deepcopy(embedded_cfg)
    cfg["grid"] = {"guidance": {"sd": [2, 1]}, "prompts": ["classname", "incap"]}
    runs = C.grid_runs(C.validate(cfg))
    assert list(runs) == ["sd_cfg1_classname", "sd_cfg2_classname", "sd_cfg1_incap", "sd_cfg2_incap"]
    assert runs["sd_cfg1_incap"].scales == () and runs["sd_cfg1_incap"].guidance == 1.0


def test_paper_grid_summarises_the_configured_runs(root):
    cfg = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    runs = C.grid_runs(cfg)
    assert len(runs) == 52 and "muse_cfg0.3_incap" in runs and "imagen_cfg1.5_incap" in runs
    assert not any("-" in n for n in runs)  # a run's own classifier does not add a config


GRID_ERRORS = [
    ({"guidance": {"dalle": [2]}, "prompts": ["incap"]}, r"grid\.guidance\.dalle.*unknown model"),
    ({"guidance": {"sd": [0.5]}, "prompts": ["incap"]}, r"grid\.guidance\.sd.*0\.5 outside the range \[1, 10\]"),
    ({"guidance": {"sd": [2, 2.0]}, "prompts": ["incap"]}, r"grid\.guidance\.sd.*listed twice"),
    ({"guidance": {"sd": [2]}, "prompts": ["poetry"]}, r"grid\.prompts.*unknown prompt set 'poetry'"),
    ({"guidance": {"sd": [2]}, "prompts": ["word2sen"]}, r"grid\.prompts.*'word2sen' is not available"),
    ({"guidance": {"sd": [2]}}, r"config key 'grid': give both"),
    ({}, r"config key 'grid': empty"),
    ({"guidance": {"sd": [2]}, "prompts": ["incap"], "sizes": 3}, r"grid.*'sizes' was unexpected"),
]


@pytest.mark.parametrize("grid,pattern", GRID_ERRORS)
def test_bad_grid_section(embedded_cfg, grid, pattern):
    cfg = copy.deepcopy(embedded_cfg)
    cfg["grid"] = grid
    with pytest.raises(C.ConfigError) as e:
        C.validate(cfg)
    assert __import__("re").search(pattern, str(e.value)), str(e.value)


def test_summarize_step_joins_quality_jsons(tmp_path, embedded_cfg):
    from synscale.steps.grid import summarize

    cfg = C.pick(embedded_cfg, "results", "grid", "reference_classifier.arch")
    runs, paths = {}, []
    for i, g in enumerate([1, 2, 4]):
        name = C.run_name("sd", g, "incap")
        runs[name] = {"model": "sd", "family": "latent_diffusion", "guidance": float(g), "prompt": "incap"}
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps({"run": name, "recognizability": 0.6 + 0.1 * i, "diversity": 0.3 - 0.05 * i,
                                 "accuracy": 0.7, "n_images": 500, "provenance": {"results": cfg["results"]}}))
        paths.append(str(p))
    out = summarize(cfg, runs, paths, tmp_path / "s.csv", tmp_path / "s.json", tmp_path / "s.png")
    df = pd.read_csv(tmp_path / "s.csv")
    assert np.allclose(df["recognizability"], [0.6, 0.7, 0.8]) and list(df["guidance"]) == [1, 2, 4]
    assert out["spearman_guidance"]["sd"]["all"]["diversity"]["rho"] == pytest.approx(-1.0)
    assert "resnet10t" in json.loads((tmp_path / "s.json").read_text())["feature_space"]
    with pytest.raises(ValueError, match="no quality JSON"):
        summarize(cfg, {**runs, "sd_cfg3_incap": runs["sd_cfg1_incap"]}, paths, tmp_path / "t.csv", tmp_path / "t.json")
