import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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
    from assets import paperlike_assets

    paths = paperlike_assets(assets_dir)
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
