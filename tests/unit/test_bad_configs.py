"""The bad-configuration corpus: every file in tests/unit/bad_configs/ is one configuration the
workflow must refuse, with the message it must give.

A case file starts with comment lines:

* ``# expect: <regex>``: found in the message (one or more lines);
* ``# names: <key>``: the config key the message names, quoted as messages quote it
  (``'runs[0].scales'``); a raw case names its own file instead;
* ``# raw: true``: the file itself is the config file (a YAML syntax error, a repeated key);
* ``# snakemake: true``: also refused by ``snakemake -n``, before any job (slow).

The body of any other case patches a shipped configuration: ``base`` (tiny: tests/configs/tiny.yaml,
config: config/config.yaml, paper: config/paper.yaml), then ``copy`` {to: from}, ``set`` {key: value},
``append`` {list key: an item, or a list of items} and ``delete`` [keys], in that order; keys are
written as the messages write them (``runs[0].scales``, ``models.sd.guidance_range[1]``).
"""
from __future__ import annotations

import copy
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.repo import ROOT, SNAKEMAKE, TINY, repo_env, smk

from synscale import config as C

CASES = Path(__file__).resolve().parent / "bad_configs"
BASES = {"tiny": TINY, "config": ROOT / "config" / "config.yaml", "paper": ROOT / "config" / "paper.yaml"}
FILES = sorted(CASES.glob("*.yaml"))


def _headers(path: Path) -> dict:
    out: dict = {"expect": []}
    for line in path.read_text().splitlines():
        m = re.match(r"# (expect|names|raw|snakemake): (.*)$", line)
        if m and m[1] == "expect":
            out["expect"].append(m[2])
        elif m:
            out[m[1]] = m[2].strip()
    return out


def _parts(key: str) -> list:
    return [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", key)]


def _parent(cfg: dict, key: str):
    *up, last = _parts(key)
    node = cfg
    for p in up:
        node = node[p] if isinstance(p, int) else node.setdefault(p, {})
    return node, last


def _get(cfg: dict, key: str):
    node, last = _parent(cfg, key)
    return node[last]


def patched(path: Path) -> dict:
    """The configuration a patch case describes."""
    spec = yaml.safe_load(path.read_text())
    cfg = C.load_yaml(BASES[spec["base"]])
    for dst, src in (spec.get("copy") or {}).items():
        node, last = _parent(cfg, dst)
        node[last] = copy.deepcopy(_get(cfg, src))
    for key, value in (spec.get("set") or {}).items():
        node, last = _parent(cfg, key)
        node[last] = value
    for key, items in (spec.get("append") or {}).items():
        _get(cfg, key).extend(items if isinstance(items, list) else [items])
    for key in spec.get("delete") or []:
        node, last = _parent(cfg, key)
        del node[last]
    return cfg


def refusal(path: Path) -> str:
    """The message a case is refused with, validated in-process as the workflow validates."""
    with pytest.raises(C.ConfigError) as e:
        if _headers(path).get("raw") == "true":
            C.validate(C.load_yaml(path), files=[path])
        else:
            C.validate(patched(path))
    return str(e.value)


def test_the_corpus_is_complete():
    assert len(FILES) >= 100  # README: "over a hundred refused configurations"
    for f in FILES:
        h = _headers(f)
        assert h["expect"], f"{f.name}: no '# expect:' line"
        assert h.get("names") or h.get("raw") == "true", f"{f.name}: no '# names:' line"
    # the cases: NaN / infinity, guidance .inf, 1e12, a tag beside seeds, unsorted CLIP
    # scales, recipes with one from_scale, a YAML syntax error, a model named real, allow_missing_paths
    for name in ("nan_classifier_lr", "inf_classifier_lr", "nan_reference_weight_decay", "inf_guidance",
                 "scale_1e12", "scale_1e12_as_yaml_text", "synthetic_scale_beyond_shard_names",
                 "classifier_tag_seed1_beside_seeds", "unsorted_clip_study_scales", "clip_recipes_same_from_scale",
                 "yaml_syntax_error", "model_named_real", "allow_missing_paths_yes"):
        assert (CASES / f"{name}.yaml").exists(), name


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_bad_config_is_refused_naming_its_key(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be created: no results directory, no job
    msg = refusal(path)
    h = _headers(path)
    for pattern in h["expect"]:
        assert re.search(pattern, msg), f"{path.name}: /{pattern}/ not in:\n{msg}"
    if h.get("raw") == "true":
        assert str(path) in msg, msg
    else:
        assert f"'{h['names']}'" in msg, msg
    assert list(tmp_path.iterdir()) == []


# raw cases that Snakemake's own loader refuses before the workflow starts, with its own words
# (README, Configuration: `python -m synscale.config FILE` names the line)
SNAKEMAKE_LOADER = re.compile(r"Config file (is not valid JSON or YAML"
                              r"|must be given as JSON or YAML with keys at top level)")


@pytest.mark.slow
def test_the_workflow_refuses_every_case_while_it_parses(tmp_path, monkeypatch):
    """Every case through the real Snakefile (Snakemake's API in-process, as ``snakemake -n``): refused
    with its message before a DAG exists; the working directory holds nothing but Snakemake's own
    ``.snakemake`` (no results directory, no job)."""
    from support.dag import on_dag

    monkeypatch.chdir(tmp_path)
    wrong = []
    for path in FILES:
        h = _headers(path)
        cfgfile = path if h.get("raw") == "true" else tmp_path / path.name
        if cfgfile != path:
            cfgfile.write_text(yaml.safe_dump(patched(path), sort_keys=False))
        wd = tmp_path / path.stem
        wd.mkdir()
        try:
            on_dag(cfgfile, wd, lambda dag: None)
            wrong.append(f"{path.name}: accepted")
            continue
        except Exception as e:  # the workflow's error as Snakemake raises it
            msg = str(e)
        if h.get("raw") == "true" and SNAKEMAKE_LOADER.search(msg):
            pass
        else:
            wrong += [f"{path.name}: /{p}/ not in {msg[:300]}" for p in h["expect"] if not re.search(p, msg)]
        made = sorted(p.name for p in wd.iterdir() if p.name != ".snakemake")
        if made:
            wrong.append(f"{path.name}: created {made}")
    assert not wrong, "\n".join(wrong)


SNAKEMAKE_CASES = [f for f in FILES if _headers(f).get("snakemake") == "true"]


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("path", SNAKEMAKE_CASES, ids=[f.stem for f in SNAKEMAKE_CASES])
def test_snakemake_refuses_before_any_job(path, tmp_path):
    """The workflow refuses the case while it parses: the message on its stderr, no job planned, no
    results directory."""
    h = _headers(path)
    if h.get("raw") == "true":
        cfgfile = path
    else:
        cfgfile = tmp_path / path.name
        cfgfile.write_text(yaml.safe_dump(patched(path)))
    wd = tmp_path / "wd"
    p = smk(wd, "-n", configfile=cfgfile, check=False, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out[-3000:]
    for pattern in h["expect"]:
        assert re.search(pattern, out), f"{path.name}: /{pattern}/ not in:\n{out[-3000:]}"
    assert "Job stats" not in out and "Building DAG" not in out
    assert not (wd / "results").exists()
    # the file and line that set the key
    if h.get("raw") != "true":
        assert re.search(rf"\(set in {re.escape(str(cfgfile))}, line \d+\)", out), out[-3000:]


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_syntax_error_in_the_default_config_names_its_line(tmp_path):
    """The embedded default (read by the Snakefile's configfile directive) is read by synscale
    first: a syntax error is named by file, line and column."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("seed: 0\ndata: {source: embedded_mnist\nruns: []\n")
    p = subprocess.run([*SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n"],
                       capture_output=True, text=True, env=repo_env(), timeout=300)
    assert p.returncode != 0
    assert "config/config.yaml, line 3, column 5: not valid YAML" in p.stdout + p.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_syntax_error_in_a_configfile(tmp_path):
    """Snakemake reads a --configfile before the workflow starts and stops with its own message,
    which names neither file nor line; `python -m synscale.config FILE` names both. No results."""
    bad = tmp_path / "broken.yaml"
    bad.write_text("seed: 0\ndata: {source: embedded_mnist\nruns: []\n")
    p = smk(tmp_path / "wd", "-n", configfile=bad, check=False, timeout=300)
    assert p.returncode != 0 and "not valid JSON or YAML" in p.stdout + p.stderr
    assert not (tmp_path / "wd" / "results").exists()
    q = subprocess.run([sys.executable, "-m", "synscale.config", str(bad)], capture_output=True, text=True,
                       env=repo_env(), timeout=120)
    assert q.returncode == 1 and f"{bad}, line 3, column 5: not valid YAML" in q.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_results_root_outside_the_project_is_printed(tmp_path):
    """results: ../../somewhere is allowed, and every dry run says where it writes: once, resolved."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["results"] = "../../somewhere"
    f = tmp_path / "outside.yaml"
    f.write_text(yaml.safe_dump(cfg))
    wd = tmp_path / "a" / "b"
    p = smk(wd, "-n", configfile=f, timeout=300)
    lines = [x for x in p.stderr.splitlines() if x.startswith("synscale: results root")]
    assert lines == [f"synscale: results root {tmp_path.resolve() / 'somewhere'} (config key 'results')"]
    assert not (tmp_path / "somewhere").exists()


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_missing_path_hint_works_when_pasted(tmp_path):
    """A missing local path stops the dry run with a command that previews the jobs: pasted, it runs."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["models"]["sd"]["path"] = str(tmp_path / "no such sd")
    f = tmp_path / "my config.yaml"
    f.write_text(yaml.safe_dump(cfg))
    p = smk(tmp_path / "wd", "-n", configfile=f, check=False, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "config key 'models.sd.path'" in out
    hint = re.search(r"\(to preview the jobs without them: (snakemake .*)\)$", out, re.M)[1]
    assert "--configfile" in hint and "allow_missing_paths=true" in hint
    argv = shlex.split(hint)
    q = subprocess.run([*SNAKEMAKE, *argv[1:]], capture_output=True, text=True, env=repo_env(), timeout=300,
                       cwd=tmp_path)
    assert q.returncode == 0, q.stderr[-3000:]
    assert "WARNING: config key 'models.sd.path'" in q.stderr and "Job stats" in q.stdout
