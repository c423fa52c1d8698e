"""Cluster tests: the workflow through profiles/slurm against a real single-node SLURM
(cluster/local-slurm.sh), with fake GPUs. They need root (to start the daemons); CI runs as root."""
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from support.repo import ROOT, TINY, smk

RUN = "sd_cfg2_incap"

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

# test-speed knobs on top of the profile: poll SLURM often, no account on the local cluster
FAST = ["--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2",
        "--seconds-between-status-checks", "2", "--latency-wait", "5"]


def _sinfo_ok() -> bool:
    try:
        p = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and bool(re.search(r"idle|mixed|allocated", p.stdout))


@pytest.fixture(scope="module")
def slurm():
    started = False
    if not _sinfo_ok():
        if os.geteuid() != 0:
            if os.environ.get("CI"):
                pytest.fail("cluster tests need root to start the local SLURM (cluster/local-slurm.sh up)")
            pytest.skip("no SLURM here and not root: start one with 'sudo cluster/local-slurm.sh up'")
        p = subprocess.run([str(ROOT / "cluster" / "local-slurm.sh"), "up"], capture_output=True, text=True,
                           timeout=900)
        assert p.returncode == 0, p.stdout + p.stderr
        started = True
    yield
    if started:
        subprocess.run([str(ROOT / "cluster" / "local-slurm.sh"), "down"], capture_output=True, timeout=120)


def through_slurm(workdir, *args, configfile=TINY, env=None, check=True) -> tuple[int, str]:
    """support.repo.smk with the SLURM profile (and FAST): ``snakemake ... --profile profiles/slurm
    --configfile CONFIG FAST ARGS``; (exit code, stdout + stderr)."""
    p = smk(workdir, *FAST, *args, configfile=configfile, options=("--profile", str(ROOT / "profiles" / "slurm")),
            configfile_first=True, env=env, check=check, timeout=1800)
    return p.returncode, p.stdout + p.stderr


def _job_uuid(rule: str, wildcards: str) -> str:
    """The id Snakemake gives a group job in its submission message: the uuid of one of its jobs."""
    from snakemake.common import get_uuid

    w = dict(kv.split("=", 1) for kv in wildcards.split(", ")) if wildcards else {}
    return str(get_uuid(f"{rule}:{','.join(sorted(f'{k}:{v}' for k, v in w.items()))}"))


def group_blocks(out: str) -> list[list[tuple[str, str]]]:
    """The (rule, wildcards) of the jobs of each group job Snakemake listed."""
    groups = []
    for block in re.split(r"\n(?=\[[^\]]+\] Group job )", out)[1:]:
        body = block.split("\n\n", 1)[1] if "\n\n" in block else ""
        members = []
        for job in re.split(r"\n(?=    \[[^\]]+\]\n    rule )", "\n" + body)[1:]:
            m = re.search(r"^    rule (\w+):", job, re.M)
            w = re.search(r"^        wildcards: ([^\n]*)", job, re.M)
            members.append((m.group(1), w.group(1).strip() if w else ""))
        groups.append(members)
    return groups


def submitted(out: str) -> tuple[list[tuple[str, str]], set[str]]:
    """(rule, wildcards) of every job submitted to SLURM, alone or in a group job, and the SLURM job ids."""
    jobs = {}
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", out):
        m = re.search(r"(local)?rule (\w+):.*?jobid: (\d+)", block, re.S)
        if m and not m.group(1):
            w = re.search(r"wildcards: ([^\n]*)", block)
            jobs[m.group(3)] = (m.group(2), w.group(1).strip() if w else "")
    ids, slurm_ids = set(), set()
    for m in re.finditer(r"Job ([\w-]+) has been submitted with SLURM jobid (\d+)", out):
        ids.add(m.group(1))
        slurm_ids.add(m.group(2))
    for m in re.finditer(r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)", out):
        ids.update(m.group(1).split(","))
        slurm_ids.add(m.group(2))
    found = [jobs[i] for i in ids if i in jobs]
    for members in group_blocks(out):
        if any(_job_uuid(*j) in ids for j in members):
            found.extend(members)
    return sorted(found), slurm_ids


def known_to_slurm(slurm_ids) -> set[str]:
    p = subprocess.run(["squeue", "--states=all", "-h", "-o", "%A|%F"], capture_output=True, text=True)
    seen = set()
    for line in p.stdout.split():
        seen.update(line.split("|"))
    return {j for j in slurm_ids if j in seen}


@pytest.fixture(scope="module")
def built(slurm, tmp_path_factory):
    wd = tmp_path_factory.mktemp("slurmrun")
    t0 = time.time()
    _, out = through_slurm(wd)
    (wd / "first_run.log").write_text(out)
    return wd, out, time.time() - t0


def test_target_builds_through_slurm(built):
    wd, out, seconds = built
    jobs, slurm_ids = submitted(out)
    rules = [r for r, _ in jobs]
    # every job of the DAG except the local target rule went through sbatch
    for rule, n in {"data_embedded": 1, "prompts": 1, "train_t2i": 1, "train_reference": 1, "generate_shard": 4,
                    "generate_testset": 1, "quality": 1, "train_classifier": 6, "evaluate": 6, "fit": 2}.items():
        assert rules.count(rule) == n, (rule, rules)
    assert "all" not in rules
    # SLURM itself knows the submissions (squeue keeps finished jobs for MinJobAge)
    assert known_to_slurm(slurm_ids) == slurm_ids
    assert (wd / "results" / "scaling" / f"{RUN}.json").exists()
    print(f"SLURM build: {len(jobs)} jobs in {len(slurm_ids)} sbatch submissions, {seconds:.0f}s")


def test_clip_jobs_through_slurm(built):
    """The CLIP rules are SLURM jobs like the others: the embedded caption data, a caption block, a
    twin shard, CLIP training (with its GPU request) and the zero-shot evaluation of one arm."""
    wd, _, _ = built
    _, out = through_slurm(wd, "results/clip/eval/synreal_sd_cfg2_digits/n250.json")
    jobs, slurm_ids = submitted(out)
    rules = [r for r, _ in jobs]
    for rule in ("clip_data_embedded", "clip_captions", "generate_shard", "train_clip", "evaluate_clip"):
        assert rules.count(rule) == 1, (rule, rules)
    assert known_to_slurm(slurm_ids) == slurm_ids
    assert re.search(r"rule train_clip:.*?resources: [^\n]*gpu=1", out, re.S)
    e = json.loads((wd / "results" / "clip" / "eval" / "synreal_sd_cfg2_digits" / "n250.json").read_text())
    assert e["captions"] == 250 and e["arm"] == "syn+real"


def with_scales(tmp_path, run_index, scales) -> Path:
    """The tiny config with other scales for one run, written to a file."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["runs"][run_index]["scales"] = scales
    path = tmp_path / f"run{run_index}_scales.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_failed_shard_then_rerun_only_it(built, tmp_path):
    wd, _, _ = built
    bigger = with_scales(tmp_path, 0, [100, 200, 400, 800])
    shards = wd / "results" / "shards" / RUN
    code, out = through_slurm(wd, configfile=bigger, env={"SYNSCALE_FAIL_SHARDS": f"{RUN}:5"}, check=False)
    assert code != 0
    assert "generate_shard" in out and re.search(r"Error in rule generate_shard", out), out[-4000:]
    # independent shards finished; the failed one left nothing under its final name
    for i in (4, 6, 7):
        assert (shards / f"shard-{i:05d}.tar").exists(), i
    assert not (shards / "shard-00005.tar").exists()
    # re-run: only the failed shard and what depends on it
    _, out = through_slurm(wd, configfile=bigger)
    jobs, _ = submitted(out)
    # (per-class FID reads the run's first min(D_I = 1000, largest scale) images: now 800 of them)
    assert sorted(r for r, _ in jobs) == ["analysis", "evaluate", "fit", "generate_shard", "per_class_fid",
                                          "report_figures", "train_classifier"], jobs
    assert ("generate_shard", f"run={RUN}, shard=00005") in jobs
    fit = json.loads((wd / "results" / "scaling" / f"{RUN}.json").read_text())
    assert fit["fit_scales"] == [100, 200, 400, 800]


def test_dry_run_lists_pending_work(built, tmp_path):
    wd, _, _ = built
    _, out = through_slurm(wd, "-n", configfile=with_scales(tmp_path, 1, [100, 200, 400, 800]))
    assert re.search(r"^train_classifier\s+1[ \t]*$", out, re.M) and re.search(r"^evaluate\s+1[ \t]*$", out, re.M), \
        out[-3000:]
    assert "checkpoints/real/n800" in out


def test_report_after_run(built):
    wd, _, _ = built
    p = smk(wd, "--report", str(wd / "report.html"), options=(), configfile_first=True, env={"PYTHONPATH": str(ROOT)},
            check=False, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    from support.report_html import check_report

    check_report(wd / "report.html", wd / "results", {RUN: "sd", "real": "real"})


# --------------------------------------------------------------------------- time limits and preemption
# A job that needs a few minutes is submitted with a limit it would meet; once its first attempt is
# under way (a training loop logging its loss, so listening for the warning; a first generation
# part written), the test lowers that attempt's SLURM time limit with `scontrol update` to the
# first whole minute at least 30 s ahead. SLURM then sends the warning (`--signal=USR1@30`, training) and SIGTERM at the
# limit: a training job writes its resume checkpoint and exits with status 75, a generation job
# keeps its finished parts; Snakemake resubmits it, the next attempt (limit untouched) finishes,
# and its outputs equal those of a run that was never interrupted. Lowering the limit of a running
# attempt, not submitting with a short one, makes the test independent of the machine's speed:
# SLURM checks limits every 30 s and sends the warning up to a minute early, so a short limit from
# the start can warn before the loop listens, or come after a fast machine has finished.
LEAD = 30
ATTEMPTS = 5
PREEMPT_TARGETS = {"train_classifier": "results/checkpoints/real/n100/model.pt",
                   "train_clip": "results/clip/checkpoints/real_digits/n250/model.pt",
                   "generate_shard": f"results/shards/{RUN}/shard-00000.tar"}
#: what shows a job's first attempt under way: its loss curve (>= 2 rows) or its first part file
UNDER_WAY = {"train_classifier": lambda wd: _rows(wd / f"{PREEMPT_TARGETS['train_classifier']}.loss.csv") >= 2,
             "train_clip": lambda wd: _rows(wd / f"{PREEMPT_TARGETS['train_clip']}.loss.csv") >= 2,
             "generate_shard": lambda wd: any((wd / PREEMPT_TARGETS["generate_shard"]).parent.glob("*.part-*.npz"))}


def _rows(csv: Path) -> int:
    try:
        return max(0, len(csv.read_text().splitlines()) - 1)
    except OSError:
        return 0


def preempt_config(path: Path) -> Path:
    """The tiny config cut down to one real classifier at D=100 with 6,000 iterations (about 2
    minutes on one idle CPU), CLIP's real arm at 250 captions for 800 epochs (4,000 steps, about 3
    minutes) and one generated shard of 1,500 images at 25 sampling steps (about 2 minutes, in 15
    parts)."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["runs"] = [{"model": "sd", "guidance": 2, "prompt": "incap", "scales": [100]},
                   {"model": "real", "scales": [100]}]
    cfg["classifier"]["schedule"] = {"base_scale": 100, "base_iters": 6000, "iters_per_doubling": 0}
    cfg["classifier"]["checkpoint_every"] = 100_000  # only the signal writes a resume checkpoint
    cfg["clip"]["train"]["epochs"] = 800
    cfg["clip"]["train"]["checkpoint_every"] = 100_000
    cfg["generation"]["shard_size"] = 1500
    cfg["models"]["sd"]["steps"] = 25
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def preempt_ws(slurm, tmp_path_factory):
    """A workspace with every input of the three jobs built locally (no SLURM), and a copy of it
    where the same jobs run uninterrupted (started here, in the background)."""
    import shutil

    wd = tmp_path_factory.mktemp("preempt")
    cfg = preempt_config(wd / "config.yaml")
    smk(wd, *PREEMPT_TARGETS.values(), "--omit-from", *PREEMPT_TARGETS, configfile=cfg, timeout=1800)
    ref = tmp_path_factory.mktemp("uninterrupted")
    shutil.copytree(wd, ref, dirs_exist_ok=True, symlinks=True)
    from support.repo import repo_env, snakemake_cmd

    with open(ref / "uninterrupted.log", "w") as log:
        whole = subprocess.Popen(snakemake_cmd(ref, *PREEMPT_TARGETS.values(), configfile=cfg,
                                               options=("--cores", "1")),
                                 stdout=log, stderr=subprocess.STDOUT, env=repo_env())
    yield wd, cfg, ref, whole
    if whole.poll() is None:
        whole.kill()


def _uninterrupted(preempt_ws, rule) -> Path:
    """The output of ``rule`` in the uninterrupted run, once that job has finished (its JSON, written
    after the weights or the shard, is there); the run's other jobs may still be going."""
    _, _, ref, whole = preempt_ws
    target = ref / PREEMPT_TARGETS[rule]
    done = target.parent / "train.json" if rule.startswith("train") else target.with_suffix(".json")
    deadline = time.time() + 1800
    while not done.exists() and whole.poll() is None and time.time() < deadline:
        time.sleep(2)
    if not done.exists():
        raise AssertionError(f"the uninterrupted run has no {done}:\n"
                             f"{(ref / 'uninterrupted.log').read_text(errors='replace')[-3000:]}")
    return target


def _running(rule) -> list[tuple[str, int]]:
    """(SLURM job id, seconds run) of this rule's running jobs."""
    p = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i|%M|%k"], capture_output=True, text=True, timeout=30)
    found = []
    for line in p.stdout.split():
        jobid, elapsed, comment = line.split("|", 2)
        if comment.startswith(f"rule_{rule}"):
            parts = [int(x) for x in re.split(r"[-:]", elapsed)]
            found.append((jobid, sum(v * m for v, m in zip(reversed(parts), (1, 60, 3600, 86400)))))
    return found


def _limit_first_attempt(wd, rule, lowered: list, done: threading.Event) -> None:
    """Once the first attempt of ``rule`` is under way, lower its time limit to the first whole minute
    at least 30 s ahead (time limits are whole minutes): the warning 30 s before it then comes from
    SLURM's next check or the one after, while the loop listens."""
    while not done.is_set():
        running = _running(rule)
        if running and UNDER_WAY[rule](wd):
            jobid, seconds = running[0]
            minutes = max(1, -(-(seconds + 30) // 60))
            p = subprocess.run(["scontrol", "update", f"JobId={jobid}", f"TimeLimit={minutes}"],
                               capture_output=True, text=True, timeout=30)
            lowered.append((jobid, seconds, minutes, p.returncode, p.stdout + p.stderr))
            return
        time.sleep(0.5)


def _limited(wd, cfg, rule, extra=()) -> tuple[str, list]:
    """The job of ``rule`` through SLURM (limit 20 minutes, the first attempt's lowered as it runs):
    (Snakemake's output, [(SLURM job id, seconds run, new limit in minutes, scontrol's status and output)])."""
    lowered, done = [], threading.Event()
    watcher = threading.Thread(target=_limit_first_attempt, args=(wd, rule, lowered, done), daemon=True)
    watcher.start()
    try:
        code, out = through_slurm(wd, PREEMPT_TARGETS[rule], "--retries", str(ATTEMPTS), "--set-resources",
                                  f"{rule}:runtime=20", *extra, configfile=cfg, check=False)
    finally:
        done.set()
        watcher.join()
    (wd / f"{rule}.log").write_text(out)
    assert code == 0, out[-5000:]
    assert len(lowered) == 1 and lowered[0][3] == 0, (lowered, out[-3000:])
    return out, lowered


def _slurm_logs(wd, rule) -> str:
    """The SLURM logs the plugin kept: those of the failed attempts."""
    return "".join(p.read_text(errors="replace")
                   for p in sorted((wd / ".snakemake" / "slurm_logs").rglob("*.log")) if f"rule_{rule}" in str(p))


def _weights(path) -> dict:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("model") or state["state_dict"]


@pytest.mark.parametrize("rule, log, total", [("train_classifier", "train/real/n100.log", 6000),
                                              ("train_clip", "clip/train/real_digits/n250.log", 4000)])
def test_training_on_a_time_limit_checkpoints_and_resumes(preempt_ws, rule, log, total):
    import torch

    wd, cfg, _, _ = preempt_ws
    out, lowered = _limited(wd, cfg, rule, [f"{rule}:slurm_extra='--signal=USR1@{LEAD}'"])
    attempts = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", out)
    assert len(attempts) == 2 and attempts[0] == lowered[0][0], (attempts, lowered, out[-3000:])
    failed = _slurm_logs(wd, rule)
    stops = re.findall(rf"stopped on a signal at step (\d+) of {total} \((SIGUSR1|SIGTERM)\)", failed)
    assert stops and "exit status 75" in failed, failed[-4000:]
    assert "SIGUSR1" in {name for _, name in stops}, stops  # the warning, not only the limit itself
    last = int(stops[-1][0])
    final_log = (wd / "results" / "logs" / log).read_text()
    resumed = re.findall(rf"resumed from \S+\.resume at step (\d+) of {total}", final_log)
    assert resumed == [str(last)], final_log[-2000:]
    model = wd / PREEMPT_TARGETS[rule]
    assert json.loads(model.with_name("train.json").read_text())["resumed_from"] == last
    steps = [int(line.split(",")[0]) for line in Path(f"{model}.loss.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == total  # every row once, in order, to the end
    a, b = _weights(model), _weights(_uninterrupted(preempt_ws, rule))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    print(f"{rule}: {len(attempts)} attempts, stopped at steps {stops}")


def test_generation_on_a_time_limit_samples_only_missing_parts(preempt_ws):
    wd, cfg, _, _ = preempt_ws
    out, lowered = _limited(wd, cfg, "generate_shard")  # no warning needed: every finished part is kept
    attempts = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", out)
    assert len(attempts) == 2 and attempts[0] == lowered[0][0], (attempts, lowered, out[-3000:])
    log = (wd / "results" / "logs" / "generate" / RUN / "shard-00000.log").read_text()
    kept = re.search(r"kept (\d+) of (\d+) parts from an earlier attempt; sampling the missing (\d+)", log)
    assert kept and int(kept.group(1)) >= 1 and int(kept.group(1)) + int(kept.group(3)) == int(kept.group(2)), log
    mine = json.loads((wd / "results" / "shards" / RUN / "shard-00000.json").read_text())
    whole = _uninterrupted(preempt_ws, "generate_shard")
    assert mine["sha256"] == json.loads(whole.with_suffix(".json").read_text())["sha256"]
    assert not list((wd / "results" / "shards" / RUN).glob("*.npz"))
