"""The planner: pending jobs read from Snakemake's dry run, each costed from the ledger or the config's
cost table, GPU-hours per rule and run, and the makespan of the DAG on N GPUs."""
import copy
import json
import re
import statistics

import pytest
import yaml
from support.repo import ROOT, TINY

from synscale.ops import dryrun as D
from synscale.ops import plan as P

DRY_RUN = """Building DAG of jobs...
Job stats:
[Tue Dec  1 20:07:32 2026]
rule generate_shard:
    input: results/t2i/sd, results/prompts/incap.parquet
    output: results/shards/sd_cfg2_incap/shard-00000.tar, results/shards/sd_cfg2_incap/shard-00000.json
    log: results/logs/generate/sd_cfg2_incap/shard-00000.log
    jobid: 4
    benchmark: results/benchmarks/generate_shard/sd_cfg2_incap/shard-00000.tsv
    reason: Missing output files: results/shards/sd_cfg2_incap/shard-00000.tar
    wildcards: run=sd_cfg2_incap, shard=00000
    resources: tmpdir=/tmp, gpu=1, cpus_per_task=1, runtime=20, mem_mb=4000, mem=4 GB
[Tue Dec  1 20:07:32 2026]
rule train_classifier:
    input: results/shards/sd_cfg2_incap/shard-00000.tar, results/data/classes.json
    output: results/checkpoints/sd_cfg2_incap/n100/model.pt, results/checkpoints/sd_cfg2_incap/n100/train.json
    log: results/logs/train/sd_cfg2_incap/n100.log
    jobid: 7
    reason: Missing output files: results/checkpoints/sd_cfg2_incap/n100/train.json
    wildcards: run=sd_cfg2_incap, scale=100
    resources: tmpdir=/tmp, nodes=4, gpu=0, gres=gpu:8, cpus_per_task=1
[Tue Dec  1 20:07:32 2026]
localrule fit:
    input: results/checkpoints/sd_cfg2_incap/n100/train.json
    output: results/scaling/sd_cfg2_incap.json
    jobid: 9
    reason: Input files updated by another job: results/checkpoints/sd_cfg2_incap/n100/train.json
    wildcards: run=sd_cfg2_incap
    resources: tmpdir=/tmp
Job stats:
job    count
"""


def test_dry_run_parsed_job_by_job():
    jobs = {j.rule: j for j in D.parse(DRY_RUN)}
    assert set(jobs) == {"generate_shard", "train_classifier", "fit"}
    g, t, f = jobs["generate_shard"], jobs["train_classifier"], jobs["fit"]
    assert g.wildcards == {"run": "sd_cfg2_incap", "shard": "00000"} and g.jobid == 4 and g.gpus == 1
    assert g.benchmark == "results/benchmarks/generate_shard/sd_cfg2_incap/shard-00000.tsv"
    assert g.log == ("results/logs/generate/sd_cfg2_incap/shard-00000.log",)
    assert t.gpus == 32 and f.gpus == 0  # 4 nodes x gres gpu:8; a rule without a GPU
    assert t.slurm_comment == "rule_train_classifier_wildcards_sd_cfg2_incap_100"
    assert D.edges(list(jobs.values())) == {4: [], 7: [4], 9: [7]}


GROUPED = """[Tue Dec  1 21:02:56 2026] Group job caption_tables (jobs in lexicogr. order):

    [Tue Dec  1 21:02:56 2026]
    rule clip_captions:
        output: results/clip/captions/digits/block-00001.parquet, results/clip/captions/digits/block-00001.json
        log: results/logs/clip/captions/digits/block-00001.log
        jobid: 12
        wildcards: dataset=digits, block=00001
        resources: tmpdir=/tmp, mem_mb=4000
    [Tue Dec  1 21:02:56 2026]
    rule clip_captions:
        output: results/clip/captions/digits/block-00002.parquet
        jobid: 13
        wildcards: dataset=digits, block=00002
[Tue Dec  1 21:02:56 2026]
localrule fit:
    input: results/clip/captions/digits/block-00001.json
    jobid: 9
"""


def test_jobs_of_a_group_job_are_read_too():
    jobs = D.parse(GROUPED)
    assert [(j.rule, j.jobid) for j in jobs] == [("clip_captions", 12), ("clip_captions", 13), ("fit", 9)]
    assert jobs[0].wildcards == {"dataset": "digits", "block": "00001"} and jobs[0].resources["mem_mb"] == "4000"
    assert jobs[0].log == ("results/logs/clip/captions/digits/block-00001.log",) and jobs[1].log == ()
    assert D.edges(jobs)[9] == [12]


def _cost_cfg(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg["cost"] = {"gpu": "T4", "estimate": True, "source": "test", "job_hours": {"evaluate": 0.25},
                   "generation": {"T4": {"sd": 0.5}}, "training": {"T4": {"vit_tiny_patch16_224": 4.0}}}
    return cfg


def test_estimate_from_the_table_and_from_the_ledger(tiny_cfg):
    cfg = _cost_cfg(tiny_cfg)
    jobs = D.parse(DRY_RUN)
    costs = {c.job.rule: c for c in P.estimate(jobs, cfg)}
    g, t, f = costs["generate_shard"], costs["train_classifier"], costs["fit"]
    # 100 images (generation.shard_size) at 0.5 images/s per GPU
    assert g.source == "table" and g.gpu_hours == pytest.approx(100 / 0.5 / 3600)
    # D = 100: 20 iterations (schedule base_iters at base_scale) x batch 32 = 640 samples at 4/s per GPU, on 32 GPUs
    assert t.source == "table" and t.gpu_hours == pytest.approx(640 / 4 / 3600)
    assert t.hours == pytest.approx(640 / 4 / 3600 / 32)
    assert (f.source, f.gpu_hours, f.hours) == ("cpu", 0.0, 0.0)
    # comparable measured jobs (same kind, model, resolution, GPU type) win over the table: 100
    # images in 50 GPU-s and 400 in 100 GPU-s are a start-up of 100/3 s and 6 images/s per GPU; a
    # job on another GPU type does not count
    ledger = [{"rule": "generate_shard", "model": "sd", "resolution": 16.0, "device": "Tesla T4", "gpus": 1.0,
               "work": 100.0, "wall_s": 50.0},
              {"rule": "generate_testset", "model": "sd", "resolution": 16.0, "device": "Tesla T4", "gpus": 2.0,
               "work": 400.0, "wall_s": 50.0},
              {"rule": "generate_shard", "model": "sd", "resolution": 16.0, "device": "NVIDIA A100", "gpus": 1.0,
               "work": 100.0, "wall_s": 1.0},
              {"rule": "fit", "device": "", "gpus": 0.0, "wall_s": 72.0, "gpu_hours": 0.0, "work": None}]
    costs = {c.job.rule: c for c in P.estimate(jobs, cfg, ledger)}
    assert costs["generate_shard"].source == "ledger" and costs["generate_shard"].rate == pytest.approx(6.0)
    assert costs["generate_shard"].gpu_hours == pytest.approx((100 / 3 + 100 / 6.0) / 3600)
    assert costs["fit"].hours == pytest.approx(72 / 3600)   # a CPU job takes its measured wall time
    assert costs["train_classifier"].source == "table"


def test_a_rate_with_the_start_up_of_a_job():
    # 10 s of start-up, then 5 units/s: jobs of 50, 100 and 200 units
    r = P.fit_rate([(50, 20.0), (100, 30.0), (200, 50.0)])
    assert (r.per_second, r.startup_s) == (pytest.approx(5.0), pytest.approx(10.0))
    assert r.gpu_seconds(1000) == pytest.approx(210.0)
    # one size only: the median rate, no start-up
    assert P.fit_rate([(100, 20.0), (100, 50.0), (100, 25.0)]) == P.Rate(4.0)
    # a fit that would need a negative start-up (larger jobs relatively slower): the median rate
    assert P.fit_rate([(100, 10.0), (200, 40.0)]) == P.Rate(statistics.median([10.0, 5.0]))
    assert P.fit_rate([]) is None


def _c(jobid, hours, gpus, inputs=(), outputs=()):
    job = D.PendingJob(jobid, f"r{jobid}", inputs=tuple(inputs), outputs=tuple(outputs))
    return P.JobCost(job, "-", gpus, None, None, "table", hours * gpus, hours)


def test_makespan_respects_the_dag():
    # a (2 h) -> c (1 h) -> e (3 h, no GPU); b (2 h) and d (1 h on 2 GPUs) on their own.
    # Longest paths to the end: a 6, c 4, e 3, b 2, d 1: the critical path a-c-e is 6 h.
    costs = [_c(1, 2, 1, outputs=["a"]), _c(2, 2, 1, outputs=["b"]), _c(3, 1, 1, inputs=["a"], outputs=["c"]),
             _c(4, 1, 2, outputs=["d"]), _c(5, 3, 0, inputs=["c"])]
    # one GPU (d takes it alone): a 0-2, c 2-3, then e 3-6 beside b 3-5 and d 5-6
    assert P.makespan(costs, 1) == (6.0, 6.0)
    # two GPUs: a and b 0-2, c 2-3 (d waits for both GPUs), then d 3-4 beside e 3-6
    assert P.makespan(costs, 2) == (6.0, 6.0)
    # without e: two GPUs end with d at 4 h; four run a, b and d at once and c 2-3
    assert P.makespan(costs[:4], 2)[0] == 4.0 and P.makespan(costs[:4], 4)[0] == 3.0


@pytest.mark.subprocess
def test_plan_of_a_small_config_matches_its_cost_table(tmp_path, monkeypatch, capsys):
    """The tiny config's fresh build, dry run only, costed by hand from its cost table."""
    raw = yaml.safe_load(TINY.read_text())
    raw["cost"] = {"gpu": "T4", "source": "a test's figures", "generation": {"T4": {"sd": 0.5}},
                   "training": {"T4": {"vit_tiny_patch16_224": 4.0}},
                   "job_hours": {"evaluate": 0.25, "quality": 0.5, "train_t2i": 2.0}}
    cfgfile = tmp_path / "costed.yaml"
    cfgfile.write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(ROOT)
    plans = {}
    for gpus in (1, 64):
        P.main(["--configfile", str(cfgfile), "--directory", str(tmp_path), "--gpus", str(gpus), "--json"])
        plans[gpus] = json.loads(capsys.readouterr().out)
    one, many = plans[1], plans[64]
    rules = {k: v["gpu_hours"] for k, v in one["per_rule"].items()}
    # 4 shards of 100 images + a test set of 5 x 10 classes at 0.5 images/s
    assert rules["generate_shard"] == pytest.approx(400 / 0.5 / 3600)
    assert rules["generate_testset"] == pytest.approx(50 / 0.5 / 3600)
    # 2 runs x (20 + 30 + 40 iterations at D = 100, 200, 400) x batch 32 at 4 samples/s
    assert rules["train_classifier"] == pytest.approx(2 * 90 * 32 / 4 / 3600)
    assert rules["evaluate"] == pytest.approx(6 * 0.25) and rules["quality"] == 0.5 and rules["train_t2i"] == 2.0
    total = 450 / 0.5 / 3600 + 5760 / 4 / 3600 + 1.5 + 0.5 + 2.0
    assert one["total_gpu_hours"] == pytest.approx(total)
    assert set(one["not_costed"]) == {"per_class_fid", "train_features", "train_reference", "val_features"}
    assert one["per_run"]["real"]["gpu_hours"] == pytest.approx(2880 / 4 / 3600 + 3 * 0.25)
    # one GPU: every costed job in turn; 64: the critical path, T2I training -> test set -> quality -> fit
    assert one["makespan_hours"] == pytest.approx(total)
    assert many["makespan_hours"] == pytest.approx(many["critical_path_hours"])
    assert many["critical_path_hours"] == pytest.approx(2.0 + 50 / 0.5 / 3600 + 0.5)


@pytest.mark.parametrize("bad,key", [({"generation": {"A100": {"sd": 0}}}, "cost.generation.A100.sd"),
                                     ({"training": {"A100": {"vit": float("inf")}}}, "cost.training.A100.vit"),
                                     ({"gpus": "A100"}, "cost.gpus"),
                                     ({"job_hours": {"evaluate": -1}}, "cost.job_hours.evaluate")])
def test_a_bad_cost_table_is_refused_naming_the_key(bad, key):
    from synscale import config as C

    cfg = C.load_yaml(TINY)
    cfg["cost"] = bad
    with pytest.raises(C.ConfigError, match=f"config key '{re.escape(key)}'"):
        C.validate(cfg)
