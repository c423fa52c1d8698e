"""Cluster tests: the workflow through profiles/slurm against a real single-node SLURM
(cluster/local-slurm.sh), with fake GPUs. They need root (to start the daemons); CI runs as root."""
import json
import os
import re
import subprocess
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


def submitted(out: str) -> tuple[list[tuple[str, str]], set[str]]:
    """(rule, wildcards) of every job submitted to SLURM, and the SLURM job ids."""
    jobs = {}
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", out):
        m = re.search(r"(local)?rule (\w+):.*?jobid: (\d+)", block, re.S)
        if m and not m.group(1):
            w = re.search(r"wildcards: ([^\n]*)", block)
            jobs[m.group(3)] = (m.group(2), w.group(1).strip() if w else "")
    ids, slurm_ids = set(), set()
    for m in re.finditer(r"Job (\d+) has been submitted with SLURM jobid (\d+)", out):
        ids.add(m.group(1))
        slurm_ids.add(m.group(2))
    for m in re.finditer(r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)", out):
        ids.update(m.group(1).split(","))
        slurm_ids.add(m.group(2))
    return sorted(jobs[i] for i in ids if i in jobs), slurm_ids


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
    html = (wd / "report.html").read_text(errors="replace")
    assert len(html) > 10_000 and "scaling" in html.lower()
