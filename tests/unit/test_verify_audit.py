"""The audit's pieces (synscale/verify.py, synscale/data/audit.py, synscale/data/integrity.py):
the dry-run plan read job by job, pending jobs the damage explains told from other work, the
rebuild command (exactly the named files, mtime the only trigger), the check that runs before any
job starts (damaged inputs, SLURM's tools), the SIGTERM message, and prompt tables checked."""
import json
import os
import time
from types import SimpleNamespace

import pytest

from synscale import verify as V
from synscale.data import audit as A
from synscale.data import integrity as I

# a `snakemake -n` of Snakemake 9.27 (a config edit upstream: t2i's params changed)
DRY = """Building DAG of jobs...
Job stats:
job      count
-----  -------
t2i          1
total        3

[Tue Dec  1 17:06:42 2026]
rule t2i:
    output: results/t2i/m.bin
    jobid: 4
    reason: Params have changed since last execution: Union of exclusive params before and now: before: 'a' now: 'b'<SP>
    resources: tmpdir=/tmp
[Tue Dec  1 17:06:42 2026]
localrule shard:
    input: results/t2i/m.bin
    output: results/shards/r/shard-00000.tar, results/shards/r/shard-00000.json
    jobid: 3
    reason: Input files updated by another job: results/t2i/m.bin
    wildcards: i=00000
    resources: tmpdir=/tmp
[Tue Dec  1 17:06:42 2026]
rule all:
    input: results/shards/r/shard-00000.tar
    jobid: 0
    reason: Input files updated by another job: results/shards/r/shard-00000.tar
    resources: tmpdir=/tmp
Job stats:
job      count
-----  -------
t2i          1
total        3

Reasons:
    (check individual jobs above for details)
    input files updated by another job:
        all, shard
This was a dry-run (flag -n). The order of jobs does not reflect the order of execution.
""".replace("<SP>", " ")  # Snakemake ends a params reason with a space


def J(rule, outputs=(), reason=""):
    return A.Job(rule, tuple(outputs), reason)


# ---------------------------------------------------------------- the plan of a dry run
def test_parse_plan_reads_each_job():
    plan = A.parse_plan(DRY)
    assert [j.rule for j in plan.jobs] == ["t2i", "shard", "all"]
    assert plan.jobs[1].outputs == ("results/shards/r/shard-00000.tar", "results/shards/r/shard-00000.json")
    assert plan.jobs[1].wildcards == "i=00000" and plan.jobs[2].outputs == ()
    assert plan.jobs[0].reason.startswith("Params have changed") and not plan.jobs[0].reason.endswith(" ")
    assert not plan.locked and not plan.nothing_to_do
    done = A.parse_plan("Building DAG of jobs...\nNothing to be done (all requested files are present and up to date).")
    assert done.jobs == [] and done.nothing_to_do
    locked = A.parse_plan("Error: Directory cannot be locked. Another Snakemake instance is running.\n" + DRY)
    assert locked.locked


GROUPED = """Building DAG of jobs...
[Tue Dec  1 21:06:07 2026] Group job caption_tables (jobs in lexicogr. order):

    [Tue Dec  1 21:06:07 2026]
    rule clip_captions:
        output: results/clip/captions/laion/block-00172.parquet, results/clip/captions/laion/block-00172.json
        jobid: 2096
        reason: Missing output files: results/clip/captions/laion/block-00172.parquet
        wildcards: dataset=laion, block=00172

[Tue Dec  1 21:06:07 2026]
rule all:
    input: results/clip/captions/laion/block-00172.parquet
    jobid: 0
    reason: Input files updated by another job: results/clip/captions/laion/block-00172.parquet
"""


def test_parse_plan_reads_the_jobs_of_a_group_job():
    """Jobs of a Snakemake job group are printed indented under their group: each is a job."""
    plan = A.parse_plan(GROUPED)
    assert [j.rule for j in plan.jobs] == ["clip_captions", "all"]
    assert plan.jobs[0].outputs == ("results/clip/captions/laion/block-00172.parquet",
                                    "results/clip/captions/laion/block-00172.json")
    assert plan.jobs[0].wildcards == "dataset=laion, block=00172"
    assert plan.jobs[0].reason.startswith("Missing output files") and plan.jobs[1].outputs == ()


def test_config_edit_upstream_is_other_work():
    plan = A.parse_plan(DRY)
    mine, other = A.explained(plan.jobs, ["results/shards/r/shard-00000.tar"])
    assert mine == [] and [j.rule for j in other] == ["t2i", "shard", "all"]


def test_missing_and_edited_files_explain_their_jobs_and_everything_downstream():
    jobs = [
        J("shard", ["s1.tar", "s1.json"], "Missing output files: s1.json"),
        J("train", ["m.pt", "t.json"], "Updated input files: s0.tar; Input files updated by another job: s1.json"),
        J("evaluate", ["e.json"], "Input files updated by another job: m.pt, t.json"),
        J("all", [], "Input files updated by another job: e.json"),
    ]
    mine, other = A.explained(jobs, ["s1.json", "s0.tar"])
    assert [j.rule for j in mine] == ["shard", "train", "evaluate", "all"] and other == []
    # s0.tar not among the damaged files: train (and what follows it) is other work
    mine, other = A.explained(jobs, ["s1.json"])
    assert [j.rule for j in mine] == ["shard"] and [j.rule for j in other] == ["train", "evaluate", "all"]


@pytest.mark.parametrize("reason", [
    "Missing output files: new.json",                       # a new output, not a damaged one
    "Incomplete output files: s1.json",
    "Code has changed since last execution",
    "Set of input files has changed since last execution",
    "Rules with neither input nor output files are always executed.",
    "",
])
def test_any_other_reason_is_other_work(reason):
    mine, other = A.explained([J("x", ["s1.json", "new.json"], reason)], ["s1.json"])
    assert mine == [] and len(other) == 1


def test_file_names_with_commas_are_read_whole():
    jobs = [J("shard", ["res, dir/s1.json"], "Missing output files: res, dir/s1.json"),
            J("train", ["res, dir/m.pt"], "Input files updated by another job: res, dir/s1.json")]
    mine, _ = A.explained(jobs, ["res, dir/s1.json"])
    assert len(mine) == 2


# ---------------------------------------------------------------- the commands verify runs
def test_rebuild_command_forces_exactly_the_named_files_by_mtime_only():
    cmd = V.rebuild_command(["results/a.tar", "results/b.pt"], "cfg.yaml", "ws", "2",
                            ["train_classifier", "generate_shard", "generate_shard"])
    assert cmd[:3] == [V.sys.executable, "-m", "snakemake"]
    # targets before --configfile (it takes several values); mtime the only rerun trigger; only the
    # rules that make the named files (no upstream job re-run because a rebuilt file feeds it)
    assert cmd[3:] == ["results/a.tar", "results/b.pt", "--configfile", "cfg.yaml", "--directory", "ws", "--cores",
                       "2", "--rerun-triggers", "mtime", "--allowed-rules", "generate_shard", "train_classifier",
                       "--force"]
    assert V.shown(cmd).startswith("snakemake results/a.tar results/b.pt --configfile cfg.yaml")


def test_the_rebuild_is_planned_with_the_rules_of_the_named_files(monkeypatch, tmp_path, capsys):
    rows = [("results/shards/r/shard-00000.tar", "ok", "generate_shard"),
            ("results/shards/r/shard-00000.json", "missing", "generate_shard"),
            ("results/eval/r/n1.json", "ok", "evaluate")]
    monkeypatch.setattr(V, "outputs", lambda *a: rows)
    calls = []

    def fake_plan(conf, wd, targets, extra=()):
        calls.append((list(targets), list(extra)))
        return A.parse_plan("Nothing to be done.")

    monkeypatch.setattr(V, "plan", fake_plan)
    assert V.main(["-d", str(tmp_path)]) == 1
    assert calls[1] == (["results/shards/r/shard-00000.json"],
                        ["--rerun-triggers", "mtime", "--allowed-rules", "generate_shard", "--force"])
    out = capsys.readouterr().out
    assert "missing: results/shards/r/shard-00000.json" in out and "--allowed-rules generate_shard --force" in out


def test_the_rebuild_names_every_job_it_runs():
    jobs = [J("train_t2i", ["results/t2i/sd"], "Updated input files: results/data/train-00000.tar"),
            J("generate_shard", ["results/shards/r/shard-00002.tar", "results/shards/r/shard-00002.json"],
              "Forced execution")]
    lines = V.describe_rebuild(jobs, ["results/shards/r/shard-00002.tar"])
    assert lines[0] == ("  train_t2i -> results/t2i/sd: needed first (Updated input files: "
                        "results/data/train-00000.tar)")
    assert lines[1] == "  generate_shard: rebuilds results/shards/r/shard-00002.tar (and its other outputs: 1)"


def test_verdict_counts_pending_jobs_and_locks(monkeypatch, capsys):
    """No damage, but snakemake -n plans jobs: not "every output is present" (rc 1); a locked
    workspace is reported with the unlock command (rc 2)."""
    monkeypatch.setattr(V, "outputs", lambda *a: [("results/eval/n1.json", "ok")])
    monkeypatch.setattr(V, "plan", lambda *a, **k: A.parse_plan(DRY))
    assert V.main([]) == 1
    out = capsys.readouterr().out
    assert "pending (a changed config, code or input, new outputs)" in out and "t2i -> results/t2i/m.bin" in out
    assert "every output is present" not in out
    monkeypatch.setattr(V, "plan", lambda *a, **k: A.parse_plan(
        "Error: Directory cannot be locked. Another Snakemake instance is running.\nNothing to be done."))
    assert V.main(["--configfile", "c.yaml"]) == 2
    assert "snakemake --configfile c.yaml --unlock" in capsys.readouterr().out
    monkeypatch.setattr(V, "plan", lambda *a, **k: A.parse_plan("Nothing to be done."))
    assert V.main([]) == 0
    assert "snakemake has nothing to do" in capsys.readouterr().out


# ---------------------------------------------------------------- prompt tables are checked
def test_prompt_table_records_its_parquet_and_the_audit_checks_it(tmp_path, embedded_cfg, monkeypatch):
    from synscale.steps.prompts import build_prompts

    classes = tmp_path / "results" / "data" / "classes.json"
    classes.parent.mkdir(parents=True)
    classes.write_text(json.dumps({"names": [f"c{i}" for i in range(10)], "ids": [str(i) for i in range(10)]}))
    table = tmp_path / "results" / "prompts" / "classname.parquet"
    info = table.with_suffix(".json")
    build_prompts(embedded_cfg, "classname", classes, [], table, info)
    assert I.records_of(info)[str(table)]["sha256"] == I.sha256_file(table)
    rows = [("results/prompts/classname.parquet", "ok"), ("results/prompts/classname.json", "ok")]
    monkeypatch.setattr(V, "outputs", lambda *a: rows)
    assert V.audit(directory=str(tmp_path))["corrupt"] == {}
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF
    table.write_bytes(bytes(data))
    res = V.audit(directory=str(tmp_path))
    assert list(res["corrupt"]) == ["results/prompts/classname.parquet"]
    assert "sha256" in res["corrupt"]["results/prompts/classname.parquet"]


def test_table_info_written_before_tables_had_records_is_not_called_corrupt(tmp_path, monkeypatch):
    (tmp_path / "results" / "prompts").mkdir(parents=True)
    (tmp_path / "results" / "prompts" / "incap.json").write_text(json.dumps({"n_prompts": 3}))
    monkeypatch.setattr(V, "outputs", lambda *a: [("results/prompts/incap.json", "ok")])
    assert V.audit(directory=str(tmp_path))["corrupt"] == {}


# ---------------------------------------------------------------- before any job starts
def _shard(tmp_path, name="shard-00000"):
    tar = tmp_path / f"{name}.tar"
    tar.write_bytes(b"x" * 4000)
    man = tmp_path / f"{name}.json"
    man.write_text(json.dumps({"shard": tar.name, "count": 1, **I.record(tar)}))
    old = time.time() - 100
    os.utime(tar, (old, old))  # the tar was written before its manifest, as the workflow writes them
    return str(tar), str(man)


def test_damaged_inputs_finds_an_edit_in_place(tmp_path):
    tar, man = _shard(tmp_path)
    assert I.damaged_inputs([([tar, man], [man])]) == []
    with open(tar, "r+b") as fh:  # same size, new mtime
        fh.seek(100)
        fh.write(b"y")
    (problem,) = I.damaged_inputs([([tar, man], [man])])
    assert problem.startswith(f"{tar}: sha256") and "changed after it was written" in problem
    # an input this run rebuilds (or whose manifest it rebuilds) is not checked
    assert I.damaged_inputs([([tar, man], [man])], made=[tar, man]) == []
    assert I.damaged_inputs([([tar, man], [man])], made=[man]) == []


def test_damaged_inputs_checks_sizes_and_hashes_only_files_written_after_their_manifest(tmp_path, monkeypatch):
    tar, man = _shard(tmp_path)
    monkeypatch.setattr(I, "sha256_file", lambda p: pytest.fail(f"hashed {p}"))
    assert I.damaged_inputs([([tar], [man]), ([tar], [man])]) == []
    st = os.stat(tar)
    with open(tar, "r+b") as fh:
        fh.truncate(1000)
    os.utime(tar, ns=(st.st_atime_ns, st.st_mtime_ns))  # cut short, mtime kept: the size tells
    (problem,) = I.damaged_inputs([([tar], [man])])
    assert "1,000 bytes where its manifest records 4,000" in problem


def test_damaged_inputs_names_an_unreadable_manifest(tmp_path):
    tar, man = _shard(tmp_path)
    open(man, "w").write("{not json")
    (problem,) = I.damaged_inputs([([tar], [man])])
    assert man in problem and "not valid JSON" in problem


def _workflow(tmp_path, jobs, executor="local", touch=False, configfiles=("config/paper.yaml",)):
    class Inputs(list):
        def __init__(self, files, manifests):
            super().__init__(files)
            self.manifests = manifests

        def get(self, key, default=None):
            return getattr(self, key, default)

    needrun = [SimpleNamespace(input=Inputs(files, mans), output=outs) for files, mans, outs in jobs]
    return SimpleNamespace(executor_plugin=SimpleNamespace(name=executor), touch=touch,
                           dag=SimpleNamespace(needrun_jobs=lambda: iter(needrun)),
                           overwrite_configfiles=list(configfiles), workdir_init=os.getcwd())


def test_before_run_stops_on_a_damaged_input_naming_it_and_the_repair(tmp_path):
    tar, man = _shard(tmp_path)
    wf = _workflow(tmp_path, [([tar, man], [man], [str(tmp_path / "model.pt")])])
    assert A.before_run(wf) is None
    with open(tar, "r+b") as fh:
        fh.write(b"edited")
    msg = A.before_run(wf)
    assert f"{tar}: sha256" in msg and "no job was started and no output was removed" in msg
    assert "python -m synscale.verify --rebuild --configfile config/paper.yaml" in msg
    assert A.before_run(_workflow(tmp_path, [([tar, man], [man], [])], touch=True)) is None  # --touch


def test_slurm_executor_without_slurm_is_named():
    msg = A.slurm_missing("slurm", which=lambda t: None)
    assert msg.startswith("SLURM is not installed or not on PATH (sbatch/squeue/sacct not found)")
    assert "run without --profile slurm" in msg
    assert A.slurm_missing("slurm", which=lambda t: None if t == "sacct" else f"/usr/bin/{t}").startswith(
        "SLURM is not installed or not on PATH (sacct not found)")
    assert A.slurm_missing("slurm", which=lambda t: f"/usr/bin/{t}") is None
    assert A.slurm_missing("local", which=lambda t: None) is None


def test_before_run_checks_slurm_first(tmp_path, monkeypatch):
    wf = _workflow(tmp_path, [], executor="slurm")
    wf.dag = None  # not reached
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, squeue, sacct there
    assert A.before_run(wf).startswith("SLURM is not installed or not on PATH")


# ---------------------------------------------------------------- a stop by SIGTERM
def test_stop_by_sigterm_is_named_and_a_failure_is_not_hidden():
    jobs = ["a", "b", "c"]
    dag = SimpleNamespace(needrun_jobs=lambda exclude_finished=True: iter(jobs), finished=lambda j: j == "a")
    sched = SimpleNamespace(_user_kill="graceful", failed=set(), _errors=False, remaining_jobs=["b", "c"])
    wf = SimpleNamespace(scheduler=sched, dag=dag)
    msg = A.stopped(wf)
    assert msg.startswith("snakemake was stopped by SIGTERM: no job failed") and "(1 job(s) done)" in msg
    assert "2 job(s) were not started" in msg
    sched.failed = {"b"}
    assert A.stopped(wf) is None
    sched.failed, sched._user_kill = set(), None
    assert A.stopped(wf) is None
