"""The report's tables (synscale.report.tables, synscale.steps.report): -log L at D_I, the paper's
values only beside the paper's data and in the measured values' units, every scale (Tables A7, A8)."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from synscale.report import tables as T

PAPER = Path(__file__).resolve().parents[2] / "data" / "paper_grid_1p3M.csv"


def _eval(run, scale, loss, top1, n_classes=10, probes=None, ood=None):
    return {"run": run, "scale": scale, "val": {"loss": loss, "top1": top1, "per_class_top1": [top1] * n_classes},
            "probes": probes or {}, "probe_average": None, "ood": ood or {}}


def _fit(run, k=0.2):
    return {"run": run, "model": run.split("_")[0], "k": k, "k_ci": [k - 0.05, k + 0.05], "k_ci_boot": None,
            "ci_level": 0.95, "neg_log_L_at_DI": 0.7, "r2": 0.99, "broken": None, "points": [{}, {}, {}]}


def test_neg_log_L_at_DI_is_the_fit_or_the_loss_measured_at_DI():
    sd2, sd4 = "sd_cfg2_incap", "sd_cfg4_incap"
    runs = {sd2: {"model": "sd", "guidance": 2.0, "prompt": "incap", "fit": _fit(sd2),
                  "last_eval": _eval(sd2, 8000, 1.0, 0.6),
                  "evals": [_eval(sd2, 4000, 1.2, 0.5), _eval(sd2, 8000, 1.0, 0.6)]},
            # one scale, at D_I: two seed evaluations, losses 2.0 and 3.0 -> mean 2.5
            sd4: {"model": "sd", "guidance": 4.0, "prompt": "incap", "fit": None,
                  "last_eval": _eval(sd4, 4000, 2.0, 0.3),
                  "evals": [_eval(sd4, 4000, 2.0, 0.3), _eval(sd4, 4000, 3.0, 0.5)]},
            # one scale, not D_I: no performance at D_I
            "sd_cfg6_incap": {"model": "sd", "guidance": 6.0, "prompt": "incap", "fit": None,
                              "last_eval": _eval("sd_cfg6_incap", 250, 2.0, 0.3)}}
    rows = {r["run"]: r for r in T.summary_rows(runs, reference_scale=4000)}
    assert rows["sd_cfg2_incap"]["neg_log_L_at_DI"] == 0.7                       # the fit's intercept
    assert rows["sd_cfg2_incap"]["val_loss_at_DI"] == 1.2 and rows["sd_cfg2_incap"]["k_ci_low"] == pytest.approx(0.15)
    assert rows["sd_cfg4_incap"]["neg_log_L_at_DI"] == pytest.approx(-math.log(2.5))
    assert rows["sd_cfg4_incap"]["val_top1_at_DI"] == pytest.approx(0.4) and rows["sd_cfg4_incap"]["scales"] == 1
    assert "neg_log_L_at_DI" not in rows["sd_cfg6_incap"]


def test_paper_values_only_on_the_papers_data():
    assert "not ImageNet-1k" in T.paper_comparison("embedded_mnist", 10, 4000)
    assert "not ImageNet-1k" in T.paper_comparison("webdataset", 4, 1_300_000)
    assert "fit.reference_scale" in T.paper_comparison("webdataset", 1000, 1_281_167)
    assert T.paper_comparison("webdataset", 1000, 1_300_000) is None


def _quality(space="reference classifier resnet10t pre-logit features", lpips_space="reference stages"):
    return {"recognizability": 0.5, "diversity": 0.8, "fid": 3.0, "lpips": 0.7, "fid_feature_space": space,
            "lpips_feature_space": lpips_space}


def test_paper_values_in_the_measured_units():
    rows = T.summary_rows({
        "sd_cfg2_incap": {"model": "sd", "guidance": 2.0, "prompt": "incap", "fit": None,
                          "last_eval": _eval("sd_cfg2_incap", 1_300_000, 2.1, 0.55),
                          "quality": _quality("inception-v3 pool3 (2048-d)", "alex (torchmetrics LPIPS)")},
        "sd_cfg2_incap-vitl16": {"model": "sd", "guidance": 2.0, "prompt": "incap", "fit": None,
                                 "last_eval": _eval("sd_cfg2_incap-vitl16", 1_300_000, 1.9, 0.6),
                                 "quality": _quality()},
        "real": {"model": "real", "guidance": None, "prompt": None, "fit": None,
                 "last_eval": _eval("real", 1_300_000, 1.0, 0.8)}}, reference_scale=1_300_000)
    df = T.summary_table(rows, PAPER).set_index("run")
    paper = pd.read_csv(PAPER).set_index(["model", "cfg", "prompt"]).loc[("sd", 2, "incap")]
    sd = df.loc["sd_cfg2_incap"]
    # the paper prints top-1 in percent; beside a measured fraction it is a fraction too
    assert sd["paper_in_val_top1"] == pytest.approx(paper["in_val_top1"] / 100) and sd["paper_in_val_top1"] < 1
    assert sd["paper_in_val_loss"] == pytest.approx(paper["in_val_loss"])
    assert sd["paper_fid"] == pytest.approx(paper["fid"]) and sd["paper_lpips"] == pytest.approx(paper["lpips"])
    tagged = df.loc["sd_cfg2_incap-vitl16"]          # its own classifier, and FID in another feature space
    assert math.isnan(tagged["paper_in_val_top1"]) and math.isnan(tagged["paper_fid"])
    assert math.isnan(tagged["paper_lpips"])
    assert tagged["paper_recognizability"] == pytest.approx(paper["recognizability"])
    assert math.isnan(df.loc["real", "paper_in_val_top1"])
    only_real = T.summary_table([r for r in rows if r["run"] == "real"], PAPER)   # no guidance in any row
    assert math.isnan(only_real.loc[0, "paper_in_val_top1"])


def _write(path, data, results):
    path.write_text(json.dumps({**data, "provenance": {"results": results}}))
    return str(path)


def _step(tmp_path, source, n_classes, d_i):
    from synscale.steps.report import figures

    cfg = {"results": str(tmp_path / "res"), "report": {"paper_table": str(PAPER)}, "data": {"source": source},
           "fit": {"reference_scale": d_i}, "models": {"sd": {"family": "latent_diffusion"}}}
    runs, evals, quality = {}, [], []
    for g, loss in ((2, 2.0), (4, 2.2)):
        name = f"sd_cfg{g}_incap"
        e = _write(tmp_path / f"{name}.json", _eval(name, d_i, loss, 0.5, n_classes), cfg["results"])
        q = _write(tmp_path / f"{name}.q.json", _quality(), cfg["results"])
        runs[name] = {"model": "sd", "guidance": float(g), "prompt": "incap", "fit": None, "last_eval": e, "quality": q,
                      "evals": [e]}
        evals.append(e)
        quality.append(q)
    out = {k: str(tmp_path / f"{k}.{ext}") for k, ext in (("csv", "csv"), ("html", "html"), ("per_scale", "html"),
                                                             ("per_scale_csv", "csv"), ("k_bars", "png"),
                                                             ("curves", "png"), ("quality", "png"), ("ood", "png"),
                                                             ("eras", "html"), ("eras_csv", "csv"),
                                                             ("era_plane", "png"), ("era_scaling", "png"))}
    res = figures(cfg, runs, [], evals, quality, out, str(PAPER))
    return res, pd.read_csv(out["csv"]), (tmp_path / "html.html").read_text()


def _eras(tmp_path):
    return pd.read_csv(tmp_path / "eras_csv.csv").set_index("model"), (tmp_path / "eras.html").read_text()


def test_the_embedded_default_shows_no_imagenet_number(tmp_path, embedded_cfg):
    res, df, html = _step(tmp_path, embedded_cfg["data"]["source"], 10, embedded_cfg["fit"]["reference_scale"])
    assert not res["paper_values_shown"] and not [c for c in df.columns if c.startswith("paper_")]
    assert "55.04" not in html and "0.5504" not in html and "not shown" in html and "not ImageNet-1k" in html
    # across eras: the paper's rows stand labelled as its own, said not comparable with these data
    eras, eras_html = _eras(tmp_path)
    assert eras.loc["sd", "run"] == "sd_cfg2_incap" and eras.loc["sd", "source"] == "measured here"
    assert eras.loc["Stable Diffusion 1.5", "neg_log_L_at_DI"] == pytest.approx(-math.log(2.23))
    assert "not comparable with the measured rows here" in eras_html and "not ImageNet-1k" in eras_html


def test_imagenet_data_show_the_paper_in_fractions(tmp_path):
    res, df, html = _step(tmp_path, "webdataset", 1000, 1_300_000)
    assert res["paper_values_shown"] and "paper_in_val_top1" in df.columns
    sd = df.set_index("run").loc["sd_cfg2_incap"]
    assert sd["paper_in_val_top1"] == pytest.approx(0.5504) and sd["val_top1_at_DI"] == 0.5   # both fractions
    assert sd["neg_log_L_at_DI"] == pytest.approx(-math.log(2.0))
    eras, eras_html = _eras(tmp_path)    # the best SD config: the lower loss at D_I
    assert eras.loc["sd", "run"] == "sd_cfg2_incap" and eras.loc["sd", "neg_log_L_at_DI"] == pytest.approx(
        -math.log(2.0))
    assert "not comparable" not in eras_html and "the paper (ImageNet-1k" in eras_html


def test_per_scale_table_averages_seeds_and_names_every_set():
    probes = {"cifar10": {"top1": 0.5, "score": 0.6}, "digits": {"top1": 0.4}}
    ood = {"imagenet_r": {"top1": 0.2, "loss": 4.0}}
    evals = [_eval("sd_cfg2_incap", 1000, 2.0, 0.3, probes=probes, ood=ood),
             _eval("sd_cfg2_incap", 1000, 3.0, 0.5, probes=probes, ood=ood),
             _eval("sd_cfg2_incap", 250, 4.0, 0.1, probes=probes, ood=ood)]
    evals[0]["probe_average"], evals[1]["probe_average"] = 0.5, 0.7
    df = T.per_scale_table(evals)
    assert list(df["scale"]) == [250, 1000] and list(df["seeds"]) == [1, 2]
    row = df.set_index("scale").loc[1000]
    assert row["val_loss"] == pytest.approx(2.5) and row["val_top1"] == pytest.approx(0.4)
    assert row["probe_cifar10"] == pytest.approx(0.6)            # the probe's score (Table A2's metric) ...
    assert row["probe_digits"] == pytest.approx(0.4)             # ... or its top-1 where it has none
    assert row["probe_average"] == pytest.approx(0.6) and row["imagenet_r_top1"] == pytest.approx(0.2)
    assert "imagenet_r_loss" in df.columns


def test_table_html_escapes_and_notes():
    html = T.table_html(pd.DataFrame({"a": [1.23456]}), "t <x>", "a note & more")
    assert "t &lt;x&gt;" in html and "a note &amp; more" in html and "1.235" in html
