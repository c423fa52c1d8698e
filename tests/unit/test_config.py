import copy

import pytest

from synscale import config as C
from synscale.provenance import config_hash
from synscale.seeds import seed_for


def _bad(cfg, mutate):
    c = copy.deepcopy(cfg)
    mutate(c)
    with pytest.raises(C.ConfigError) as e:
        C.validate(c)
    return str(e.value)


def test_shipped_configs_are_valid(embedded_cfg, root):
    paper = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    assert len(C.runs(paper)) == 55  # the grid's 52 configs, two ViT-L/16 runs, real
    assert paper["results"] == "results/paper" and embedded_cfg["results"] == "results"
    assert "sd_cfg2_incap" in C.runs(embedded_cfg) and "real" in C.runs(embedded_cfg)


def test_paper_grid_matches_the_paper_table(root):
    import csv

    paper = C.validate(C.load_yaml(root / "config" / "paper.yaml"))
    runs = C.runs(paper)
    rows = list(csv.DictReader(open(root / "data" / "paper_grid_1p3M.csv")))
    assert len(rows) == 52
    for r in rows:
        name = C.run_name(r["model"], float(r["cfg"]), r["prompt"])
        assert 1_300_000 in runs[name].scales, name
    families = {m["family"] for m in paper["models"].values()}
    assert families == {"latent_diffusion", "pixel_cascade", "masked_token"}
    assert max(runs["sd_cfg2_incap"].scales) == 64_000_000
    assert max(runs["imagen_cfg1.5_incap"].scales) == max(runs["muse_cfg0.3_incap"].scales) == 8_000_000
    assert max(runs["imagen_cfg1.5_incap-vitl16"].scales) == 8_000_000
    assert max(runs["real"].scales) <= 1_300_000


def test_cascade_needs_its_second_stage(root):
    cfg = C.load_yaml(root / "config" / "paper.yaml")
    cfg["models"]["imagen"].pop("sr_path")
    with pytest.raises(C.ConfigError, match=r"config key 'models\.imagen\.sr_path': required for family pixel_cascade"):
        C.validate(cfg)


def test_validation_fills_schema_defaults(embedded_cfg):
    raw = C.load_yaml(C.SCHEMA_PATH.parent / "config.yaml")
    assert "eval_batch_size" not in raw["classifier"] and "resources" not in raw
    assert embedded_cfg["classifier"]["eval_batch_size"] == 512
    assert embedded_cfg["resources"]["mem_mb"] == 4000
    assert embedded_cfg["prompts"]["captioner"]["shards_per_job"] == 10
    assert embedded_cfg["models"]["sd"]["train"]["arch"]["layers_per_block"] == 1
    assert embedded_cfg["fit"]["range"] is None and embedded_cfg["data"]["ood"] == {}
    # what the file says wins over a default
    assert embedded_cfg["prompts"]["word2sen"]["path"] is None and embedded_cfg["threads"] == 1


def test_pick_returns_only_the_named_keys(embedded_cfg):
    s = C.pick(embedded_cfg, "seed", "data.image_size", "models.sd.steps")
    assert s == {"seed": 0, "data": {"image_size": 16}, "models": {"sd": {"steps": 10}}}
    s["models"]["sd"]["steps"] = 99
    assert embedded_cfg["models"]["sd"]["steps"] == 10  # a copy


BAD_CASES = [
    ("unknown model", lambda c: c["runs"].append({"model": "dalle", "guidance": 2, "prompt": "incap", "scales": [250]}),
     r"runs\[\d+\]\.model.*unknown model 'dalle'"),
    ("unknown prompt", lambda c: c["runs"][0].update(prompt="poetry"),
     r"runs\[0\]\.prompt.*unknown prompt set 'poetry'"),
    ("prompt unsupported by data", lambda c: c["runs"][0].update(prompt="word2sen"),
     r"runs\[0\]\.prompt.*'word2sen' is not available for data.source='embedded_mnist'"),
    ("guidance out of range", lambda c: c["runs"][0].update(guidance=12),
     r"runs\[0\]\.guidance.*guidance 12 is outside the range \[1, 10\]"),
    ("unsorted scales", lambda c: c["runs"][0].update(scales=[500, 250]), r"runs\[0\]\.scales.*sorted"),
    ("duplicate scales", lambda c: c["runs"][0].update(scales=[250, 250, 500]),
     r"runs\[0\]\.scales.*duplicate scales \[250\]"),
    ("zero shard size", lambda c: c["generation"].update(shard_size=0), r"generation\.shard_size"),
    ("negative shard size", lambda c: c["generation"].update(shard_size=-5), r"generation\.shard_size"),
    ("unknown top-level key", lambda c: c.update(sclaes=[1]), r"sclaes"),
    ("missing section", lambda c: c.pop("classifier"), r"'classifier' is a required property"),
    ("bad data source", lambda c: c["data"].update(source="imagenet"), r"data\.source"),
    ("scale not an integer", lambda c: c["runs"][0].update(scales=[250, "1k"]),
     r"runs\.0\.scales\.1|runs\[0\]\.scales\[1\]"),
    ("real beyond train split", lambda c: c["runs"][1].update(scales=[250, 8000]), r"exceed the train split"),
    ("duplicate run", lambda c: c["runs"].append(dict(c["runs"][0])), r"listed twice"),
    ("missing guidance", lambda c: c["runs"][0].pop("guidance"), r"runs\[0\]\.guidance.*required"),
    ("old key cfg", lambda c: c["runs"][0].update(cfg=2), r"runs\[0\].*'cfg' was unexpected"),
    ("real run with guidance", lambda c: c["runs"][1].update(guidance=2), r"runs\[1\]\.guidance.*real-data run"),
    ("inverted fit range", lambda c: c["fit"].update(range=[8000, 250]), r"fit\.range"),
    ("bad guidance_range", lambda c: c["models"]["sd"].update(guidance_range=[1]), r"models\.sd\.guidance_range"),
    ("reversed guidance_range", lambda c: c["models"]["sd"].update(guidance_range=[10, 1]),
     r"models\.sd\.guidance_range.*reversed; write it as \[1, 10\]"),
    ("train section of another family", lambda c: c["models"]["sd"].update(family="masked_token"),
     r"models\.sd\.train': 'vq_steps' is a required property"),
    ("unknown family", lambda c: c["models"]["sd"].update(family="gan"), r"models\.sd\.family"),
    ("sr_path outside the cascade", lambda c: c["models"]["sd"].update(sr_path="/x"),
     r"models\.sd\.sr_path.*only for family pixel_cascade"),
    ("unknown option", lambda c: c["classifier"].update(droput=0.1), r"classifier.*'droput' was unexpected"),
    ("augment as a boolean", lambda c: c["classifier"].update(augment=True), r"classifier\.augment"),
    ("RandAugment not in timm's syntax", lambda c: c["classifier"]["augment"].update(randaugment="ra2"),
     r"classifier\.augment"),
    ("global batch not divisible by the processes", lambda c: c["classifier"].update(gpus=3),
     r"classifier\.batch_size=128 must be divisible by the 3 processes"),
    ("run classifier without a tag", lambda c: c["runs"][0].update(classifier={"arch": "vit_tiny_patch16_224"}),
     r"runs\[0\]\.classifier.*'tag' is a required property"),
    ("run classifier arch not in timm", lambda c: c["runs"][0].update(classifier={"tag": "l", "arch": "vit_lrg"}),
     r"config key 'runs\[0\]\.classifier\.arch': timm has no model 'vit_lrg'"),
    ("empty results root", lambda c: c.update(results=""), r"config key 'results'"),
    ("train_size for webdataset", lambda c: c["data"].update(source="webdataset", train_shards="t-{0..1}.tar",
                                                              val_shards="v-{0..1}.tar", class_index="c.json"),
     r"data\.train_size.*only for data.source 'embedded_mnist'"),
    ("embedded without split sizes", lambda c: c["data"].pop("val_size"), r"data\.val_size.*required"),
    ("seed not an integer", lambda c: c.update(seed=1.0), r"config key 'seed': 1\.0 is not of type 'integer'"),
    ("scale 250.0", lambda c: c["runs"][0].update(scales=[250.0, 500]),
     r"runs\[0\]\.scales\[0\].*not of type 'integer'"),
    ("boolean as a number", lambda c: c["classifier"].update(lr=True), r"classifier\.lr.*not of type 'number'"),
    ("fewer fit points than min_points", lambda c: c["fit"].update(range=[250, 500], min_points=3),
     r"config key 'fit\.range'.*2 of its scales.*fit\.min_points is 3"),
    ("run fit range too narrow", lambda c: c["runs"][1].update(fit_range=[250, 499]),
     r"config key 'runs\[1\]\.fit_range'.*1 of its scales"),
    ("input size the classifier does not take", lambda c: c["classifier"].update(input_size=28),
     r"'classifier\.input_size' and 'classifier\.kwargs'.*28x28.*Input height \(28\)"),
    ("typo in classifier kwargs", lambda c: c["classifier"]["kwargs"].update(emb_dim=64),
     r"config key 'classifier\.kwargs'.*unexpected keyword argument 'emb_dim'"),
    ("classifier arch not in timm", lambda c: c["classifier"].update(arch="vit_tinny"),
     r"config key 'classifier\.arch': timm has no model 'vit_tinny'"),
    ("reference arch not in timm", lambda c: c["reference_classifier"].update(arch="resnet10tt"),
     r"config key 'reference_classifier\.arch': timm has no model 'resnet10tt'"),
    ("image size the tiny T2I cannot down-sample", lambda c: c["data"].update(image_size=18),
     r"config key 'data\.image_size': 18 px does not fit models\.sd\.train\.arch.*multiple of 4"),
    ("ood on embedded data", lambda c: c["data"].update(ood={"x": {"shards": "x-{0..1}.tar"}}), r"data\.ood.*only for"),
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
    assert C.run_name("sd", 2.0, "incap") == "sd_cfg2_incap"
    assert C.run_name("sd", 7.5, "clip80") == "sd_cfg7.5_clip80"
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
    assert config_hash(a) == config_hash({"y": [1, 2], "x": 1})
    assert config_hash(a) != config_hash({"x": 2, "y": [1, 2]})


def test_seed_for_is_stable():
    assert seed_for(0, "sd_cfg2_incap", 3) == seed_for(0, "sd_cfg2_incap", 3)
    assert seed_for(0, "sd_cfg2_incap", 3) != seed_for(0, "sd_cfg2_incap", 4)
    assert 0 <= seed_for("x") < 2**63


def test_repeated_yaml_key_is_refused(tmp_path, root):
    text = (root / "config" / "config.yaml").read_text()
    bad = tmp_path / "dup.yaml"
    bad.write_text(text + "\nseed: 3\n")
    with pytest.raises(C.ConfigError, match=r"key 'seed' appears twice.*keep one"):
        C.load_yaml(bad)
