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
