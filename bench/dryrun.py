"""Benchmark: dry-run time of the paper's grid against the embedded default's, and of a synthetic
grid of about 20,000 jobs against the paper's, in one command.

    .venv/bin/python bench/dryrun.py [--large-only] [--profile]

Prints the wall times, the job counts and their ratios. Goals: the paper grid (about 2,800 jobs:
the supervised grid and the CLIP study) dry-runs in at most 10 s on a 2-core machine; the
synthetic grid (``config/paper.yaml`` with ``seeds: [0, 1, 2]`` on every fitted run, a scale
between every two of its scales, and generated shards 13 times smaller: about 20,000 jobs)
in at most 1.5x the paper grid's time per job. ``--profile`` runs the synthetic grid's dry run
under cProfile and prints where the time goes.

Where SLURM's client tools are installed, snakemake's SLURM executor plugin runs ``scontrol show
config`` when Snakemake imports it, at every start (it computes the help text of its
``--slurm-status-command`` option): with no controller answering, that call waits for slurm.conf's
MessageTimeout (10 s by default). The script says how long ``scontrol`` takes here before it
measures (see bench/README.md for the way around it). The first run on a machine also builds the
configured timm models once on the meta device; later runs reuse that check.
"""
import argparse
import math
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "config" / "paper.yaml"


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def dry(configfile: Path, repeats: int = 3, profile: Path | None = None) -> tuple[float, int, float]:
    """(best wall seconds, jobs, CPU seconds of that run): the CPU time stays comparable on a busy
    machine, where the wall time does not."""
    best, jobs, cpu = float("inf"), 0, float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as wd:
            head = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "snakemake"] if profile else \
                [sys.executable, "-m", "snakemake"]
            t0, c0 = time.perf_counter(), _child_cpu()
            p = subprocess.run([*head, "-n", "-q", "rules", "--snakefile", str(ROOT / "Snakefile"), "-d", wd,
                                "--configfile", str(configfile), "--config", "allow_missing_paths=True"],
                               capture_output=True, text=True)
            wall, used = time.perf_counter() - t0, _child_cpu() - c0
            if wall < best:
                best, cpu = wall, used
        if p.returncode:
            raise SystemExit(p.stderr[-2000:])
        totals = re.findall(r"^total\s+(\d+)$", p.stdout, re.M)
        jobs = int(totals[0]) if totals else 0
    return best, jobs, cpu


def synthetic_grid(out: Path, shard_divisor: int = 13) -> Path:
    """config/paper.yaml grown to about 20,000 jobs: three seeds on every fitted run, the geometric
    mean between every two of its scales added, generated shards ``shard_divisor`` times smaller."""
    cfg = yaml.safe_load(PAPER.read_text())
    for run in cfg["runs"]:
        scales = sorted(run["scales"])
        if len(scales) < 2:
            continue
        mids = {int(round(math.sqrt(a * b), -3)) for a, b in zip(scales, scales[1:])}
        run["scales"] = sorted(set(scales) | mids)
        run["seeds"] = [0, 1, 2]
    cfg["generation"]["shard_size"] //= shard_divisor
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def scontrol_seconds() -> float | None:
    """How long ``scontrol show config`` takes here (None: SLURM's tools are not installed)."""
    exe = shutil.which("scontrol")
    if exe is None:
        return None
    t0 = time.perf_counter()
    try:
        subprocess.run([exe, "show", "config"], capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        pass
    return time.perf_counter() - t0


def top_of_profile(path: Path, n: int = 25) -> None:
    import pstats

    pstats.Stats(str(path)).sort_stats("cumulative").print_stats(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--large-only", action="store_true", help="only the paper grid and the synthetic grid")
    ap.add_argument("--profile", action="store_true", help="profile the synthetic grid's dry run (cProfile)")
    a = ap.parse_args()
    sc = scontrol_seconds()
    print("SLURM: not installed" if sc is None else f"SLURM: scontrol show config took {sc:.2f} s "
          f"({'controller answers' if sc < 1 else 'no controller answering: each snakemake start waits'})")
    if not a.large_only:
        base_t, base_n, base_c = dry(ROOT / "config" / "config.yaml")
        print(f"embedded default: {base_n:6d} jobs, dry run {base_t:7.2f} s (CPU {base_c:7.2f} s)")
    grid_t, grid_n, grid_c = dry(PAPER)
    print(f"paper grid:       {grid_n:6d} jobs, dry run {grid_t:7.2f} s (CPU {grid_c:7.2f} s; "
          f"{1000 * grid_t / grid_n:.2f} ms per job)")
    if not a.large_only:
        print(f"ratio paper/embedded: {grid_t / base_t:.2f}x time for {grid_n / max(base_n, 1):.0f}x jobs")
        print(f"goal <= 10 s: {'met' if grid_t <= 10 else 'NOT met'}")
    with tempfile.TemporaryDirectory() as tmp:
        big = synthetic_grid(Path(tmp) / "synthetic.yaml")
        big_t, big_n, big_c = dry(big, repeats=1)
        per, per_cpu = big_t / big_n / (grid_t / grid_n), big_c / big_n / (grid_c / grid_n)
        print(f"synthetic grid:   {big_n:6d} jobs, dry run {big_t:7.2f} s (CPU {big_c:7.2f} s; "
              f"{1000 * big_t / big_n:.2f} ms per job)")
        print(f"per-job time synthetic/paper: {per:.2f}x wall, {per_cpu:.2f}x CPU; goal <= 1.5x: "
              f"{'met' if per <= 1.5 else 'NOT met'}")
        if a.profile:
            prof = Path(tmp) / "dryrun.prof"
            dry(big, repeats=1, profile=prof)
            top_of_profile(prof)


if __name__ == "__main__":
    main()
