import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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

    return C.validate(C.load_yaml(ROOT / "tests" / "configs" / "tiny.yaml"))


PAPERLIKE = ROOT / "tests" / "configs" / "paperlike.yaml"


def write_paperlike_config(assets_dir: Path, out: Path) -> Path:
    """Write the paper-shaped miniature inputs (tests/assets.py) into ``assets_dir`` and the
    paper-shaped test config pointing at them into ``out``."""
    from assets import caption_dataset_assets, paperlike_assets
    from assets_quality import save_dtd_like, save_random_inception, save_random_squeezenet

    paths = paperlike_assets(assets_dir)
    paths["inception"] = save_random_inception(assets_dir / "models" / "pt_inception-2015-12-05.pth")
    paths["squeezenet"] = save_random_squeezenet(assets_dir / "models" / "squeezenet1_1.pth")
    paths["dtd"] = save_dtd_like(assets_dir / "probes" / "dtd")
    paths["laion"] = caption_dataset_assets(assets_dir / "laion")
    paths["paper_table"] = Path(__file__).resolve().parent.parent / "data" / "paper_grid_1p3M.csv"
    text = PAPERLIKE.read_text()
    for name, path in paths.items():
        text = text.replace(f"@{name}@", str(path))
    assert "\"@" not in text, "unreplaced placeholder in paperlike.yaml"
    out.write_text(text)
    return out


@pytest.fixture(scope="session")
def paperlike_config(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("paperlike-inputs")
    return write_paperlike_config(d, d / "paperlike.yaml")


def pytest_collection_modifyitems(session, config, items):
    """The cluster tests last: they install and start the local SLURM and stop it when done, and
    every snakemake call after that (with SLURM installed but stopped) would wait on it."""
    items.sort(key=lambda item: item.get_closest_marker("cluster") is not None)
