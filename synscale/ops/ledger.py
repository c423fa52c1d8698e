"""The cost ledger: one row per job of the rules with a ``benchmark:`` file, Snakemake's benchmark
(wall time, CPU time, max RSS) joined with the job's JSON record (its work units, device and
throughput).

``rule_table`` (given by rule ``ledger``, built from the rules themselves) names, per rule, its
benchmark file pattern and the pattern of the JSON it writes (or None). ``build`` finds every job
that left either file (a job without a benchmark file, e.g. one marked done by ``--touch``, gets
empty benchmark fields; one without a record, empty work fields) and ``write_csv`` writes
``ledger.csv``; ``read_csv`` reads one back for the planner and ``totals`` sums rows by a column.
"""
from __future__ import annotations

import csv
import glob
import json
import re
import statistics
from pathlib import Path
from typing import Iterable

from synscale.ops.cost import RATE_KIND, all_runs, gpus_of, model_of

COLUMNS = ("rule", "run", "scale", "wildcards", "model", "arch", "resolution", "device", "gpus", "wall_s", "cpu_s",
           "max_rss_mb", "gpu_hours", "work_unit", "work", "steps", "throughput", "benchmark", "record")
_FIELD = re.compile(r"\{(\w+)(?:,(?:[^{}]|\{[^{}]*\})*)?\}")  # {name} or {name,regex}


# ---------------------------------------------------------------- patterns
def _regex(pattern: str) -> re.Pattern:
    """A file pattern with {wildcards} as a regex with one named group per wildcard (a repeated
    name must match the same text)."""
    out, seen, pos = [], set(), 0
    for m in _FIELD.finditer(pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+)")
        seen.add(name)
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + r"\Z")


def _glob(pattern: str) -> str:
    return glob.escape(_FIELD.sub("\0", pattern)).replace("\0", "*")


def matches(pattern: str) -> dict[tuple, str]:
    """(wildcard items) -> path of every existing file of ``pattern``."""
    rx = _regex(pattern)
    out = {}
    for path in sorted(glob.glob(_glob(pattern))):
        m = rx.match(path)
        if m:
            out[tuple(m.groupdict().items())] = path
    return out


# ---------------------------------------------------------------- one job
def read_benchmark(path: str | Path) -> dict:
    """Wall seconds, CPU seconds and max RSS (MB) of a Snakemake benchmark TSV (the mean over its
    repeats); {} when it is missing or unreadable."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except OSError:
        return {}

    def mean(col):
        vals = []
        for r in rows:
            try:
                vals.append(float(r.get(col, "")))
            except (TypeError, ValueError):
                pass
        return round(statistics.fmean(vals), 3) if vals else None

    return {k: v for k, v in (("wall_s", mean("s")), ("cpu_s", mean("cpu_time")), ("max_rss_mb", mean("max_rss")))
            if v is not None}


def _read_record(path: str | None) -> dict:
    if not path:
        return {}
    try:
        with open(path) as fh:
            rec = json.load(fh)
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def _device(rec: dict, work: dict) -> str:
    if work.get("gpu_model"):
        return str(work["gpu_model"])
    if rec.get("gpu"):
        return str(rec["gpu"])
    dev = str(rec.get("device", ""))
    return "cpu" if dev.startswith("cpu") else dev


def record_work(rule: str, rec: dict) -> dict:
    """The work a record states (its ``work`` block), else what older records let one derive: a
    generated shard's or test set's image count, a classifier's samples seen and steps."""
    if isinstance(rec.get("work"), dict):
        return rec["work"]
    kind = RATE_KIND.get(rule)
    if kind == "generation" and isinstance(rec.get("count"), int):
        return {"unit": "images", "amount": rec["count"], "gpus": rec.get("processes", 1)}
    if kind == "training" and rec.get("iters") and rec.get("global_batch"):
        steps = int(rec["iters"]) - int(rec.get("resumed_from") or 0)
        return {"unit": "samples", "amount": steps * int(rec["global_batch"]), "steps": steps,
                "gpus": rec.get("processes"), "resolution": (rec.get("recipe") or {}).get("input_size")}
    if kind == "clip_training" and rec.get("steps") and isinstance(rec.get("recipe"), dict):
        steps = int(rec["steps"]) - int(rec.get("resumed_from") or 0)
        return {"unit": "samples", "amount": steps * int(rec["recipe"].get("batch_size") or 0), "steps": steps,
                "gpus": rec.get("processes"), "arch": (rec.get("model") or {}).get("name")}
    return {}


def job_row(rule: str, wildcards: dict, bench: str | None, record: str | None, cfg: dict, runs: dict) -> dict:
    """One ledger row (missing facts are empty)."""
    b = read_benchmark(bench) if bench else {}
    rec = _read_record(record)
    work = record_work(rule, rec)
    run = wildcards.get("run") or wildcards.get("crun") or rec.get("run") or ""
    scale = wildcards.get("scale") or rec.get("scale") or ""
    gpus = work.get("gpus") or gpus_of(rule, wildcards, cfg, runs)
    wall = b.get("wall_s")
    amount = work.get("amount")
    kind = RATE_KIND.get(rule)
    return {
        "rule": rule, "run": run, "scale": scale,
        "wildcards": ";".join(f"{k}={v}" for k, v in wildcards.items()),
        "model": model_of(run, cfg) if run and kind == "generation" else "",
        "arch": (work.get("arch") or rec.get("arch", "")) if kind in ("training", "clip_training") else "",
        "resolution": work.get("resolution") or (cfg["data"]["image_size"] if kind == "generation" else ""),
        "device": _device(rec, work), "gpus": gpus,
        "wall_s": wall if wall is not None else "", "cpu_s": b.get("cpu_s", ""), "max_rss_mb": b.get("max_rss_mb", ""),
        "gpu_hours": round(wall * gpus / 3600, 6) if wall is not None else "",
        "work_unit": work.get("unit", ""), "work": amount if amount is not None else "", "steps": work.get("steps", ""),
        "throughput": round(amount / wall, 3) if amount and wall else "",
        "benchmark": bench or "", "record": record or "",
    }


def build(rule_table: dict, cfg: dict) -> list[dict]:
    """Every job of the table's rules that left a benchmark file or a record, one row each, sorted
    by rule and wildcards."""
    runs = all_runs(cfg)
    rows = []
    for rule, pats in sorted(rule_table.items()):
        benches = matches(pats["benchmark"]) if pats.get("benchmark") else {}
        records = matches(pats["record"]) if pats.get("record") else {}
        # a record pattern with fewer wildcards than the benchmark's (one file per rule): join on what it has
        for key in sorted(set(benches) | set(records)):
            if key not in benches and key in records and any(set(key) < set(k) for k in benches):
                continue
            rec = records.get(key) or next((p for k, p in records.items() if set(k) <= set(key)), None)
            rows.append(job_row(rule, dict(key), benches.get(key), rec, cfg, runs))
    return rows


# ---------------------------------------------------------------- the file
def write_csv(rows: Iterable[dict], path: str | Path) -> None:
    from synscale.io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow({c: r.get(c, "") for c in COLUMNS})


def read_csv(path: str | Path) -> list[dict]:
    """The rows of a ledger.csv ([] when there is none), numbers as floats (empty: None)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        return []
    missing = [c for c in ("rule", "wall_s", "gpus", "work", "device") if rows and c not in rows[0]]
    if missing:
        raise ValueError(f"{path}: not a ledger (no column {', '.join(missing)}); rebuild it with "
                         f"snakemake --forcerun ledger")
    num = ("gpus", "wall_s", "cpu_s", "max_rss_mb", "gpu_hours", "work", "steps", "throughput")
    for r in rows:
        for c in num:
            try:
                r[c] = float(r[c]) if r.get(c) not in (None, "") else None
            except ValueError:
                r[c] = None
    return rows


def totals(rows: Iterable[dict], by: str) -> dict[str, dict]:
    """column value -> {'jobs', 'timed' (jobs with a benchmark), 'wall_s', 'gpu_hours'}."""
    out: dict[str, dict] = {}
    for r in rows:
        t = out.setdefault(str(r.get(by) or "-"), {"jobs": 0, "timed": 0, "wall_s": 0.0, "gpu_hours": 0.0})
        t["jobs"] += 1
        if r.get("wall_s") not in (None, ""):
            t["timed"] += 1
            t["wall_s"] += float(r["wall_s"])
            t["gpu_hours"] += float(r["gpu_hours"] or 0)
    return out
