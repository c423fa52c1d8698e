import json

import pytest

from synscale.provenance import provenance, versions
from synscale.steps.common import read_output


def test_provenance_fields():
    p = provenance({"seed": 3, "a": 1}, seeds={"x": 5}, wall_time_s=1.23456)
    assert p["seeds"] == {"global": 3, "x": 5}
    assert len(p["config_hash"]) == 16 and p["wall_time_s"] == 1.235
    assert p["git_commit"] == "unknown" or len(p["git_commit"]) >= 40
    v = versions()
    assert {"python", "torch", "diffusers", "timm"} <= set(v)


def test_an_output_of_another_results_root_is_refused(tmp_path):
    """README: every JSON records its configuration's results root and a job refuses one written for
    another (two configurations never take each other's outputs)."""
    out = tmp_path / "eval.json"
    out.write_text(json.dumps({"val": {"loss": 1.0}, "provenance": {"results": "results/paper"}}))
    assert read_output(out, {"results": "results/paper"})["val"]["loss"] == 1.0
    with pytest.raises(ValueError, match=r"written for results root 'results/paper'.*config key 'results'.*--forcerun"):
        read_output(out, {"results": "results"})
    out.write_text(json.dumps({"val": {"loss": 1.0}}))  # no provenance: not taken either
    with pytest.raises(ValueError, match="written for results root None"):
        read_output(out, {"results": "results/paper"})
