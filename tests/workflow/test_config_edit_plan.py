"""Fast form of README's "Editing the configuration re-runs exactly what the edit invalidates": the
tiny config's DAG is built (no job runs) before and after each edit, and the jobs whose params
differ, with everything downstream of them, must be exactly the table in support/edits.py — the
table the slow test checks against Snakemake's dry run on a built workspace."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from support.dag import on_dag
from support.edits import EDITS, FULL_BUILD, set_key
from support.repo import TINY

pytestmark = pytest.mark.subprocess


def _dag(configfile: Path, workdir: Path) -> dict:
    """{(rule, outputs): (params, the keys of the jobs it reads from)} of the default target's DAG."""

    def key(job):
        return job.rule.name, tuple(sorted(map(str, job.output)))

    return on_dag(configfile, workdir, lambda dag: {key(j): (repr(sorted(j.params.items())),
                                                               [key(d) for d in dag.dependencies[j]])
                                                     for j in dag.jobs})


def _reruns(before: dict, after: dict) -> Counter:
    """Snakemake's params trigger on a workspace built with ``before``: the jobs of ``after``
    whose params changed (or that are new), and every job downstream of one."""
    changed = [k for k, (params, _) in after.items() if k not in before or before[k][0] != params]
    readers: dict = {}
    for k, (_, deps) in after.items():
        for d in deps:
            readers.setdefault(d, []).append(k)
    seen, todo = set(changed), list(changed)
    while todo:
        for r in readers.get(todo.pop(), []):
            if r not in seen:
                seen.add(r)
                todo.append(r)
    return Counter(rule for rule, _ in seen)


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    wd = tmp_path_factory.mktemp("edits")
    base = _dag(TINY, wd)
    out = {}
    for key, value, _ in EDITS:
        cfg = yaml.safe_load(TINY.read_text())
        set_key(cfg, key, value)
        edited = wd / f"{key}.yaml"
        edited.write_text(yaml.safe_dump(cfg))
        out[key] = _reruns(base, _dag(edited, wd))
    return base, out


def test_the_tiny_dag_is_the_full_build(plans):
    base, _ = plans
    assert Counter(rule for rule, _ in base) == FULL_BUILD


@pytest.mark.parametrize("key,value,expected", EDITS, ids=[e[0] for e in EDITS])
def test_config_edit_plans_exactly_what_it_invalidates(plans, key, value, expected):
    assert dict(plans[1][key]) == expected


def test_the_ledger_reads_every_heavy_rules_record(plans):
    """Rule ledger's table (its params): every rule with a benchmark file, and the JSON record it
    joins, the tiny model's training record inside its model directory included."""
    import ast
    import re

    base, _ = plans
    [params] = [params for (rule, _), (params, _) in base.items() if rule == "ledger"]
    table = ast.literal_eval(re.search(r"\('rules', (\{.*?\}\})\)", params).group(1))
    assert re.search(r"/\{model[^}]*\}/synscale_training\.json$", table["train_t2i"]["record"]), table["train_t2i"]
    for rule in ("train_classifier", "train_clip", "generate_shard", "generate_testset", "evaluate", "evaluate_clip",
                 "quality", "per_class_fid"):
        assert table[rule]["record"].endswith(".json"), (rule, table[rule])


def test_two_configurations_write_every_file_under_their_own_results_root(tmp_path):
    """Outputs, logs and benchmark files of every job lie under the configuration's results root, so
    two configurations in one project never write the same file (logs included)."""
    files = {}
    for root in ("results/a", "results/b"):
        cfg = yaml.safe_load(TINY.read_text())
        cfg["results"] = root
        f = tmp_path / f"{root.replace('/', '_')}.yaml"
        f.write_text(yaml.safe_dump(cfg))
        files[root] = on_dag(f, tmp_path, lambda dag: {
            (j.rule.name, kind, str(x)) for j in dag.jobs if j.rule.name != "all"
            for kind, xs in (("output", j.output), ("log", j.log), ("benchmark", [j.benchmark] if j.benchmark else []))
            for x in xs})
    for root, fs in files.items():
        outside = sorted(x for x in fs if not x[2].startswith(root + "/"))
        assert not outside, (root, outside[:5])
        kinds = {k for _, k, _ in fs}
        assert kinds == {"output", "log", "benchmark"}, kinds
        assert any(r == "generate_shard" and k == "log" for r, k, _ in fs)
    assert not {x for _, _, x in files["results/a"]} & {x for _, _, x in files["results/b"]}
