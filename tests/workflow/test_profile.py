"""`snakemake --profile slurm ...`, the command the README documents, finds profiles/slurm once
install.sh has registered it (envs/register_profile.sh), without clobbering a user's own profile."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.repo import ROOT

pytestmark = pytest.mark.subprocess

REGISTER = ROOT / "envs" / "register_profile.sh"


def _register(xdg: Path) -> str:
    env = {**os.environ, "XDG_CONFIG_HOME": str(xdg)}
    p = subprocess.run([str(REGISTER)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_register_links_the_profile_and_is_idempotent(tmp_path):
    out = _register(tmp_path)
    link = tmp_path / "snakemake" / "slurm"
    assert "registered" in out and link.is_symlink()
    assert link.resolve() == (ROOT / "profiles" / "slurm").resolve()
    assert "already registered" in _register(tmp_path)


def test_register_leaves_an_existing_profile_alone(tmp_path):
    mine = tmp_path / "snakemake" / "slurm"
    mine.mkdir(parents=True)
    (mine / "config.yaml").write_text("executor: slurm\njobs: 7\n")
    out = _register(tmp_path)
    assert "left it alone" in out and str(ROOT / "profiles" / "slurm") in out
    assert not mine.is_symlink() and (mine / "config.yaml").read_text().endswith("jobs: 7\n")


def test_documented_command_finds_the_profile(tmp_path):
    """`snakemake --profile slurm -n results/scaling/sd_cfg2_incap.json` from the project directory."""
    _register(tmp_path)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "-n",
                        "results/scaling/sd_cfg2_incap.json"], cwd=ROOT, capture_output=True, text=True, env=env,
                       timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    assert "no profile.yaml" not in out
    # either work is pending (listed with the profile's SLURM resources) or everything is built
    assert ("slurm_partition=" in out and "Job stats" in out) or "Nothing to be done" in out, out[-3000:]
