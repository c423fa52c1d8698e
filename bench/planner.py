"""Benchmark: the planner's cost model against the jobs of a build, in sample and out of sample.

    .venv/bin/python bench/planner.py [--ledger results/ledger.csv] [--gpu-type cpu]

Reads a build's ledger (rule ``ledger``: one row per job, wall seconds and work) and the times its
benchmark files were written. For the rules costed from measured rates (generation, classifier and
CLIP training: ``synscale.ops.plan.measured_rates``), it predicts every job's wall time

* in sample: from the rates fitted on all the build's jobs;
* out of sample: the jobs of the build's second half (by the time their benchmark file was written)
  from the rates fitted on its first half, as a fresh build is predicted from an earlier one,

and prints per rule the predicted and measured wall hours and their ratio (the goal: 0.75-1.33 for
rules of three jobs or more), beside the model that assumes no start-up (the median rate).
"""
from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from _common import ROOT  # noqa: F401  (puts the project on sys.path)

from synscale.ops import ledger as L
from synscale.ops import plan as P
from synscale.ops.cost import RATE_KIND


def predict(fit_rows: list[dict], rows: list[dict], gpu_type: str, startup: bool) -> dict[str, list[float]]:
    """rule -> [predicted wall hours, measured wall hours, jobs] of ``rows`` from ``fit_rows``' rates."""
    rates = P.measured_rates(fit_rows, gpu_type)
    out: dict[str, list[float]] = {}
    for r in rows:
        rate = rates.get(P.rate_key(r))
        if rate is None:
            continue
        if not startup:
            rate = P.Rate(statistics.median(x["work"] / (x["wall_s"] * max(1.0, x.get("gpus") or 1))
                                            for x in fit_rows if x.get("work") and x.get("wall_s")
                                            and RATE_KIND.get(x["rule"]) and P.rate_key(x) == P.rate_key(r)))
        gpus = max(1.0, r.get("gpus") or 1)
        t = out.setdefault(r["rule"], [0.0, 0.0, 0])
        t[0] += rate.gpu_seconds(r["work"]) / gpus / 3600
        t[1] += r["wall_s"] / 3600
        t[2] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ledger", default="results/ledger.csv")
    ap.add_argument("--gpu-type", default="cpu")
    a = ap.parse_args()
    base = Path(a.ledger).resolve().parent.parent  # the workspace: benchmark paths are relative to it
    rows = [r for r in L.read_csv(a.ledger) if RATE_KIND.get(r["rule"]) and r.get("work") and r.get("wall_s")]
    rows.sort(key=lambda r: os.path.getmtime(base / r["benchmark"]))
    half = len(rows) // 2
    first, second = rows[:half], rows[half:]
    print(f"{a.ledger}: {len(rows)} rate-costed jobs; out of sample: the last {len(second)} from the first {half}")
    print(f"{'rule':20s} {'sample':>7s} {'jobs':>5s} {'pred. h':>9s} {'meas. h':>9s} {'ratio':>7s} "
          f"{'no start-up':>12s}")
    for label, fit, test in (("in", rows, rows), ("out", first, second)):
        with_su, without = predict(fit, test, a.gpu_type, True), predict(fit, test, a.gpu_type, False)
        for rule in sorted(with_su):
            p, m, n = with_su[rule]
            p0 = without[rule][0]
            print(f"{rule:20s} {label:>7s} {n:5d} {p:9.4f} {m:9.4f} {p / m:7.2f} {p0 / m:12.2f}")


if __name__ == "__main__":
    main()
