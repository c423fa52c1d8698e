"""Style guards run by CI: ruff on every Python file, and Snakemake's linter on the workflow
with both shipped configurations.

One lint is accepted and only that one: "Specify a conda environment or container for each
rule". synscale's software is the pinned virtual environment that install.sh builds (cluster
nodes share it); conda environments cannot be built or tested on machines without a conda
channel, so the rules carry no untested `conda:` directives."""
import re
import subprocess
import sys

import pytest
from support.repo import ROOT

pytestmark = pytest.mark.subprocess

ACCEPTED_LINTS = {"Specify a conda environment or container for each rule."}


def test_ruff_is_clean():
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]


@pytest.mark.parametrize("args", [["--configfile", "config/config.yaml"],
                                  ["--configfile", "config/paper.yaml", "--config", "allow_missing_paths=True"]],
                         ids=["embedded", "paper"])
def test_snakemake_lint_is_clean(args):
    p = subprocess.run([sys.executable, "-m", "snakemake", "--lint", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    titles = set(re.findall(r"^\s+\* (.+?):?$", out, re.M))
    assert "Traceback" not in out and "Error" not in out.split("Lints for")[0], out[-3000:]
    # the linter ran over the rules (it always reports the accepted lint, so it exits 1): a run that
    # printed nothing, or crashed before linting, must not pass
    assert p.returncode in (0, 1) and "Lints for rule" in out and titles, out[-3000:]
    assert titles <= ACCEPTED_LINTS, f"new lints: {sorted(titles - ACCEPTED_LINTS)}\n{out[-4000:]}"
