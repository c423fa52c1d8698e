"""Benchmark: dry-run time of the paper's grid against the embedded default's, in one command.

    .venv/bin/python bench/dryrun.py

Prints both wall times, the job counts and their ratio. Goal: the paper grid (about 2,700 jobs: the
supervised grid and the CLIP study) dry-runs in at most 10 s on a 2-core machine. (Where SLURM's
client tools are installed, snakemake's SLURM plugin asks `scontrol` at start-up, which waits ~9 s
when no controller answers: measure with the cluster up, or on a machine without SLURM. The first
run on a machine also builds the configured timm models once on the meta device; later runs reuse
that check.)
"""
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dry(configfile: Path, repeats: int = 3) -> tuple[float, int]:
    best, jobs = float("inf"), 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as wd:
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-q", "rules", "--snakefile",
                                str(ROOT / "Snakefile"), "-d", wd, "--configfile", str(configfile),
                                "--config", "allow_missing_paths=True"],
                               capture_output=True, text=True)
            best = min(best, time.perf_counter() - t0)
        if p.returncode:
            raise SystemExit(p.stderr[-2000:])
        totals = re.findall(r"^total\s+(\d+)$", p.stdout, re.M)
        jobs = int(totals[0]) if totals else 0
    return best, jobs


def main() -> None:
    base_t, base_n = dry(ROOT / "config" / "config.yaml")
    grid_t, grid_n = dry(ROOT / "config" / "paper.yaml")
    print(f"embedded default: {base_n:5d} jobs, dry run {base_t:6.2f} s")
    print(f"paper grid:       {grid_n:5d} jobs, dry run {grid_t:6.2f} s")
    print(f"ratio paper/embedded: {grid_t / base_t:.2f}x time for {grid_n / max(base_n, 1):.0f}x jobs")
    print(f"goal <= 10 s: {'met' if grid_t <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
