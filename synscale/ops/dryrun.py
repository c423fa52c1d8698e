"""What Snakemake would run, asked of Snakemake: ``snakemake -n`` read job by job.

A dry run prints, per pending job, its rule and ``input:``, ``output:``, ``log:``, ``jobid:``,
``benchmark:``, ``reason:``, ``wildcards:`` and ``resources:`` lines; ``parse`` turns them into
``PendingJob`` records, and ``edges`` links a job to the pending jobs that make its inputs (the
part of the DAG still to run). ``dry_run`` runs the command (a child that dies with this process,
``synscale.data.audit.run_tied``) and ``load_config`` reads the same configuration Snakemake
reads, with every default filled in.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from synscale.data.audit import LOCKED, job_blocks, run_tied

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = PROJECT / "config" / "config.yaml"


@dataclass(frozen=True)
class PendingJob:
    jobid: int
    rule: str
    wildcards: dict = field(default_factory=dict, hash=False, compare=False)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    log: tuple[str, ...] = ()
    benchmark: str = ""
    resources: dict = field(default_factory=dict, hash=False, compare=False)
    reason: str = ""

    @property
    def gpus(self) -> int:
        """The GPUs the job asks for: ``gpu`` (one node), or ``gres=gpu:G`` x ``nodes`` (several); 0
        without a GPU resource."""
        gres = re.fullmatch(r"gpu(?::[\w-]+)?:(\d+)", str(self.resources.get("gres", "")).strip())
        per_node = _int(self.resources.get("gpu")) or (int(gres.group(1)) if gres else 0)
        return per_node * max(1, _int(self.resources.get("nodes"), 1))

    @property
    def slurm_comment(self) -> str:
        """The comment the SLURM executor gives the job's sbatch (``rule_<rule>_wildcards_<values>``)."""
        values = "_".join(self.wildcards.values()).replace("/", "_")
        return f"rule_{self.rule}" + (f"_wildcards_{values}" if values else "")


def _int(value, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _pairs(text: str) -> dict[str, str]:
    """``a=1, b=x, c=`` -> {'a': '1', 'b': 'x', 'c': ''} (a value holding ', ' stays whole when the
    next piece is not ``key=``)."""
    out: dict[str, str] = {}
    last = None
    for piece in text.split(", "):
        key, eq, value = piece.partition("=")
        if eq and re.fullmatch(r"\w+", key):
            out[key] = value
            last = key
        elif last is not None:
            out[last] += ", " + piece
    return out


def _files(text: str) -> tuple[str, ...]:
    return tuple(f for f in text.split(", ") if f) if text else ()


def parse(text: str) -> list[PendingJob]:
    """The pending jobs of a ``snakemake -n`` output, in the order printed (a group job's jobs,
    printed indented under it, too), read by ``synscale.data.audit.job_blocks``."""
    jobs = []
    for i, b in enumerate(job_blocks(text)):
        jobs.append(PendingJob(
            jobid=_int(b.get("jobid"), -1 - i), rule=b["rule"], wildcards=_pairs(b.get("wildcards", "")),
            inputs=_files(b.get("input", "")), outputs=_files(b.get("output", "")), log=_files(b.get("log", "")),
            benchmark=b.get("benchmark", ""), resources=_pairs(b.get("resources", "")), reason=b.get("reason", "")))
    return jobs


def edges(jobs: Sequence[PendingJob]) -> dict[int, list[int]]:
    """jobid -> the jobids of the pending jobs that make its inputs."""
    maker = {o: j.jobid for j in jobs for o in j.outputs}
    return {j.jobid: sorted({maker[i] for i in j.inputs if i in maker and maker[i] != j.jobid}) for j in jobs}


def snakemake_command(configfile: str | None = None, directory: str | None = None, targets: Iterable[str] = (),
                      allow_missing_paths: bool = False, extra: Iterable[str] = ()) -> list[str]:
    """``python -m snakemake TARGET ... -n [--configfile F] [--directory D]``: targets first, as
    --configfile takes several values."""
    cmd = [sys.executable, "-m", "snakemake", *targets, "-n", *extra]
    if directory and not configfile:  # the Snakefile reads config/config.yaml from the working directory
        configfile = DEFAULT_CONFIG
    if configfile:
        cmd += ["--configfile", str(Path(configfile).resolve())]
    if directory:
        cmd += ["--directory", str(directory)]
    if allow_missing_paths:
        cmd += ["--config", "allow_missing_paths=True"]
    return cmd


def dry_run(configfile: str | None = None, directory: str | None = None, targets: Iterable[str] = (),
            allow_missing_paths: bool = False) -> list[PendingJob]:
    """The jobs ``snakemake -n`` would run (none: the workspace is up to date). A failed dry run or
    a locked workspace stops with Snakemake's message. The child runs with ``SLURM_CONF`` set to an
    empty file: SLURM's own variable, which makes the SLURM executor plugin's ``scontrol`` call at
    start-up fail at once instead of waiting for a controller that does not answer."""
    cmd = snakemake_command(configfile, directory, targets, allow_missing_paths)
    # a dry run never talks to SLURM; without this, the SLURM executor plugin's scontrol call at
    # import waits out slurm.conf's MessageTimeout wherever SLURM's tools are installed but no
    # controller answers (bench/README.md)
    p = run_tied(["env", f"SLURM_CONF={os.devnull}", *cmd], capture=True)
    text = (p.stdout or "") + "\n" + (p.stderr or "")
    if LOCKED in text:
        raise SystemExit(f"the workspace is locked by another snakemake ({' '.join(cmd[2:])}); "
                         "wait for it, or run snakemake --unlock if none is running")
    if p.returncode:
        raise SystemExit(f"snakemake -n failed ({' '.join(cmd[2:])}):\n{text[-3000:]}")
    return parse(text)


def load_config(configfile: str | None = None) -> dict:
    """The configuration Snakemake reads (``configfile``, else config/config.yaml), validated, every
    default filled in; a bad file stops with the key and the fix."""
    from synscale import config as C

    path = Path(configfile) if configfile else DEFAULT_CONFIG
    try:
        return C.validate(C.load_yaml(path), files=[path])
    except C.ConfigError as e:
        raise SystemExit(f"{path}: {e}") from None
