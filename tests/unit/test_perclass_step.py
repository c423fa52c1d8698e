"""The step of rule analysis (synscale.steps.analysis) on files as the workflow writes them: the JSON
with provenance, Fig. 6, the per-class curves, the sample images read from the run's shard (its
manifest checked), Table A9."""
import json

import numpy as np
import pytest

from synscale.data.integrity import IntegrityError
from synscale.data.shards import Sample, write_manifest, write_shard
from synscale.steps.analysis import analyze_run

N = 4
K = [0.05, 0.5, 0.9, 0.95]
PERF = [0.2, 0.8, 2.0, 0.5]   # class 2: high k, strongest at D_I -> easy; class 3: high k, weaker -> scaling


def _write(path, data, results):
    path.write_text(json.dumps({**data, "provenance": {"results": results}}))
    return str(path)


@pytest.fixture
def job(tmp_path):
    res = str(tmp_path / "res")
    cfg = {"results": res, "data": {"image_size": 8, "channels": 1},
           "analysis": {"groups": {"k_quantile": 0.5, "low_k_quantile": 0.5, "performance_quantiles": [0.5, 0.5]},
                        "colour_scale": None, "examples": {"classes": None, "per_group": 1},
                        "samples": {"per_class": 2, "shards": 1}, "list_size": 40}}
    fit = _write(tmp_path / "fit.json", {"run": "sd_cfg2_incap", "reference_scale_D_I": 200, "per_class": [
        {"class_index": c, "k": K[c], "neg_log_L_at_DI": PERF[c]} for c in range(N)]}, res)
    evals = [_write(tmp_path / f"e{s}.json", {"run": "sd_cfg2_incap", "scale": s, "val": {
        "per_class_loss": [2.0 - s / 400 + c / 10 for c in range(N)], "per_class_top1": [0.5] * N}}, res)
        for s in (100, 200, 400)]
    quality = _write(tmp_path / "q.json", {"per_class_recognizability": [0.1, 0.5, 0.9, 0.8],
                                           "per_class_diversity": [0.3, 0.2, 0.1, 0.2]}, res)
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps(["zero", "one", "two", "three"]))
    shard = tmp_path / "shard-00000.tar"
    write_shard(shard, [Sample(f"k{i:03d}", np.full((8, 8, 1), 20 * i, np.uint8), i % N) for i in range(12)])
    manifest = tmp_path / "shard-00000.json"
    write_manifest(shard, manifest)
    out = {k: str(tmp_path / "out" / f"a.{k}") for k in ("json", "png", "curves", "samples", "table")}
    return cfg, fit, evals, quality, str(classes), [str(shard)], out, [str(manifest)]


def test_the_analysis_job_writes_every_item(job):
    cfg, fit, evals, quality, classes, shards, out, manifests = job
    res = analyze_run(cfg, fit, evals, quality, classes, shards, out, manifests=manifests)
    a = json.loads(open(out["json"]).read())
    assert a["provenance"]["results"] == cfg["results"]
    # k median 0.7: classes 2, 3 high; performance median 0.65: class 2 strong, class 0 low
    assert [c["group"] for c in a["classes"]] == ["poor", "other", "easy", "scaling"]
    assert a["examples"]["names"] == ["zero", "two", "three"]
    assert a["samples"]["per_class"] == {"zero": 2, "two": 2, "three": 2}
    assert a["samples"]["shards"] == ["shard-00000.tar"]
    assert [r["name"] for r in a["table_a9"]] == ["zero", "one", "two", "three"]
    for k in ("png", "curves", "samples"):
        assert open(out[k], "rb").read(4) == b"\x89PNG"
    assert "Table A9" in open(out["table"]).read() and res["run"] == "sd_cfg2_incap"


def test_a_changed_shard_is_refused(job):
    cfg, fit, evals, quality, classes, shards, out, manifests = job
    with open(shards[0], "ab") as fh:
        fh.write(b"\0" * 512)
    with pytest.raises(IntegrityError, match="shard-00000.tar"):
        analyze_run(cfg, fit, evals, quality, classes, shards, out, manifests=manifests)
