"""Where a workspace stands, per run.

    python -m synscale.status [--configfile F] [--directory D] [--json] [--allow-missing-paths]

Per run of the configuration: its scales done / running / pending / failed, the GPU-hours its jobs
have spent (their benchmark files) and the estimate of what is left (``synscale.ops.plan`` on the
pending jobs), and the last failure's log with its last error line. What is pending comes from
Snakemake (``snakemake -n``); a scale is done when no job of it is pending, running when a job of
it is in SLURM's queue in state RUNNING, failed when its job or one it waits for left a log that
says it failed (a job's log ends with ``job failed:`` and the traceback). Running jobs are asked of
SLURM (``squeue --me``) where squeue is installed and answers; elsewhere they are ``unknown``. A job
submitted alone is matched on the comment the SLURM executor gives it (its rule and wildcards); a
job inside a group job (``group:`` in the rules: the group job's comment names the group and its
rules, not their wildcards) is running when Snakemake has marked its outputs incomplete (it does
so from submission until the job ends, ``.snakemake/incomplete``) and a running group job names
its rule.
"""
from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Sequence

from synscale.ops import ledger as L
from synscale.ops.cost import all_runs, gpus_of
from synscale.ops.dryrun import PendingJob, dry_run, edges, load_config
from synscale.ops.plan import estimate, results_dir

FAILED_MARK = "job failed"
_ERROR = re.compile(r"^\s*(?:[\w.]+(?:Error|Exception|Interrupt|Exit)|Error|error)\b.*")
RUNNING_STATES = ("RUNNING", "COMPLETING", "CONFIGURING")
INCOMPLETE = Path(".snakemake") / "incomplete"


# ---------------------------------------------------------------- SLURM, logs, benchmarks
def squeue_jobs(timeout: float = 20.0) -> dict[str, str] | None:
    """comment -> state of this user's jobs in SLURM's queue; None when squeue is not installed or
    does not answer (best effort: the status then says 'unknown')."""
    exe = shutil.which("squeue")
    if exe is None:
        return None
    try:
        p = subprocess.run([exe, "--me", "--noheader", "--format=%T|%k"], capture_output=True, text=True,
                           timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode:
        return None
    out = {}
    for line in p.stdout.splitlines():
        state, _, comment = line.strip().partition("|")
        if comment:
            out[comment] = state
    return out


def incomplete_outputs(base: str | Path) -> set[str]:
    """The output files Snakemake has marked incomplete in the workspace ``base``: those of the jobs
    it has started and not seen finish (a record per file under ``.snakemake/incomplete``, named by
    the file's urlsafe base64, split into '@'-prefixed parts where it is long)."""
    root = Path(base) / INCOMPLETE
    out = set()
    for p in root.rglob("*") if root.is_dir() else ():
        if not p.is_file() or p.name == "migration_underway":
            continue
        code = "".join(part.removeprefix("@") for part in p.relative_to(root).parts)
        try:
            out.add(base64.urlsafe_b64decode(code).decode())
        except (ValueError, UnicodeDecodeError):
            continue
    return out


def running_jobs(jobs: Sequence[PendingJob], queue: dict[str, str], base: str | Path = ".") -> set[int]:
    """The jobids of ``jobs`` that SLURM runs: alone (their own comment), or inside a running group
    job that names their rule while Snakemake marks their outputs incomplete."""
    running = {c for c, state in queue.items() if state in RUNNING_STATES}
    groups = [c for c in running if c.startswith("rule_") and "_wildcards_" not in c]
    marked = incomplete_outputs(base) if groups else set()

    def in_group(job: PendingJob) -> bool:
        if not marked.intersection(job.outputs):
            return False
        return any(f"_{job.rule}_" in c + "_" or c.endswith("...") for c in groups if c != f"rule_{job.rule}")

    return {j.jobid for j in jobs if j.slurm_comment in running or in_group(j)}


def failure(job: PendingJob, base: Path) -> tuple[str, str] | None:
    """(log path, last error line) when the job's log says it failed."""
    for log in job.log:
        path = base / log
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if FAILED_MARK not in text and "Traceback" not in text:
            continue
        lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
        errors = [ln for ln in lines if _ERROR.match(ln)]
        return log, (errors[-1] if errors else lines[-1]).strip()
    return None


def spent(results: Path, cfg: dict, runs: dict) -> dict[str, float]:
    """run (or '-' for shared jobs) -> GPU-hours of the jobs that left a benchmark file under
    ``<results>/benchmarks/<rule>/<name>.tsv`` (the job's GPUs as its rule asks for them)."""
    names = set(runs) | {r.data for r in runs.values()}
    out: dict[str, float] = {}
    root = results / "benchmarks"
    for tsv in sorted(root.glob("*/**/*.tsv")):
        rule, *parts = tsv.relative_to(root).with_suffix("").parts
        run = parts[0] if len(parts) > 1 and parts[0] in names else "-"
        scale = re.fullmatch(r"n(\d+)", parts[-1])
        wall = L.read_benchmark(tsv).get("wall_s")
        if wall is None:
            continue
        g = gpus_of(rule, {"run": run, "scale": scale.group(1) if scale else ""}, cfg, runs)
        out[run] = out.get(run, 0.0) + wall * g / 3600
    return out


# ---------------------------------------------------------------- the status
def _upstream(jobid: int, deps: dict[int, list[int]]) -> set[int]:
    seen, todo = set(), [jobid]
    while todo:
        for d in deps.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def status(cfg: dict, jobs: Sequence[PendingJob], base: str | Path = ".", queue: dict[str, str] | None = None,
           ledger_rows: Sequence[dict] = ()) -> dict:
    """Per run: scales by state, jobs running, GPU-hours spent and left, the last failure. ``queue``:
    SLURM's (comment -> state), None: unknown."""
    base = Path(base)
    runs = all_runs(cfg)
    deps = edges(jobs)
    by_id = {j.jobid: j for j in jobs}
    failed = {j.jobid: f for j in jobs if (f := failure(j, base))}
    running = None if queue is None else running_jobs(jobs, queue, base)
    left: dict[str, float] = {}
    for c in estimate(jobs, cfg, ledger_rows):
        left[c.run] = left.get(c.run, 0.0) + c.gpu_hours
    results = results_dir(cfg, str(base))
    used = spent(results, cfg, runs)
    out = {"results": str(results), "pending_jobs": len(jobs), "slurm": "unknown" if queue is None else "squeue",
           "runs": {}, "shared": {"gpu_hours_spent": used.get("-", 0.0), "gpu_hours_left": left.get("-", 0.0)}}
    for name, run in sorted(runs.items()):
        if not run.scales:
            continue
        mine = [j for j in jobs if j.wildcards.get("run") in (name, run.data)]
        states = {}
        for s in run.scales:
            own = [j for j in jobs if j.wildcards.get("run") == name and j.wildcards.get("scale") == str(s)]
            if not own:
                states[s] = "done"
                continue
            closure = set().union(*({j.jobid} | _upstream(j.jobid, deps) for j in own))
            if any(i in failed for i in closure):
                states[s] = "failed"
            elif running is not None and any(j.jobid in running for j in own):
                states[s] = "running"
            else:
                states[s] = "pending"
        fails = [(by_id[i], failed[i]) for i in failed if by_id[i] in mine]
        last = max(fails, key=lambda f: (base / f[1][0]).stat().st_mtime, default=None)
        count = {k: sum(v == k for v in states.values()) for k in ("done", "running", "pending", "failed")}
        if running is None:
            count["running"] = "unknown"
        out["runs"][name] = {
            "scales": len(run.scales), **count, "states": {str(k): v for k, v in states.items()},
            "jobs_pending": len(mine), "jobs_failed": len(fails),
            "jobs_running": "unknown" if running is None else sum(j.jobid in running for j in mine),
            "gpu_hours_spent": used.get(name, 0.0) + (used.get(run.data, 0.0) if run.data != name else 0.0),
            "gpu_hours_left": left.get(name, 0.0) + (left.get(run.data, 0.0) if run.data != name else 0.0),
            "last_failure": None if last is None else {"rule": last[0].rule, "log": last[1][0], "error": last[1][1]},
        }
    return out


def render(st: dict) -> str:
    lines = [f"status of {st['results']}: {st['pending_jobs']} pending job(s) (snakemake -n); running jobs from "
             + ("SLURM's squeue" if st["slurm"] == "squeue" else "SLURM: unknown (squeue not installed or not "
                                                                 "answering)"),
             f"{'run':32s} {'scales':>6s} {'done':>5s} {'running':>8s} {'pending':>8s} {'failed':>7s} "
             f"{'GPU-h spent':>12s} {'GPU-h left':>11s}"]
    for name, r in st["runs"].items():
        lines.append(f"{name:32s} {r['scales']:6d} {r['done']:5d} {str(r['running']):>8s} {r['pending']:8d} "
                     f"{r['failed']:7d} {r['gpu_hours_spent']:12.2f} {r['gpu_hours_left']:11.2f}")
        f = r["last_failure"]
        if f:
            lines.append(f"    last failure ({f['rule']}, {r['jobs_failed']} failed job(s)): {f['log']}")
            lines.append(f"      {f['error']}")
    sh = st["shared"]
    lines.append(f"{'(shared jobs)':32s} {'':6s} {'':5s} {'':8s} {'':8s} {'':7s} {sh['gpu_hours_spent']:12.2f} "
                 f"{sh['gpu_hours_left']:11.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, queue_fn: Callable[[], dict | None] = squeue_jobs) -> int:
    ap = argparse.ArgumentParser(prog="python -m synscale.status", description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", help="the configuration (default: config/config.yaml)")
    ap.add_argument("--directory", help="the working directory snakemake runs in")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--allow-missing-paths", action="store_true",
                    help="a configuration whose local weights and data are not here")
    a = ap.parse_args(argv)
    cfg = load_config(a.configfile)
    jobs = dry_run(a.configfile, a.directory, (), a.allow_missing_paths)
    rows = L.read_csv(results_dir(cfg, a.directory) / "ledger.csv")
    st = status(cfg, jobs, a.directory or ".", queue_fn(), rows)
    print(json.dumps(st, indent=1) if a.json else render(st))
    return 0
