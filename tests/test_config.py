import copy
import math

import pytest

from synscale import config as C


def _bad(cfg, mutate):
    c = copy.deepcopy(cfg)
    mutate(c)
    with pytest.raises(C.ConfigError) as e:
        C.validate(c)
    return str(e.value)


def test_shipped_configs_are_valid(embedded_cfg, root):
    paper = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    assert len(C.runs(paper)) == 53  # 52 grid configs + real
    assert "sd_cfg2_incap" in C.runs(embedded_cfg) and "real" in C.runs(embedded_cfg)


def test_paper_grid_matches_the_paper_table(root):
    import csv

    paper = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    runs = C.runs(paper)
    rows = list(csv.DictReader(open(root / "data" / "paper_grid_1p3M.csv")))
    assert len(rows) == 52
    for r in rows:
        name = C.config_name(r["model"], float(r["cfg"]), r["prompt"])
        assert 1_300_000 in runs[name].scales, name
    assert max(runs["sd_cfg2_incap"].scales) == 64_000_000
    assert max(runs["imagen_cfg1.5_incap"].scales) == 8_000_000
    assert max(runs["muse_cfg0.3_incap"].scales) == 8_000_000
    assert max(runs["real"].scales) <= 1_300_000


BAD_CASES = [
    ("unknown model", lambda c: c["runs"].append({"model": "dalle", "cfg": 2, "prompt": "incap", "scales": [250]}),
     r"runs\[2\]\.model.*unknown model 'dalle'"),
    ("unknown prompt", lambda c: c["runs"][0].update(prompt="poetry"), r"runs\[0\]\.prompt.*unknown prompt set 'poetry'"),
    ("prompt unsupported by data", lambda c: c["runs"][0].update(prompt="word2sen"),
     r"runs\[0\]\.prompt.*'word2sen' is not available for data.source='embedded_mnist'"),
    ("cfg out of range", lambda c: c["runs"][0].update(cfg=12), r"runs\[0\]\.cfg.*CFG 12 is outside the range \[1, 10\]"),
    ("unsorted scales", lambda c: c["runs"][0].update(scales=[500, 250]), r"runs\[0\]\.scales.*sorted"),
    ("duplicate scales", lambda c: c["runs"][0].update(scales=[250, 250, 500]), r"runs\[0\]\.scales.*duplicate scales \[250\]"),
    ("zero shard size", lambda c: c["generation"].update(shard_size=0), r"generation\.shard_size"),
    ("negative shard size", lambda c: c["generation"].update(shard_size=-5), r"generation\.shard_size"),
    ("unknown top-level key", lambda c: c.update(sclaes=[1]), r"sclaes"),
    ("missing section", lambda c: c.pop("classifier"), r"'classifier' is a required property"),
    ("bad data source", lambda c: c["data"].update(source="imagenet"), r"data\.source"),
    ("scale not an integer", lambda c: c["runs"][0].update(scales=[250, "1k"]), r"runs\.0\.scales\.1|runs\[0\]\.scales\[1\]"),
    ("real beyond train split", lambda c: c["runs"][1].update(scales=[250, 8000]), r"exceed the train split"),
    ("duplicate run", lambda c: c["runs"].append(dict(c["runs"][0])), r"listed twice"),
    ("missing cfg", lambda c: c["runs"][0].pop("cfg"), r"runs\[0\]\.cfg.*required"),
    ("inverted fit range", lambda c: c["fit"].update(range=[8000, 250]), r"fit\.range"),
    ("bad cfg_range", lambda c: c["models"]["sd"].update(cfg_range=[1]), r"models\.sd\.cfg_range"),
    ("model named real", lambda c: c["models"].update(real=dict(c["models"]["sd"])), r"models"),
    ("no weights nor training", lambda c: c["models"]["sd"].pop("train"), r"models\.sd.*'path'.*'train'"),
]


@pytest.mark.parametrize("name,mutate,pattern", BAD_CASES, ids=[b[0] for b in BAD_CASES])
def test_bad_config(embedded_cfg, name, mutate, pattern):
    msg = _bad(embedded_cfg, mutate)
    assert __import__("re").search(pattern, msg), msg


def test_webdataset_requires_paths(embedded_cfg):
    def m(c):
        c["data"]["source"] = "webdataset"
    msg = _bad(embedded_cfg, m)
    assert "data.train_shards" in msg and "models.sd.path" in msg


def test_names_roundtrip():
    assert C.config_name("sd", 2.0, "incap") == "sd_cfg2_incap"
    assert C.config_name("sd", 7.5, "clip80") == "sd_cfg7.5_clip80"
    assert C.parse_name("muse_cfg0.3_classname_hyper_places") == ("muse", 0.3, "classname_hyper_places")
    assert C.parse_name("real") == ("real", None, None)
    with pytest.raises(C.ConfigError):
        C.parse_name("sd-2-incap")


def test_shard_count_and_nesting():
    assert C.shard_count(250, 500) == 1
    assert C.shard_count(8000, 500) == 16
    assert C.shard_count(64_000_000, 100_000) == 640
    with pytest.raises(C.ConfigError):
        C.shard_count(10, 0)


def test_paper_iteration_schedule(root):
    paper = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    s = paper["classifier"]["schedule"]
    assert C.iterations(1_000_000, s) == (95_000, 10_000)
    assert C.iterations(2_000_000, s) == (190_000, 20_000)
    assert C.iterations(4_000_000, s) == (285_000, 30_000)
    it, warm = C.iterations(125_000, s)
    assert it == 30_000 and 0 < warm < it


def test_iterations_linear_in_log_scale(embedded_cfg):
    s = embedded_cfg["classifier"]["schedule"]
    its = [C.iterations(d, s)[0] for d in (250, 500, 1000, 2000)]
    diffs = {b - a for a, b in zip(its, its[1:])}
    assert len(diffs) == 1 and diffs.pop() > 0


def test_config_hash_changes():
    a = {"x": 1, "y": [1, 2]}
    assert C.config_hash(a) == C.config_hash({"y": [1, 2], "x": 1})
    assert C.config_hash(a) != C.config_hash({"x": 2, "y": [1, 2]})


def test_seed_for_is_stable():
    assert C.seed_for(0, "sd_cfg2_incap", 3) == C.seed_for(0, "sd_cfg2_incap", 3)
    assert C.seed_for(0, "sd_cfg2_incap", 3) != C.seed_for(0, "sd_cfg2_incap", 4)
    assert 0 <= C.seed_for("x") < 2**63
