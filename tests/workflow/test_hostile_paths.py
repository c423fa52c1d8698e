"""Paths are data, never code: a results root and a weights path holding spaces, quotes, non-ASCII
letters and ``$(...)`` run through the rules that read and link external weights, and nothing they
spell is executed."""
import json
import os

import pytest
import yaml
from support.assets import save_reference_state_dict
from support.repo import TINY, smk

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

HOSTILE = "a dir 'q' \"dq\" ü $(touch PWNED) `touch PWNED2`"


def test_hostile_results_root_and_weights_path(tmp_path):
    wd = tmp_path / "ws"
    wd.mkdir()
    weights = save_reference_state_dict(tmp_path / HOSTILE / "ref$(touch PWNED3).pt", "resnet10t", num_classes=10,
                                        in_chans=1)
    cfg = yaml.safe_load(TINY.read_text())
    cfg["results"] = f"res {HOSTILE}"
    cfg["reference_classifier"].update({"path": str(weights), "min_val_top1": 0.0,
                                        "normalization": {"mean": [0.5], "std": [0.5]}})
    cfgfile = tmp_path / "hostile.yaml"
    cfgfile.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    target = f"{cfg['results']}/reference/metrics.json"
    smk(wd, target, configfile=cfgfile, timeout=600)
    res = wd / cfg["results"]
    link = res / "reference" / "model.pt"
    assert link.is_symlink() and os.path.realpath(link) == os.path.realpath(weights)
    m = json.loads((res / "reference" / "metrics.json").read_text())
    assert 0 <= m["val_top1"] <= 1 and m["provenance"]["results"] == cfg["results"]
    planted = [p for p in (wd, tmp_path, tmp_path / HOSTILE, res, res / "reference")
               for name in ("PWNED", "PWNED2", "PWNED3") if (p / name).exists()]
    assert not planted, planted
    # the dry run of the whole default target plans every rule under this root too
    out = smk(wd, "-n", configfile=cfgfile).stdout
    assert "train_classifier" in out and not list(wd.rglob("PWNED*")) and not list(tmp_path.glob("PWNED*"))
