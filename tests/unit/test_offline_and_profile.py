"""README claims that live in how the code is written rather than in a result: nothing is fetched
from a model hub (every ``from_pretrained`` in the package reads local files only), the
configuration is read with a safe YAML loader (a Python tag in a config does not execute), and the
SLURM profile gives the checkpointing training jobs their warning signal and SLURM's requeue."""
import ast
from pathlib import Path

import pytest
import yaml
from support.repo import ROOT

from synscale import config as C


def _from_pretrained_calls():
    for path in sorted((ROOT / "synscale").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "from_pretrained":
                yield path.relative_to(ROOT), node


def test_every_from_pretrained_in_the_package_reads_local_files_only():
    calls = list(_from_pretrained_calls())
    assert len(calls) >= 8  # the T2I samplers, the tiny models' text encoders, captioner, word2sen
    hub = []
    for path, node in calls:
        kw = {k.arg: k.value for k in node.keywords}
        flag = kw.get("local_files_only")
        if not (isinstance(flag, ast.Constant) and flag.value is True):
            hub.append(f"{path}:{node.lineno}")
    assert not hub, f"from_pretrained without local_files_only=True (may reach a model hub): {hub}"


def test_a_python_tag_in_a_config_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(Exception) as err:
        C.load_yaml(bad)
    assert "python/object/apply" in str(err.value) and str(bad) in str(err.value)
    assert not marker.exists()


PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
# the rules whose jobs stop on a signal with a resume checkpoint (README: "Time limits and preemption")
CHECKPOINTING = ("train_classifier", "train_clip", "train_clip_recipe", "train_t2i")


def test_the_slurm_profile_warns_checkpointing_jobs_and_requeues():
    prof = yaml.safe_load(PROFILE.read_text())
    assert prof["executor"] == "slurm" and prof["slurm-requeue"] is True
    assert prof["retries"] >= 1 and prof["rerun-incomplete"] is True and prof["jobs"] == 100
    for rule in CHECKPOINTING:
        assert "--signal=USR1@600" in prof["set-resources"][rule]["slurm_extra"], rule
    # every checkpointing rule exists in the workflow (a renamed rule would silently lose its signal)
    rules = "".join(p.read_text() for p in Path(ROOT / "workflow" / "rules").glob("*.smk"))
    for rule in CHECKPOINTING:
        assert f"rule {rule}:" in rules, rule
