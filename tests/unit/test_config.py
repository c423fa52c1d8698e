import copy
import math

import pytest
import yaml

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


# Bad configurations and their messages: the corpus tests/unit/bad_configs/ (test_bad_configs.py).


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


# --------------------------------------------------------------------------- numbers and names


def test_nan_and_infinity_are_refused_anywhere():
    cfg = {"seed": 0, "a": {"b": [1.0, float("nan")], "c": {"d": float("-inf")}}, "e": "nan"}
    assert C.nonfinite_errors(cfg) == [
        "config key 'a.b[1]': .nan (not a number) is not allowed anywhere in a configuration; give a finite number",
        "config key 'a.c.d': -.inf (infinity) is not allowed anywhere in a configuration; give a finite number"]


def test_nan_from_the_command_line_is_refused(embedded_cfg):
    # snakemake --config seed=nan reaches the config as float('nan')
    msg = _bad(embedded_cfg, lambda c: c.update(seed=math.nan))
    assert "config key 'seed': .nan" in msg


def test_one_rule_for_every_scale_list():
    assert C.scale_list_errors("k", [1, 2, 3]) == []
    assert C.scale_list_errors("clip.study.scales", [3, 1, 1]) == [
        "config key 'clip.study.scales': scales must be sorted ascending, got [3, 1, 1]; write [1, 3]",
        "config key 'clip.study.scales': duplicate scales [1]; list each scale once"]


def test_guidance_a_run_name_writes_exactly():
    from synscale.config.names import exact_guidance

    assert all(exact_guidance(g) for g in (0, 0.3, 1.25, 2, 7.5, 123456))
    assert not any(exact_guidance(g) for g in (1e-5, 2.0000001, 1234567))


def test_every_run_name_names_its_source(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg["runs"][0]["seeds"] = [0, 2]
    cfg["runs"].append({"model": "sd", "guidance": 2, "prompt": "incap", "scales": [100],
                        "classifier": {"tag": "w", "arch": "vit_tiny_patch16_224"}})
    named = [(key, r.name) for key, r in C.named_runs(C.validate(cfg))]
    assert named == [("runs[0]", "sd_cfg2_incap"), ("runs[0].seeds[1]", "sd_cfg2_incap-seed2"), ("runs[1]", "real"),
                     ("runs[2].classifier.tag", "sd_cfg2_incap-w")]
    assert list(C.runs(C.validate(cfg))) == [n for _, n in named]


def test_the_shard_names_bound_a_scale(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg["runs"][0]["scales"] = [100, 200, 100 * C.MAX_INDEX]  # shards 00000 .. 99999: fits
    C.validate(cfg)
    cfg["runs"][0]["scales"][-1] += 1
    with pytest.raises(C.ConfigError, match=r"runs\[0\]\.scales': scale 10000001 needs 100001 shards"):
        C.validate(cfg)


# --------------------------------------------------------------------------- messages: files, lines, words


def test_a_message_names_the_file_and_line_that_set_its_key(tmp_path, root):
    text = (root / "tests" / "configs" / "tiny.yaml").read_text()
    bad = tmp_path / "mine.yaml"
    bad.write_text(text.replace("  lr: 0.002\n  mixup: 0.2", "  lr: .nan\n  mixup: 0.2"))
    line = bad.read_text().splitlines().index("  lr: .nan") + 1
    with pytest.raises(C.ConfigError) as e:
        C.validate(C.load_yaml(bad), files=[bad])
    assert f"config key 'classifier.lr': .nan (not a number) is not allowed anywhere in a configuration; give a " \
           f"finite number (set in {bad}, line {line})" in str(e.value)
    # a top-level key given by --config is not looked up in the files
    with pytest.raises(C.ConfigError) as e:
        C.validate({**C.load_yaml(bad), "classifier": {}}, files=[bad], cli_keys=["classifier"])
    assert "set in" not in str(e.value)


def test_the_later_config_file_is_the_one_named(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("seed: 0\nfit:\n  range: [1, 2]\n")
    b.write_text("# override\nfit:\n  min_points: 3\n  range: [5, 1]\n")
    assert C.locate("fit.range", [a, b]) == f"{b}, line 4"
    assert C.locate("fit.range[1]", [a, b]) == f"{b}, line 4"
    assert C.locate("seed", [a, b]) == f"{a}, line 1"
    assert C.locate("runs[0]", [a, b]) is None


def test_python_m_synscale_config_checks_files(tmp_path, root, capsys):
    from synscale.config.__main__ import main

    assert main([str(root / "tests" / "configs" / "tiny.yaml")]) == 0
    assert "valid: " in capsys.readouterr().out
    bad = tmp_path / "broken.yaml"
    bad.write_text("seed: 0\nruns: [{model: real\n")
    assert main([str(bad)]) == 1
    assert f"{bad}, line 3, column 1: not valid YAML" in capsys.readouterr().err
    # later files override earlier ones, as --configfile does
    over = tmp_path / "over.yaml"
    over.write_text("classifier:\n  lr: .inf\n")
    assert main([str(root / "tests" / "configs" / "tiny.yaml"), str(over)]) == 1
    assert "config key 'classifier.lr': .inf (infinity)" in capsys.readouterr().err


# --------------------------------------------------------------------------- allow_missing_paths, results root


@pytest.mark.parametrize("value,expected", [(True, True), ("true", True), ("True", True), ("TRUE", True),
                                            ("false", False), (False, False)])
def test_allow_missing_paths_takes_true_as_typed(tiny_cfg, value, expected):
    # snakemake --config allow_missing_paths=true passes the string 'true'
    assert C.validate({**tiny_cfg, "allow_missing_paths": value})["allow_missing_paths"] is expected


def test_the_preview_command_works_when_pasted(tmp_path, root):
    snakefile = root / "Snakefile"
    assert C.preview_command([root / "config" / "paper.yaml"], snakefile, cwd=root) == \
        "snakemake -n --configfile config/paper.yaml --config allow_missing_paths=true"
    odd = tmp_path / "my configs" / "it's.yaml"
    cmd = C.preview_command([odd], snakefile, cwd=tmp_path)
    assert cmd == (f"snakemake -n --snakefile {snakefile} --directory {tmp_path} --configfile "
                   f"'{tmp_path}/my configs/it'\"'\"'s.yaml' --config allow_missing_paths=true")
    import shlex

    assert shlex.split(cmd)[-4:] == ["--configfile", str(odd), "--config", "allow_missing_paths=true"]


def test_results_root_is_resolved(tmp_path, monkeypatch):
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert C.results_root({"results": "../../somewhere"}) == str(tmp_path.resolve() / "somewhere")
    assert C.results_root({"results": "/abs/res"}) == "/abs/res"


def test_schema_scales_share_one_definition(root):
    schema = yaml.safe_load((root / "config" / "schema.yaml").read_text())
    assert schema["$defs"]["scale"]["maximum"] == C.MAX_SCALE
    props, clip = schema["properties"], schema["properties"]["clip"]["properties"]
    for sub in (props["runs"]["items"]["properties"]["scales"], clip["study"]["properties"]["scales"],
                clip["recipe_study"]["properties"]["scales"]):
        assert sub["$ref"] == "#/$defs/scales"
