from synscale.provenance import provenance, versions


def test_provenance_fields():
    p = provenance({"seed": 3, "a": 1}, seeds={"x": 5}, wall_time_s=1.23456)
    assert p["seeds"] == {"global": 3, "x": 5}
    assert len(p["config_hash"]) == 16 and p["wall_time_s"] == 1.235
    assert p["git_commit"] == "unknown" or len(p["git_commit"]) >= 40
    v = versions()
    assert {"python", "torch", "diffusers", "timm"} <= set(v)
