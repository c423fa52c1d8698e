"""The cost ledger: Snakemake's benchmark files joined with each job's JSON record, one row per job,
tolerant of jobs without either file; the report's cost section drawn from it; the ledger in the
default target."""
import json
from pathlib import Path

import pytest
from support.repo import smk

from synscale.ops import ledger as L
from synscale.report import cost as R

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"

RULES = {
    "train_classifier": {"benchmark": "results/benchmarks/train_classifier/{run}/n{scale}.tsv",
                         "record": "results/checkpoints/{run}/n{scale}/train.json"},
    "generate_shard": {"benchmark": "results/benchmarks/generate_shard/{run,[^/]+}/shard-{shard}.tsv",
                       "record": "results/shards/{run}/shard-{shard}.json"},
    "val_features": {"benchmark": "results/benchmarks/val_features/val.tsv", "record": None},
}


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _bench(path, *rows):
    """rows: (wall seconds, max RSS MB, CPU seconds)."""
    _write(path, HEADER + "".join(f"{s}\t0:00:00\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n" for s, rss, cpu in rows))


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = tmp_path / "results"
    # a training job on 2 A100s, run twice by --benchmark-repeats: the mean of its repeats
    _bench(res / "benchmarks/train_classifier/real/n100.tsv", (7200, 1000, 100), (3600, 3000, 300))
    _write(res / "checkpoints/real/n100/train.json", json.dumps({
        "run": "real", "scale": 100, "arch": "vit_tiny_patch16_224",
        "work": {"unit": "samples", "amount": 64000, "steps": 500, "gpus": 2,
                 "gpu_model": "NVIDIA A100-SXM4-80GB", "resolution": 16}}))
    # a training record written before records held their work, and no benchmark file (--touch)
    _write(res / "checkpoints/sd_cfg2_incap/n200/train.json", json.dumps({
        "run": "sd_cfg2_incap", "scale": 200, "arch": "vit_tiny_patch16_224", "iters": 300, "resumed_from": 100,
        "global_batch": 32, "processes": 1, "device": "cpu"}))
    # a generation job whose manifest is gone: its GPUs are the config's (generation.gpus = 1)
    _bench(res / "benchmarks/generate_shard/sd_cfg2_incap/shard-00000.tsv", (100, 500, 90))
    _bench(res / "benchmarks/val_features/val.tsv", (36, 400, 30))
    return tmp_path


def _by(rows):
    return {(r["rule"], r["wildcards"]): r for r in rows}


def test_read_benchmark_averages_repeats(workspace):
    b = L.read_benchmark("results/benchmarks/train_classifier/real/n100.tsv")
    assert b == {"wall_s": 5400.0, "cpu_s": 200.0, "max_rss_mb": 2000.0}
    assert L.read_benchmark("results/benchmarks/nothing.tsv") == {}


def test_pattern_matches_with_constraints_and_repeated_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a/x/x.json", "{}")
    _write(tmp_path / "a/x/y.json", "{}")
    assert L.matches("a/{run}/{run}.json") == {(("run", "x"),): "a/x/x.json"}
    assert L.matches("a/{run,[a-z]+}/{name}.json") == {(("run", "x"), ("name", "x")): "a/x/x.json",
                                                      (("run", "x"), ("name", "y")): "a/x/y.json"}


def test_rows_join_benchmarks_and_records(workspace, tiny_cfg):
    rows = _by(L.build(RULES, tiny_cfg))
    assert len(rows) == 4
    t = rows[("train_classifier", "run=real;scale=100")]
    # 5400 s on 2 GPUs = 3 GPU-hours; 64,000 samples in 5400 s
    assert (t["gpus"], t["wall_s"], t["gpu_hours"], t["device"]) == (2, 5400.0, 3.0, "NVIDIA A100-SXM4-80GB")
    assert (t["work_unit"], t["work"], t["steps"], t["throughput"]) == ("samples", 64000, 500, 11.852)
    assert (t["arch"], t["resolution"], t["max_rss_mb"], t["cpu_s"]) == ("vit_tiny_patch16_224", 16, 2000.0, 200.0)
    # no benchmark file: counted with empty timing; the work derived from an older record: 200 steps x 32
    old = rows[("train_classifier", "run=sd_cfg2_incap;scale=200")]
    assert (old["wall_s"], old["gpu_hours"], old["throughput"]) == ("", "", "")
    assert (old["work"], old["steps"], old["device"], old["gpus"]) == (6400, 200, "cpu", 1)
    # no record: timing only, the GPUs its rule asks for; the model from the run's name
    g = rows[("generate_shard", "run=sd_cfg2_incap;shard=00000")]
    assert (g["gpus"], g["gpu_hours"], g["work"], g["model"], g["record"]) == (1, round(100 / 3600, 6), "", "sd", "")
    v = rows[("val_features", "")]
    assert (v["gpus"], v["gpu_hours"]) == (1, 0.01)


def test_csv_round_trip_and_totals(workspace, tiny_cfg):
    rows = L.build(RULES, tiny_cfg)
    L.write_csv(rows, "results/ledger.csv")
    back = L.read_csv("results/ledger.csv")
    assert [r["rule"] for r in back] == [r["rule"] for r in rows]
    train = [r for r in back if r["wildcards"] == "run=real;scale=100"][0]
    assert train["gpu_hours"] == 3.0 and train["work"] == 64000.0
    assert [r for r in back if r["wildcards"] == "run=sd_cfg2_incap;scale=200"][0]["wall_s"] is None
    tot = L.totals(back, "rule")
    assert tot["train_classifier"] == {"jobs": 2, "timed": 1, "wall_s": 5400.0, "gpu_hours": 3.0}
    assert tot["val_features"]["gpu_hours"] == pytest.approx(0.01)
    assert L.read_csv("results/none.csv") == []


def test_read_csv_refuses_another_table(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a ledger"):
        L.read_csv(tmp_path / "x.csv")


def test_cost_section_files(workspace, tiny_cfg):
    rows = L.build(RULES, tiny_cfg)
    _write(workspace / "results/checkpoints/real/n100/model.pt.loss.csv",
           "step,loss,lr\n0,2.3,0.001\n1,2.1,0.002\nbad,row,x\n2,1.9,0.002\n")
    R.cost_html(rows, "results/report/cost.html")
    html = (workspace / "results/report/cost.html").read_text()
    assert "4 job(s) in the ledger; 1 without a benchmark file" in html
    assert "<td>train_classifier</td><td>2</td><td>1</td><td>1.5000</td><td>3.0000</td>" in html
    R.cost_bars(rows, "results/report/cost.png")
    curves = R.loss_csvs(r["record"] for r in rows if r["rule"].startswith("train_"))
    assert [p.name for p in curves] == ["model.pt.loss.csv"]
    assert R.read_loss_csv(curves[0]) == {"step": [0.0, 1.0, 2.0], "loss": [2.3, 2.1, 1.9], "lr": [0.001, 0.002, 0.002]}
    R.training_curves(curves, "results/report/training_curves.png")
    R.training_curves([], "results/report/empty_curves.png")
    for f in ("cost.png", "training_curves.png", "empty_curves.png"):
        assert (workspace / "results/report" / f).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.subprocess
def test_default_target_builds_the_ledger_and_cost_section(tmp_path):
    p = smk(tmp_path, "-n", options=(), timeout=300)
    block = p.stdout.split("rule ledger:")[1].split("\n[")[0]
    assert "output: results/ledger.csv, results/report/cost.html, results/report/cost.png, " \
           "results/report/training_curves.png" in block
    assert "results/report/summary.html" in block  # it runs after the rest of the default target
    assert "results/ledger.csv" in p.stdout.split("rule all:")[1]


def test_every_heavy_record_states_its_work(tmp_path, monkeypatch):
    """The work blocks the steps write (synscale.device.work_record) become the ledger's work and
    throughput: a tiny T2I model's training (every stage's samples) and an evaluation's images."""
    from synscale.device import work_record
    from synscale.steps.t2i import training_work

    tc = {"vae_steps": 10, "unet_steps": 30, "batch_size": 8}
    w = training_work("latent_diffusion", tc, 20.0)
    assert (w["unit"], w["amount"], w["steps"], w["gpu_model"], w["per_second"]) == ("samples", 320, 40, "cpu", 16.0)
    assert training_work("masked_token", {"vq_steps": 5, "vq_batch_size": 4, "steps": 10, "batch_size": 2},
                         1.0)["amount"] == 40
    monkeypatch.chdir(tmp_path)
    _bench(tmp_path / "results/benchmarks/train_t2i/sd.tsv", (25, 900, 24))
    _write(tmp_path / "results/t2i/sd/synscale_training.json", json.dumps({"model": "sd", "work": w}))
    _bench(tmp_path / "results/benchmarks/evaluate/real/n100.tsv", (10, 900, 9))
    _write(tmp_path / "results/eval/real/n100.json", json.dumps({
        "run": "real", "scale": 100, "work": work_record("images", 500, 8.0, {"gpu": "NVIDIA H100"}, 1)}))
    rules = {"train_t2i": {"benchmark": "results/benchmarks/train_t2i/{model,[a-z][a-z0-9]*}.tsv",
                           "record": "results/t2i/{model,[a-z][a-z0-9]*}/synscale_training.json"},
             "evaluate": {"benchmark": "results/benchmarks/evaluate/{run}/n{scale}.tsv",
                          "record": "results/eval/{run}/n{scale}.json"}}
    rows = _by(L.build(rules, {"runs": [], "models": {}, "data": {"image_size": 16}, "generation": {"gpus": 1}}))
    t2i = rows[("train_t2i", "model=sd")]
    assert (t2i["work_unit"], t2i["work"], t2i["steps"], t2i["wall_s"], t2i["throughput"]) == ("samples", 320, 40, 25.0,
                                                                                             12.8)
    ev = rows[("evaluate", "run=real;scale=100")]
    assert (ev["work"], ev["device"], ev["throughput"]) == (500, "NVIDIA H100", 50.0)
    # the T2I model's loss curve lies beside its directory, not inside it
    _write(tmp_path / "results/t2i/sd.loss.csv", "step,loss,lr\n1,0.5,0.001\n")
    assert R.loss_csvs([t2i["record"]]) == [Path("results/t2i/sd.loss.csv")]
