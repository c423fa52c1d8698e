"""Audit a workspace: every output of the configuration is checked against its manifest.

    python -m synscale.verify [--configfile FILE] [--directory DIR] [--rebuild] [--cores N]

Run it where you run snakemake. It asks Snakemake for every output file of the configuration
(``snakemake --summary``), lists what is missing, checks every manifest-covered file (generated
shards, test sets, the embedded real-data shards, classifier checkpoints) by size and sha256,
exits non-zero when anything is missing or corrupt, and prints the Snakemake command that
rebuilds exactly those files. ``--rebuild`` runs it; when every rebuilt file is byte-identical to
what its manifest recorded (so whatever was built from it is still right) and no other work was
pending, it then marks the files built from them up to date (``snakemake --touch --rerun-triggers
mtime``) instead of re-running them; otherwise the next snakemake run rebuilds them.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from synscale.data.integrity import IntegrityError, problem, records_of

MANIFEST_NAMES = ("data.json", "train.json", "metrics.json")


def _is_manifest(path: str) -> bool:
    """data.json, a checkpoint's train.json or metrics.json, a shard's or a test set's manifest."""
    p = Path(path)
    return p.name in MANIFEST_NAMES or (p.suffix == ".json" and (p.parent.parent.name == "shards"
                                                                 or p.parent.name == "testsets"))


def snakemake_cmd(configfile: str | None, directory: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake"]
    if configfile:
        cmd += ["--configfile", configfile]
    if directory:
        cmd += ["--directory", directory]
    return cmd


def outputs(configfile: str | None = None, directory: str | None = None) -> list[tuple[str, str]]:
    """(output file, status) of every output of the configuration, from ``snakemake --summary``."""
    p = subprocess.run([*snakemake_cmd(configfile, directory), "--summary", "--quiet", "all"], capture_output=True,
                       text=True)
    if p.returncode:
        raise SystemExit(f"snakemake --summary failed:\n{p.stderr[-3000:]}")
    rows = []
    for line in p.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) >= 5 and cols[0] != "output_file":
            rows.append((cols[0], cols[4]))
    return rows


def audit(configfile: str | None = None, directory: str | None = None) -> dict:
    """{'missing': [...], 'corrupt': {path: why}, 'expected': {path: record}} for the workspace."""
    base = Path(directory or ".")
    rows = outputs(configfile, directory)
    missing = [f for f, status in rows if status == "missing"]
    corrupt: dict[str, str] = {}
    expected: dict[str, dict] = {}
    for f, status in rows:
        if status == "missing" or not _is_manifest(f):
            continue
        try:
            recs = records_of(base / f)
        except (IntegrityError, ValueError) as e:
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
    return {"missing": missing, "corrupt": corrupt, "expected": expected}


def rebuild_command(bad: list[str], configfile: str | None, directory: str | None, cores: str) -> list[str]:
    return [*snakemake_cmd(configfile, directory), "--cores", cores, "--force", *bad]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m synscale.verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", help="the --configfile you run snakemake with (default: the embedded default)")
    ap.add_argument("--directory", "-d", help="the workflow directory (default: here)")
    ap.add_argument("--rebuild", action="store_true", help="run the rebuild command")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--json", help="also write the audit to this JSON file")
    a = ap.parse_args(argv)
    res = audit(a.configfile, a.directory)
    bad = sorted(set(res["missing"]) | set(res["corrupt"]))
    for f in res["missing"]:
        print(f"missing: {f}")
    for f, why in sorted(res["corrupt"].items()):
        print(f"corrupt: {f}: {why}")
    if a.json:
        Path(a.json).write_text(json.dumps({**res, "bad": bad}, indent=2))
    if not bad:
        print("every output is present and matches its manifest")
        return 0
    cmd = rebuild_command(bad, a.configfile, a.directory, a.cores)
    shown = ["snakemake", *cmd[3:]]
    print(f"{len(bad)} file(s) to rebuild; this rebuilds exactly them:\n  {shlex.join(shown)}")
    if not a.rebuild:
        print("(python -m synscale.verify --rebuild runs it, then keeps what was built from them when they "
              "come back byte-identical)")
        return 1
    # --touch below must only ever mark files built from the rebuilt ones: with other work pending
    # (a new scale, an edited config) it is skipped
    dry = subprocess.run([*snakemake_cmd(a.configfile, a.directory), "-n"], capture_output=True, text=True)
    other_work = "Nothing to be done" not in dry.stdout + dry.stderr
    if subprocess.run(cmd).returncode:
        return 2
    base = Path(a.directory or ".")
    if other_work:
        print("rebuilt; other work was pending in this workspace, so the next snakemake run finishes it "
              "(and rebuilds what depends on the rebuilt files)")
        return 0
    differ = [f for f, rec in res["expected"].items() if f in bad and problem(base / f, rec)]
    if differ:
        print("rebuilt, but these differ from what their manifests recorded, so what was built from them "
              f"will be rebuilt by the next snakemake run: {', '.join(differ)}")
        return 0
    touch = [*snakemake_cmd(a.configfile, a.directory), "--cores", a.cores, "--touch", "--rerun-triggers", "mtime"]
    if subprocess.run(touch).returncode:
        return 2
    print("rebuilt byte-identical to their manifests; what was built from them is kept")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
