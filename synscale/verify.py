"""Audit a workspace: every output of the configuration is checked against its manifest, and
Snakemake is asked what it would still run.

    python -m synscale.verify [--configfile FILE] [--directory DIR] [--rebuild] [--cores N] [TARGET ...]

Run it where you run snakemake. It asks Snakemake for every output file of the configuration (of
TARGETs, default: the default target) with ``snakemake --summary``, lists what is missing, checks
every manifest-covered file (generated shards, test sets, prompt tables, caption tables, the
embedded real-data shards, classifier checkpoints) by size and sha256, and runs ``snakemake -n``:
jobs pending for another reason (an edited config, new scales) are listed as such, and a workspace
locked by another snakemake is reported. It prints the command that rebuilds exactly the missing
and damaged files and every job that command runs, with Snakemake's reason (a job that one of
them needs first, because its output is older than its inputs, is named as that).

``--rebuild`` runs it (``--rerun-triggers mtime``: an edited config or code does not widen a
repair; the next snakemake run takes care of those). When every rebuilt file is byte-identical to
what its manifest recorded and nothing else was pending, what was built from them is marked up to
date (``snakemake --touch``) instead of re-run. It ends with ``snakemake -n`` and reports what is
still pending. Every snakemake it starts stops with it (even on SIGKILL of this process).

Exit status: 0 every output is present and matches its manifest, and snakemake has nothing to do;
1 files are missing or damaged, or jobs are pending (all listed); 2 a snakemake command failed, or
the workspace is locked.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from synscale.data.audit import Job, Plan, explained, parse_plan, run_tied
from synscale.data.integrity import IntegrityError, problem, records_of

MANIFEST_NAMES = ("data.json", "train.json", "metrics.json")
MANIFEST_DIRS = ("testsets", "prompts", "captions")  # a test set's manifest; a prompt or caption table's info


def _is_manifest(path: str) -> bool:
    """data.json, a checkpoint's train.json or metrics.json, a shard's, test set's, prompt table's
    or caption table's JSON."""
    p = Path(path)
    return p.name in MANIFEST_NAMES or (p.suffix == ".json" and (p.parent.parent.name == "shards"
                                                                 or p.parent.name in MANIFEST_DIRS))


def snakemake_cmd(configfile: str | None, directory: str | None, targets=()) -> list[str]:
    """``python -m snakemake TARGET ... [--configfile F] [--directory D]``: targets first, as
    --configfile takes several values."""
    cmd = [sys.executable, "-m", "snakemake", *targets]
    if configfile:
        cmd += ["--configfile", configfile]
    if directory:
        cmd += ["--directory", directory]
    return cmd


def shown(cmd: list[str]) -> str:
    """A snakemake command as the user would type it."""
    return shlex.join(["snakemake", *cmd[3:]])


def _run(cmd: list[str], what: str):
    p = run_tied(cmd, capture=True)
    if p.returncode:
        raise SystemExit(f"{what} failed ({shown(cmd)}):\n{(p.stdout or '')[-2000:]}{(p.stderr or '')[-3000:]}")
    return p


def outputs(configfile: str | None = None, directory: str | None = None, targets=()) -> list[tuple[str, ...]]:
    """(output file, status, rule) of every output of the configuration, from ``snakemake --summary``."""
    p = _run([*snakemake_cmd(configfile, directory, targets), "--summary", "--quiet", "all"], "snakemake --summary")
    rows = []
    for line in p.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) >= 5 and cols[0] != "output_file":
            rows.append((cols[0], cols[4], cols[2]))
    return rows


def plan(configfile: str | None = None, directory: str | None = None, targets=(), extra=()) -> Plan:
    """What ``snakemake -n`` (with ``extra`` options) would run."""
    p = _run([*snakemake_cmd(configfile, directory, targets), *extra, "-n"], "snakemake -n")
    return parse_plan(p.stdout + "\n" + p.stderr)


def audit(configfile: str | None = None, directory: str | None = None, targets=()) -> dict:
    """{'missing': [...], 'corrupt': {path: why}, 'expected': {path: record}, 'rules': {path: the rule
    that makes it}} for the workspace."""
    base = Path(directory or ".")
    rows = outputs(configfile, directory, targets)
    missing = [f for f, status, *_ in rows if status == "missing"]
    rules = {f: rest[0] for f, _, *rest in rows if rest and rest[0] not in ("", "-")}
    corrupt: dict[str, str] = {}
    expected: dict[str, dict] = {}
    for f, status, *_ in rows:
        if status == "missing" or not _is_manifest(f):
            continue
        try:
            recs = records_of(base / f)
        except (IntegrityError, ValueError) as e:
            if Path(f).parent.name in ("prompts", "captions") and "not a manifest" in str(e):
                continue  # a table written before tables recorded their parquet: nothing to check it against
            corrupt[f] = f"unreadable manifest ({e})"
            continue
        for path, rec in recs.items():
            rel = os.path.relpath(path, base)
            expected[rel] = rec
            if rel in missing:
                continue
            why = problem(path, rec)
            if why:
                corrupt[rel] = why
    return {"missing": missing, "corrupt": corrupt, "expected": expected, "rules": rules}


def rebuild_command(bad: list[str], configfile: str | None, directory: str | None, cores: str,
                    rules: list[str] = ()) -> list[str]:
    """Rebuild exactly ``bad``: their jobs forced, and only jobs of ``rules`` (the rules that make
    them) considered, so a job upstream whose inputs the rebuild rewrites (a T2I model trained on a
    rebuilt real-data shard) is not re-run: the rebuilt files are checked against their manifests
    after. mtime is the only rerun trigger: an edited config or code is left to the next snakemake
    run."""
    allowed = ["--allowed-rules", *sorted(set(rules))] if rules else []
    return [*snakemake_cmd(configfile, directory, bad), "--cores", cores, "--rerun-triggers", "mtime", *allowed,
            "--force"]


def touch_command(configfile: str | None, directory: str | None, cores: str, targets=()) -> list[str]:
    return [*snakemake_cmd(configfile, directory, targets), "--cores", cores, "--touch"]


def describe_rebuild(jobs: list[Job], bad: list[str]) -> list[str]:
    """One line per job of the rebuild: what it rebuilds, or why it runs first."""
    bad_set, lines = set(bad), []
    for j in jobs:
        named = [o for o in j.outputs if o in bad_set]
        if named:
            lines.append(f"  {j.rule}: rebuilds {', '.join(named)}" + (f" (and its other outputs: "
                         f"{len(j.outputs) - len(named)})" if len(j.outputs) > len(named) else ""))
        else:
            lines.append(f"  {j.rule} -> {', '.join(j.outputs[:3])}{' ...' if len(j.outputs) > 3 else ''}: needed "
                         f"first ({j.reason})")
    return lines


def _pending(jobs: list[Job], head: str) -> None:
    print(f"{head} ({len(jobs)} job(s), from snakemake -n):")
    for j in jobs[:50]:
        print(f"  {j.describe()}")
    if len(jobs) > 50:
        print(f"  ... and {len(jobs) - 50} more")


def _locked(cmd: list[str]) -> int:
    print("the workspace is locked: another snakemake is running in it (let it finish), or one was killed; if none "
          f"is running, unlock it with:\n  {shown([*cmd, '--unlock'])}")
    return 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m synscale.verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help="snakemake targets to audit (default: the default target)")
    ap.add_argument("--configfile", help="the --configfile you run snakemake with (default: the embedded default)")
    ap.add_argument("--directory", "-d", help="the workflow directory (default: here)")
    ap.add_argument("--rebuild", action="store_true", help="run the rebuild command")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--json", help="also write the audit to this JSON file")
    a = ap.parse_args(argv)
    conf, wd, targets = a.configfile, a.directory, a.targets
    res = audit(conf, wd, targets)
    bad = sorted(set(res["missing"]) | set(res["corrupt"]))
    for f in res["missing"]:
        print(f"missing: {f}")
    for f, why in sorted(res["corrupt"].items()):
        print(f"corrupt: {f}: {why}")
    before = plan(conf, wd, targets)
    _, other = explained(before.jobs, bad)
    if a.json:
        Path(a.json).write_text(json.dumps({**res, "bad": bad, "locked": before.locked,
                                            "pending": [j.describe() for j in other]}, indent=2))
    if before.locked:
        return _locked(snakemake_cmd(conf, wd))
    if other:
        _pending(other, ("pending for reasons other than these files" if bad else "pending") + " (a changed config, "
                 "code or input, new outputs): the next snakemake run makes them" + (", a repair leaves them"
                                                                                   if bad else ""))
    if not bad:
        if other:
            return 1
        print("every output is present and matches its manifest, and snakemake has nothing to do")
        return 0
    rules = [res["rules"][f] for f in bad if f in res["rules"]]
    cmd = rebuild_command(bad, conf, wd, a.cores, rules if len(rules) == len(bad) else ())
    todo = plan(conf, wd, bad, cmd[cmd.index("--rerun-triggers"):])
    if todo.locked:
        return _locked(snakemake_cmd(conf, wd))
    print(f"{len(bad)} file(s) to rebuild; this command rebuilds exactly them:\n  {shown(cmd)}")
    print(f"it runs {len(todo.jobs)} job(s):")
    print("\n".join(describe_rebuild(todo.jobs, bad)))
    if not a.rebuild:
        print("(python -m synscale.verify --rebuild runs it, then keeps what was built from them when they "
              "come back byte-identical)")
        return 1
    if run_tied(cmd).returncode:
        return 2
    base = Path(wd or ".")
    differ = [f for f, rec in res["expected"].items() if f in bad and problem(base / f, rec)]
    if other:
        print("rebuilt; other work was pending in this workspace, so the next snakemake run does it and rebuilds "
              "what depends on the rebuilt files")
    elif differ:
        print("rebuilt, but these differ from what their manifests recorded, so what was built from them will be "
              f"rebuilt by the next snakemake run: {', '.join(differ)}")
    else:
        if run_tied(touch_command(conf, wd, a.cores, targets)).returncode:
            return 2
        print("rebuilt byte-identical to their manifests; what was built from them is kept (marked up to date)")
    after = plan(conf, wd, targets)
    if after.locked:
        return _locked(snakemake_cmd(conf, wd))
    if after.jobs:
        _pending(after.jobs, "still pending")
        return 1
    print("snakemake -n: nothing to be done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
