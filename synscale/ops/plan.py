"""The planner: what the pending jobs will cost and how long they take on N GPUs.

    python -m synscale.plan [--configfile F] [--directory D] [--gpus N] [--gpu-type T]
                            [--ledger CSV] [--compare CSV] [--json] [--allow-missing-paths] [TARGET ...]

The pending jobs, their dependencies and GPU requests come from Snakemake (``snakemake -n``:
``synscale.ops.dryrun``). Each job's cost: a generation or classifier job's work (images, samples:
``synscale.ops.cost.job_work``) at the measured rate of comparable jobs in the ledger (same kind
of rule, T2I model or arch, resolution and GPU type), else at the rate of the config's ``cost:``
table. A measured rate comes with the jobs' fixed start-up cost (loading models and data, starting
processes): GPU-seconds = start-up + work / rate, fitted by least squares over comparable jobs of
different sizes (``fit_rate``; one size only: the median rate, no start-up), so that small jobs
do not make the rate of large ones look low; any other job at the median GPU-hours of its rule's jobs in the
ledger, else ``cost.job_hours``; else it is listed as not costed. It prints GPU-hours per rule,
per run and in total, and the makespan on N GPUs: list scheduling of the DAG, the job with the
longest path to the end first (the critical path is its lower bound). ``--compare`` puts the
predicted GPU-hours per rule beside those measured in another ledger (the build that ran them).
"""
from __future__ import annotations

import argparse
import heapq
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from synscale.ops import ledger as L
from synscale.ops.cost import RATE_KIND, Work, all_runs, cost_label, gpu_matches, job_work, table_job_hours, table_rate
from synscale.ops.dryrun import PendingJob, dry_run, edges, load_config


@dataclass
class JobCost:
    job: PendingJob
    run: str
    gpus: int
    work: Work | None
    rate: float | None      # units per second per GPU
    source: str             # ledger | table | ledger-job | table-job | cpu | none
    gpu_hours: float
    hours: float            # the job's wall time


# ---------------------------------------------------------------- the rates
def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Rate:
    per_second: float       # work units per GPU-second
    startup_s: float = 0.0  # GPU-seconds a job spends whatever its work

    def gpu_seconds(self, amount: float) -> float:
        return self.startup_s + amount / self.per_second


def fit_rate(points: Sequence[tuple[float, float]]) -> Rate | None:
    """The rate of (work, GPU-seconds) points: least squares of GPU-seconds = start-up + work / rate
    where the points have two sizes or more and the fit is sensible (positive rate, start-up >= 0),
    else the median rate with no start-up."""
    pts = [(float(w), float(s)) for w, s in points if w and s]
    if not pts:
        return None
    if len({w for w, _ in pts}) >= 2:
        mw, ms = statistics.fmean(w for w, _ in pts), statistics.fmean(s for _, s in pts)
        slope = sum((w - mw) * (s - ms) for w, s in pts) / sum((w - mw) ** 2 for w, _ in pts)
        startup = ms - slope * mw
        if slope > 0 and startup >= 0:
            return Rate(1.0 / slope, startup)
    return Rate(statistics.median(w / s for w, s in pts))


def rate_key(row: dict) -> tuple:
    """What makes ledger jobs comparable: (kind of rule, T2I model or arch, resolution)."""
    kind = RATE_KIND[row["rule"]]
    subject = row.get("model") if kind == "generation" else row.get("arch")
    return kind, subject or "", _res(row.get("resolution"))


def measured_rates(rows: Sequence[dict], gpu_type: str) -> dict[tuple, Rate]:
    """(kind, model or arch, resolution) -> the rate per GPU (``fit_rate`` of work against
    wall x GPUs) of the ledger's jobs on ``gpu_type``."""
    got: dict[tuple, list] = {}
    for r in rows:
        kind = RATE_KIND.get(r["rule"])
        if not kind or not r.get("work") or not r.get("wall_s") or not gpu_matches(r.get("device"), gpu_type):
            continue
        got.setdefault(rate_key(r), []).append((r["work"], r["wall_s"] * max(1.0, r.get("gpus") or 1)))
    return {k: rate for k, v in got.items() if (rate := fit_rate(v)) is not None}


def measured_job_hours(rows: Sequence[dict], gpu_type: str) -> dict[str, tuple[float, float]]:
    """rule -> (median GPU-hours, median wall hours) of its ledger jobs on ``gpu_type``: a job
    without GPUs, or whose record does not name its device, counts whatever the GPU type."""
    got: dict[str, list] = {}
    for r in rows:
        if r.get("wall_s") is None or (r.get("gpus") and r.get("device") and not gpu_matches(r["device"], gpu_type)):
            continue
        got.setdefault(r["rule"], []).append((r.get("gpu_hours") or 0.0, r["wall_s"] / 3600))
    return {k: (_median([a for a, _ in v]), _median([b for _, b in v])) for k, v in got.items()}


def _res(value) -> str:
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return ""


def estimate(jobs: Sequence[PendingJob], cfg: dict, rows: Sequence[dict] = (), gpu_type: str | None = None
             ) -> list[JobCost]:
    """The cost of every pending job (see the module's doc for the order of the sources)."""
    cost = cfg.get("cost") or {}
    gpu_type = gpu_type or cost.get("gpu", "cpu")
    rates, per_job = measured_rates(rows, gpu_type), measured_job_hours(rows, gpu_type)
    runs = all_runs(cfg)
    out = []
    for j in jobs:
        run = j.wildcards.get("run") or j.wildcards.get("crun") or "-"
        g = j.gpus
        work = job_work(j.rule, j.wildcards, cfg, runs)
        rate, source = None, "none"
        if work is not None:
            rate = rates.get((work.kind, work.subject or "", _res(work.resolution)))
            source = "ledger" if rate else "none"
            if rate is None:
                table = table_rate(cost, work, gpu_type)
                rate, source = (Rate(table), "table") if table else (None, "none")
        if rate:
            gh = rate.gpu_seconds(work.amount) / 3600
            out.append(JobCost(j, run, g, work, rate.per_second, source, gh if g else 0.0, gh / max(g, 1)))
            continue
        measured = per_job.get(j.rule)
        if g and measured and measured[0] is not None:
            out.append(JobCost(j, run, g, work, None, "ledger-job", measured[0], measured[0] / g))
        elif g and table_job_hours(cost, j.rule) is not None:
            gh = table_job_hours(cost, j.rule)
            out.append(JobCost(j, run, g, work, None, "table-job", gh, gh / g))
        elif not g:
            out.append(JobCost(j, run, 0, work, None, "cpu", 0.0, (measured or (0, 0))[1] or 0.0))
        else:
            out.append(JobCost(j, run, g, work, None, "none", 0.0, 0.0))
    return out


# ---------------------------------------------------------------- the makespan
def makespan(costs: Sequence[JobCost], n_gpus: int) -> tuple[float, float]:
    """(makespan, critical path) in hours of the pending jobs on ``n_gpus`` GPUs: list scheduling
    in the order of each job's longest path to the end; a job asking for more GPUs than there are
    takes them all; a job without GPUs does not wait for one."""
    n_gpus = max(1, int(n_gpus))
    by_id = {c.job.jobid: c for c in costs}
    deps = {k: [d for d in v if d in by_id] for k, v in edges([c.job for c in costs]).items()}
    children: dict[int, list[int]] = {k: [] for k in by_id}
    for k, ds in deps.items():
        for d in ds:
            children[d].append(k)
    left = {k: len(v) for k, v in deps.items()}
    order, queue = [], [k for k, n in left.items() if n == 0]
    while queue:
        k = queue.pop()
        order.append(k)
        for c in children[k]:
            left[c] -= 1
            if left[c] == 0:
                queue.append(c)
    level: dict[int, float] = {}
    for k in reversed(order):
        level[k] = by_id[k].hours + max((level[c] for c in children[k]), default=0.0)
    critical = max(level.values(), default=0.0)

    need = {k: min(by_id[k].gpus, n_gpus) for k in by_id}
    waiting = {k: len(v) for k, v in deps.items()}
    ready: dict[int, list] = {}  # GPUs needed -> heap of (-level, job): the best that fits is on a top

    def push(k):
        heapq.heappush(ready.setdefault(need[k], []), (-level[k], k))

    for k in order:
        if waiting[k] == 0:
            push(k)
    running: list[tuple[float, int]] = []
    t, free = 0.0, n_gpus
    while True:
        while True:
            fits = [g for g, h in ready.items() if h and g <= free]
            if not fits:
                break
            g = min(fits, key=lambda g: ready[g][0])
            _, k = heapq.heappop(ready[g])
            free -= g
            heapq.heappush(running, (t + by_id[k].hours, k))
        if not running:
            break
        t, k = heapq.heappop(running)
        done = [k]
        while running and running[0][0] <= t:
            done.append(heapq.heappop(running)[1])
        for k in done:
            free += need[k]
            for c in children[k]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    push(c)
    return t, critical


# ---------------------------------------------------------------- the report
def summarize(costs: Sequence[JobCost], n_gpus: int, gpu_type: str, label: str, ledger_path: str | None,
              ledger_rows: int) -> dict:
    def group(key):
        out: dict[str, dict] = {}
        for c in costs:
            g = out.setdefault(key(c), {"jobs": 0, "gpu_hours": 0.0, "sources": {}})
            g["jobs"] += 1
            g["gpu_hours"] += c.gpu_hours
            g["sources"][c.source] = g["sources"].get(c.source, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["gpu_hours"]))

    span, critical = makespan(costs, n_gpus)
    return {
        "pending_jobs": len(costs), "gpu_type": gpu_type, "gpus": n_gpus, "cost_table": label,
        "ledger": ledger_path, "ledger_rows": ledger_rows,
        "total_gpu_hours": sum(c.gpu_hours for c in costs),
        "makespan_hours": span, "critical_path_hours": critical,
        "per_rule": group(lambda c: c.job.rule), "per_run": group(lambda c: c.run),
        "not_costed": sorted({c.job.rule for c in costs if c.source == "none"}),
    }


def compare(costs: Sequence[JobCost], measured: Sequence[dict]) -> dict[str, dict]:
    """rule -> predicted and measured GPU-hours and wall hours (the measured ledger's jobs of the
    rule), and their ratio."""
    out: dict[str, dict] = {}
    for c in costs:
        r = out.setdefault(c.job.rule, {"predicted_gpu_hours": 0.0, "predicted_wall_hours": 0.0})
        r["predicted_gpu_hours"] += c.gpu_hours
        r["predicted_wall_hours"] += c.hours
    for rule, t in L.totals(measured, "rule").items():
        r = out.setdefault(rule, {"predicted_gpu_hours": 0.0, "predicted_wall_hours": 0.0})
        r["measured_gpu_hours"], r["measured_wall_hours"] = t["gpu_hours"], t["wall_s"] / 3600
    for r in out.values():
        m = r.get("measured_wall_hours")
        r["ratio_wall"] = r["predicted_wall_hours"] / m if m else None
    return out


def render(plan: dict) -> str:
    lines = [f"plan: {plan['pending_jobs']} pending job(s) (snakemake -n), on {plan['gpu_type']}",
             f"  {plan['cost_table']}",
             f"  ledger: {plan['ledger'] or '-'} ({plan['ledger_rows']} job(s) measured)",
             "", f"{'GPU-hours per rule':34s} {'jobs':>6s} {'GPU-hours':>12s}  source of the rate (jobs)"]
    for rule, g in plan["per_rule"].items():
        src = ", ".join(f"{k} {v}" for k, v in sorted(g["sources"].items()))
        lines.append(f"  {rule:32s} {g['jobs']:6d} {g['gpu_hours']:12.2f}  {src}")
    lines += ["", f"{'GPU-hours per run':34s} {'jobs':>6s} {'GPU-hours':>12s}"]
    for run, g in plan["per_run"].items():
        lines.append(f"  {run:32s} {g['jobs']:6d} {g['gpu_hours']:12.2f}")
    lines += ["", f"total: {plan['total_gpu_hours']:.2f} GPU-hours",
              f"makespan on {plan['gpus']} GPU(s): {plan['makespan_hours']:.2f} h "
              f"(critical path {plan['critical_path_hours']:.2f} h)"]
    if plan["not_costed"]:
        lines.append(f"not costed (no rate in the ledger or the cost table, counted as 0): "
                     f"{', '.join(plan['not_costed'])}")
    if plan.get("compare"):
        lines += ["", f"{'predicted vs measured':34s} {'pred. h':>10s} {'meas. h':>10s} {'ratio':>7s}  (wall hours)"]
        for rule, r in sorted(plan["compare"].items()):
            m, ratio = r.get("measured_wall_hours"), r.get("ratio_wall")
            lines.append(f"  {rule:32s} {r['predicted_wall_hours']:10.4f} "
                         f"{'-' if m is None else f'{m:10.4f}':>10s} {'-' if ratio is None else f'{ratio:7.2f}':>7s}")
    return "\n".join(lines)


def results_dir(cfg: dict, directory: str | None) -> Path:
    res = Path(cfg["results"])
    return res if res.is_absolute() else Path(directory or ".") / res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m synscale.plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help="targets (default: the default target)")
    ap.add_argument("--configfile", help="the configuration (default: config/config.yaml)")
    ap.add_argument("--directory", help="the working directory snakemake runs in")
    ap.add_argument("--gpus", type=int, default=8, help="GPUs for the makespan (default 8)")
    ap.add_argument("--gpu-type", help="GPU type to cost for (default: cost.gpu of the config)")
    ap.add_argument("--ledger", help="ledger of measured jobs (default: <results>/ledger.csv when present)")
    ap.add_argument("--compare", help="a ledger of the build that ran these jobs: predicted vs measured per rule")
    ap.add_argument("--json", action="store_true", help="print the plan as JSON")
    ap.add_argument("--allow-missing-paths", action="store_true",
                    help="preview a configuration whose local weights and data are not here")
    a = ap.parse_args(argv)
    if a.gpus < 1:
        raise SystemExit("--gpus: at least 1")
    cfg = load_config(a.configfile)
    ledger_path = Path(a.ledger) if a.ledger else results_dir(cfg, a.directory) / "ledger.csv"
    if a.ledger and not ledger_path.is_file():
        raise SystemExit(f"--ledger {a.ledger}: no such file (a ledger is built by snakemake as <results>/ledger.csv)")
    rows = L.read_csv(ledger_path)
    jobs = dry_run(a.configfile, a.directory, a.targets, a.allow_missing_paths)
    gpu_type = a.gpu_type or (cfg.get("cost") or {}).get("gpu", "cpu")
    costs = estimate(jobs, cfg, rows, gpu_type)
    plan = summarize(costs, a.gpus, gpu_type, cost_label(cfg.get("cost") or {}),
                     str(ledger_path) if rows else None, len(rows))
    if a.compare:
        plan["compare"] = compare(costs, L.read_csv(a.compare))
    print(json.dumps(plan, indent=1) if a.json else render(plan))
    return 0
