"""The repository's paths and the one way the tests run Snakemake (and other commands) on it.

Every subprocess that imports ``synscale`` gets :func:`repo_env`: this checkout first on
PYTHONPATH (so a job runs the code under test, not an installed copy) and the Hugging Face hub
offline.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
CONFIGS = TESTS / "configs"
TINY = CONFIGS / "tiny.yaml"
PAPERLIKE = CONFIGS / "paperlike.yaml"
SNAKEFILE = ROOT / "Snakefile"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
CORES_2 = ("--cores", "2")


def repo_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with ROOT prepended to PYTHONPATH and HF_HUB_OFFLINE=1, then
    ``extra`` on top (an ``extra`` PYTHONPATH replaces the prepended one)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra or {})
    return env


def snakemake_cmd(workdir, *args, configfile=TINY, options: Sequence[str] = CORES_2,
                  configfile_first: bool = False) -> list[str]:
    """``python -m snakemake --snakefile ROOT/Snakefile -d WORKDIR OPTIONS ...`` with ``args``
    after the options and ``--configfile`` last (default), or ``--configfile`` before ``args``
    (``configfile_first``). ``--configfile`` takes several values: positional targets right after
    it are read as more config files, which is why it goes last by default."""
    cmd = [*SNAKEMAKE, "--snakefile", str(SNAKEFILE), "-d", str(workdir), *options]
    if configfile_first:
        return [*cmd, "--configfile", str(configfile), *args]
    return [*cmd, *args, "--configfile", str(configfile)]


def smk(workdir, *args, configfile=TINY, options: Sequence[str] = CORES_2, configfile_first: bool = False,
        env: Mapping[str, str] | None = None, check: bool = True, timeout: float = 900,
        cwd=None) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_cmd` with :func:`repo_env` (plus ``env``), capturing its output as
    text. With ``check``, a non-zero exit raises an AssertionError showing the output's tail."""
    cmd = snakemake_cmd(workdir, *args, configfile=configfile, options=options, configfile_first=configfile_first)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=repo_env(env), cwd=cwd)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-6000:]}")
    return p
