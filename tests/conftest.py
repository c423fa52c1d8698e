"""The suite's layout (see each folder's modules):

* ``unit/``: in-process tests of the package's functions;
* ``workflow/``: tests that run Snakemake, the whole DAG, or another command (torchrun, ruff, a
  training job killed and re-run, the profile registration script) as a user or a job would;
* ``cluster/``: the workflow through a real local SLURM (needs root); they run last;
* ``support/``: helpers, imported as ``from support.assets import ...``;
* ``configs/``: the CI-sized workflow configurations.

Markers (pyproject.toml): ``slow`` (whole-DAG integration), ``cluster`` (local SLURM) and
``subprocess`` (starts a subprocess, trains a model or runs Snakemake). ``-m "not slow and not
subprocess and not cluster"`` leaves the quick in-process tests.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))   # tests/: the `support` package

from support.repo import ROOT, TINY  # noqa: E402

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


LOCAL_SLURM = ROOT / "cluster" / "local-slurm.sh"
SLURM_CONF = Path("/etc/slurm/slurm.conf")


def _slurmctld_answers() -> bool:
    try:
        with socket.create_connection((socket.gethostname(), 6817), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def responsive_local_slurm():
    """snakemake-executor-plugin-slurm runs `scontrol show config` at every snakemake start where
    SLURM's client tools are installed; with the controller stopped that call waits ~9 s. Where this
    project's local SLURM (cluster/local-slurm.sh) is installed but stopped, run it for the session
    so the suite's many snakemake calls do not each wait."""
    ours = SLURM_CONF.exists() and "synscale" in SLURM_CONF.read_text().splitlines()[0]
    if shutil.which("sinfo") is None or os.geteuid() != 0 or not ours or _slurmctld_answers():
        yield
        return
    up = subprocess.run([str(LOCAL_SLURM), "up"], capture_output=True, text=True, timeout=600)
    yield
    if up.returncode == 0:
        subprocess.run([str(LOCAL_SLURM), "down"], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def embedded_cfg():
    from synscale import config as C

    return C.validate(C.load_yaml(ROOT / "config" / "config.yaml"))


@pytest.fixture(scope="session")
def tiny_cfg():
    from synscale import config as C

    return C.validate(C.load_yaml(TINY))


# --------------------------------------------------------------------------- shared, built once a session


@pytest.fixture(scope="session")
def paperlike_inputs(tmp_path_factory) -> tuple[Path, dict, float]:
    """The paper-shaped miniature inputs (support.assets.paperlike_assets with its defaults: 4
    classes, 32 px), written once for the session: (directory, the paths it returned, seconds it
    took). Shared by unit/test_assets.py and the paper-shaped config of the workflow tests; treat
    the files as read-only and copy the dict before changing it."""
    from support.assets import paperlike_assets

    d = tmp_path_factory.mktemp("paperlike-inputs")
    t0 = time.time()
    paths = paperlike_assets(d)
    return d, paths, time.time() - t0


@pytest.fixture(scope="session")
def paperlike_config(paperlike_inputs) -> Path:
    """tests/configs/paperlike.yaml pointed at the session's paper-shaped inputs."""
    from support.assets import write_paperlike_config

    d, paths, _ = paperlike_inputs
    return write_paperlike_config(d, d / "paperlike.yaml", paths)


@pytest.fixture(scope="session")
def ownfiles_config(paperlike_inputs, tmp_path_factory) -> Path:
    """tests/configs/ownfiles.yaml pointed at a researcher's own files written for the session
    (support.assets_ownfiles: class-sorted shards of unequal sizes, a reference trained with
    ImageNet's normalisation, a GTSRB-layout probe)."""
    from support.assets_ownfiles import write_ownfiles_config

    d = tmp_path_factory.mktemp("ownfiles-inputs")
    return write_ownfiles_config(d, d / "ownfiles.yaml", paperlike_inputs[1]["sd"])


def pytest_collection_modifyitems(session, config, items):
    """The cluster tests last: they install and start the local SLURM and stop it when done, and
    every snakemake call after that (with SLURM installed but stopped) would wait on it."""
    items.sort(key=lambda item: item.get_closest_marker("cluster") is not None)
