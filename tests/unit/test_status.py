"""Where a workspace stands: per run, scales done / running / pending / failed from the pending jobs
(Snakemake's dry run), SLURM's queue and the jobs' logs; GPU-hours spent from the benchmark files
and left from the plan; the last failure's log and error line."""
import json
from pathlib import Path

import pytest

from synscale.ops import dryrun as D
from synscale.ops import status as S

# the tiny config's runs (sd_cfg2_incap and real, scales 100, 200, 400): 100 and 200 are built; the
# D = 400 classifier of sd_cfg2_incap failed (its evaluation waits for it), real's is in SLURM's queue
DRY_RUN = """
rule train_classifier:
    input: results/shards/sd_cfg2_incap/shard-00003.tar
    output: results/checkpoints/sd_cfg2_incap/n400/model.pt, results/checkpoints/sd_cfg2_incap/n400/train.json
    log: results/logs/train/sd_cfg2_incap/n400.log
    jobid: 1
    wildcards: run=sd_cfg2_incap, scale=400
    resources: tmpdir=/tmp, nodes=1, gpu=1
rule evaluate:
    input: results/checkpoints/sd_cfg2_incap/n400/model.pt
    output: results/eval/sd_cfg2_incap/n400.json
    log: results/logs/evaluate/sd_cfg2_incap/n400.log
    jobid: 2
    wildcards: run=sd_cfg2_incap, scale=400
    resources: tmpdir=/tmp, gpu=1
rule train_classifier:
    input: results/data/train-00000.tar
    output: results/checkpoints/real/n400/model.pt, results/checkpoints/real/n400/train.json
    log: results/logs/train/real/n400.log
    jobid: 3
    wildcards: run=real, scale=400
    resources: tmpdir=/tmp, nodes=1, gpu=1
rule evaluate:
    input: results/checkpoints/real/n400/model.pt
    output: results/eval/real/n400.json
    log: results/logs/evaluate/real/n400.log
    jobid: 4
    wildcards: run=real, scale=400
    resources: tmpdir=/tmp, gpu=1
"""

TRACEBACK = """2026-12-01 20:00:01 INFO train sd_cfg2_incap D=400: step 10/40
2026-12-01 20:00:02 ERROR job failed:
Traceback (most recent call last):
  File "synscale/steps/job.py", line 70, in run
    return step(job)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB
"""

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


@pytest.fixture
def workspace(tmp_path):
    def put(rel, text):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    put("results/logs/train/sd_cfg2_incap/n400.log", TRACEBACK)
    put("results/logs/train/real/n400.log", "2026-12-01 20:00:01 INFO train real D=400: step 3/40\n")
    for rule, name, seconds in (("train_classifier", "sd_cfg2_incap/n100", 3600),
                                ("train_classifier", "real/n100", 900),
                                ("generate_shard", "sd_cfg2_incap/shard-00000", 1800), ("train_t2i", "sd", 720)):
        put(f"results/benchmarks/{rule}/{name}.tsv", HEADER + f"{seconds}\t0\t1\t1\t1\t1\t0\t0\t0\t1\n")
    return tmp_path


def _cfg(tiny_cfg):
    import copy

    cfg = copy.deepcopy(tiny_cfg)
    cfg["cost"] = {"gpu": "T4", "training": {"T4": {"vit_tiny_patch16_224": 4.0}}, "job_hours": {"evaluate": 0.25}}
    return cfg


def test_status_per_run(workspace, tiny_cfg):
    jobs = D.parse(DRY_RUN)
    queue = {"rule_train_classifier_wildcards_real_400": "RUNNING", "rule_other": "PENDING"}
    st = S.status(_cfg(tiny_cfg), jobs, workspace, queue)
    sd, real = st["runs"]["sd_cfg2_incap"], st["runs"]["real"]
    assert sd["states"] == {"100": "done", "200": "done", "400": "failed"}
    assert (sd["done"], sd["running"], sd["pending"], sd["failed"]) == (2, 0, 0, 1)
    assert real["states"] == {"100": "done", "200": "done", "400": "running"}
    assert (real["jobs_running"], real["jobs_failed"], real["last_failure"]) == (1, 0, None)
    assert sd["last_failure"] == {"rule": "train_classifier", "log": "results/logs/train/sd_cfg2_incap/n400.log",
                                  "error": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"}
    # spent: 1 h of training and 0.5 h of generation on 1 GPU each; real 0.25 h; T2I training is shared
    assert sd["gpu_hours_spent"] == pytest.approx(1.5) and real["gpu_hours_spent"] == pytest.approx(0.25)
    assert st["shared"]["gpu_hours_spent"] == pytest.approx(0.2)
    # left: D = 400 is 40 iterations x batch 32 at 4 samples/s, and an evaluation of 0.25 GPU-hours
    assert sd["gpu_hours_left"] == pytest.approx(1280 / 4 / 3600 + 0.25)
    text = S.render(st)
    assert "torch.OutOfMemoryError: CUDA out of memory" in text
    assert "results/logs/train/sd_cfg2_incap/n400.log" in text and "SLURM's squeue" in text


def test_without_slurm_running_is_unknown(workspace, tiny_cfg, monkeypatch):
    monkeypatch.setattr(S.shutil, "which", lambda name: None)
    assert S.squeue_jobs() is None
    st = S.status(_cfg(tiny_cfg), D.parse(DRY_RUN), workspace, None)
    real = st["runs"]["real"]
    assert real["states"]["400"] == "pending" and real["running"] == "unknown" and real["jobs_running"] == "unknown"
    assert "SLURM: unknown" in S.render(st)


def test_squeue_that_fails_is_unknown(monkeypatch, tmp_path):
    fake = tmp_path / "squeue"
    fake.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(S.shutil, "which", lambda name: str(fake))
    assert S.squeue_jobs() is None
    fake.write_text("#!/bin/sh\necho 'RUNNING|rule_evaluate_wildcards_real_400'\necho 'PENDING|'\n")
    assert S.squeue_jobs() == {"rule_evaluate_wildcards_real_400": "RUNNING"}


def test_command_line(workspace, monkeypatch, capsys, root):
    monkeypatch.setattr(S, "dry_run", lambda *a, **k: D.parse(DRY_RUN))
    S.main(["--configfile", str(root / "tests/configs/tiny.yaml"), "--directory", str(workspace), "--json"],
           queue_fn=lambda: None)
    st = json.loads(capsys.readouterr().out)
    assert st["runs"]["sd_cfg2_incap"]["failed"] == 1 and st["slurm"] == "unknown"
    S.main(["--configfile", str(root / "tests/configs/tiny.yaml"), "--directory", str(workspace)], queue_fn=lambda: {})
    out = capsys.readouterr().out
    assert "last failure (train_classifier, 1 failed job(s)): results/logs/train/sd_cfg2_incap/n400.log" in out


GROUPED = """
[Tue Dec  1 20:00:00 2026]
group job summarize (jobs in lexicogr. order):

    [Tue Dec  1 20:00:00 2026]
    rule fit:
        input: results/eval/real/n400.json
        output: results/scaling/real.json, results/scaling/real.png
        jobid: 5
        wildcards: run=real
        resources: tmpdir=/tmp

    [Tue Dec  1 20:00:00 2026]
    rule fit:
        input: results/eval/sd_cfg2_incap/n400.json
        output: results/scaling/sd_cfg2_incap.json, results/scaling/sd_cfg2_incap.png
        jobid: 6
        wildcards: run=sd_cfg2_incap
        resources: tmpdir=/tmp
"""


def _mark_incomplete(workspace, path):
    """Snakemake's own record of a started job's output (its FilePersistence naming; a short
    PC_NAME_MAX forces the long-name split into '@'-prefixed parts)."""
    from types import SimpleNamespace

    from snakemake.persistence.file import FilePersistence

    subject = workspace / ".snakemake" / "incomplete"
    subject.mkdir(parents=True, exist_ok=True)
    record = FilePersistence._record_path(SimpleNamespace(_fetch_max_len=lambda s: 16), str(subject), path)
    Path(record).parent.mkdir(parents=True, exist_ok=True)
    Path(record).write_text("")


def test_jobs_inside_a_running_group_job(workspace):
    """A group job's comment names the group and its rules, not wildcards: the fit Snakemake marked
    incomplete is running, the other fit of the same group is not."""
    jobs = D.parse(GROUPED)
    _mark_incomplete(workspace, "results/scaling/real.json")
    assert S.incomplete_outputs(workspace) == {"results/scaling/real.json"}
    assert S.running_jobs(jobs, {"rule_summarize_analysis_fit_report_figures": "RUNNING"}, workspace) == {5}
    # not while the group job waits in the queue, nor for a group job of other rules
    assert S.running_jobs(jobs, {"rule_summarize_analysis_fit_report_figures": "PENDING"}, workspace) == set()
    assert S.running_jobs(jobs, {"rule_prepare_prompts": "RUNNING"}, workspace) == set()
    # a group of more than five rules lists five and '...'
    assert S.running_jobs(jobs, {"rule_summarize_a_b_c_d_e_...": "RUNNING"}, workspace) == {5}
