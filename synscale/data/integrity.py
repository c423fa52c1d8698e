"""Integrity on read: every file the workflow wrote with a manifest is checked against it when a
job reads it, and by the audit (``python -m synscale.verify``).

A manifest records, for each file it covers, its size, sha256 and (for shards) its sample count:
a generated shard's ``shard-NNNNN.json`` and a test set's ``{run}.json`` cover the tar beside
them; the embedded data's ``data.json`` covers every real-data shard (``files``); a classifier's
``train.json`` (``metrics.json`` for the reference classifier) covers its ``model.pt``
(``files``). A failure names the file, what is wrong, and the command that repairs the workspace.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Iterable, Sequence

from synscale.io import read_json, sha256_file

REPAIR = "python -m synscale.verify --rebuild"


class IntegrityError(ValueError):
    """A file does not match its manifest, or its manifest is missing."""


def repair_hint(configfile: str | Sequence[str] | None = None, directory: str | None = None, them: bool = False) -> str:
    """The repair command for the workspace: ``configfile`` the --configfile snakemake ran with
    (None: not known here; () or []: the embedded default), ``directory`` its --directory."""
    if configfile is None:
        extra = " (with the --configfile you ran snakemake with)"
    else:
        files = [configfile] if isinstance(configfile, (str, os.PathLike)) else list(configfile)
        extra = "".join(f" --configfile {shlex.quote(str(f))}" for f in files)
    if directory:
        extra = f" --directory {shlex.quote(str(directory))}" + extra
    return f"repair {'them' if them else 'it'} (and only {'them' if them else 'it'}) with: {REPAIR}{extra}"


def before_run(problems: Sequence[str], configfiles: Sequence[str], directory: str | None = None) -> str:
    """The error that stops a run whose jobs would read damaged inputs (``damaged_inputs``)."""
    return (f"{len(problems)} file(s) that jobs of this run would read do not match their manifests; no job "
            "was started and no output was removed:\n  - " + "\n  - ".join(problems)
            + f"\n{repair_hint(configfiles, directory, them=len(problems) > 1)}")


def record(path: str | os.PathLike, count: int | None = None) -> dict:
    """What a manifest records of one file."""
    p = Path(path)
    out = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
    if count is not None:
        out["count"] = int(count)
    return out


def records_of(manifest: str | os.PathLike) -> dict[str, dict]:
    """file path -> record, for every file ``manifest`` covers (paths next to the manifest)."""
    manifest = Path(manifest)
    if not manifest.exists():
        raise IntegrityError(f"{manifest}: manifest missing, so the files it describes cannot be checked; "
                             f"{repair_hint()}")
    man = read_json(manifest)
    if "files" in man:
        return {str(manifest.parent / name): rec for name, rec in man["files"].items()}
    if "sha256" in man and "shard" in man:  # a generated shard or test set manifest
        return {str(manifest.parent / man["shard"]): {k: man[k] for k in ("sha256", "count", "bytes") if k in man}}
    raise IntegrityError(f"{manifest}: not a manifest synscale wrote (no 'files' nor 'shard' and 'sha256'); "
                         f"{repair_hint()}")


def problem(path: str | os.PathLike, rec: dict) -> str | None:
    """What is wrong with ``path`` against its record, or None."""
    p = Path(path)
    if not p.exists():
        return "missing"
    size = p.stat().st_size
    if "bytes" in rec and size != rec["bytes"]:
        return f"{size:,} bytes where its manifest records {rec['bytes']:,} (truncated or overwritten)"
    digest = sha256_file(p)
    if digest != rec["sha256"]:
        return f"sha256 {digest[:12]}… where its manifest records {rec['sha256'][:12]}… (changed after it was written)"
    return None


def check(paths: Iterable[str | os.PathLike], manifests: Iterable[str | os.PathLike]) -> None:
    """Check each of ``paths`` that one of ``manifests`` covers; raise IntegrityError naming the
    first bad file. Paths no manifest covers (a user's external data) are not checked here."""
    recs: dict[str, dict] = {}
    for m in manifests:
        recs.update({os.path.normpath(k): v for k, v in records_of(m).items()})
    for p in paths:
        rec = recs.get(os.path.normpath(str(p)))
        if rec is None:
            continue
        why = problem(p, rec)
        if why:
            raise IntegrityError(f"{p}: {why}; {repair_hint()}")


def damaged_inputs(jobs: Iterable[tuple[Iterable[str], Iterable[str]]], made: Iterable[str] = ()) -> list[str]:
    """'path: what is wrong' for each input of ``jobs`` (each given as its input files and the
    manifests among them) that its manifest covers and that does not match it; inputs and
    manifests in ``made`` (outputs of jobs of the same run) are left out, as they will be rewritten.

    Run before any job starts (Snakemake removes a job's old outputs when it starts the job, so a
    job that found a damaged input itself would already have removed them). Cheap on a large
    workspace: a file is hashed only when its size matches the record and it was written after
    its manifest (an edit in place); one written before its manifest, at the recorded size, is
    taken as written. Checking every byte of the workspace is ``python -m synscale.verify``."""
    made = {os.path.normpath(str(p)) for p in made}
    records: dict[str, dict[str, dict] | str] = {}
    seen: set[str] = set()
    out: list[str] = []
    for inputs, manifests in jobs:
        covered: dict[str, tuple[dict, str]] = {}
        for m in manifests:
            m = os.path.normpath(str(m))
            if m in made:
                continue
            if m not in records:
                try:
                    records[m] = {os.path.normpath(k): v for k, v in records_of(m).items()}
                except (IntegrityError, ValueError, OSError) as e:
                    records[m] = str(e).split("; repair")[0]
            if isinstance(records[m], str):
                if m not in seen:
                    seen.add(m)
                    out.append(records[m] if records[m].startswith(m) else f"{m}: {records[m]}")
                continue
            covered.update({p: (rec, m) for p, rec in records[m].items()})
        for p in map(lambda x: os.path.normpath(str(x)), inputs):
            if p in made or p in seen or p not in covered:
                continue
            seen.add(p)
            why = _changed(p, *covered[p])
            if why:
                out.append(f"{p}: {why}")
    return out


def _changed(path: str, rec: dict, manifest: str) -> str | None:
    """What is wrong with ``path`` against ``rec`` of ``manifest``: its size always, its sha256 when
    it was modified after the manifest was written."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    if "bytes" in rec and st.st_size != rec["bytes"]:
        return f"{st.st_size:,} bytes where its manifest records {rec['bytes']:,} (truncated or overwritten)"
    if st.st_mtime_ns <= os.stat(manifest).st_mtime_ns:
        return None
    return problem(path, rec)
