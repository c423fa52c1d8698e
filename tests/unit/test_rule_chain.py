"""One name along each chain: rule ``R`` in ``workflow/rules/X.smk`` runs the script
``workflow/scripts/R.py``, which calls ``synscale.steps.X.R``. And the rules' own hygiene: no shell
command interpolates an unquoted value, no rule spells out a results path (workflow/rules/paths.smk
names every file), and the workflow is formatted with snakefmt.

The rules are read as text (no configuration, no Snakemake run)."""
import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "workflow" / "rules"
SCRIPTS = ROOT / "workflow" / "scripts"

RULE_RE = re.compile(r"^(?P<indent>[ \t]*)(?:rule|checkpoint)[ \t]+(?P<name>\w+)[ \t]*:", re.M)
DIRECTIVE_RE = re.compile(r"^[ \t]+(?P<name>\w+):[ \t]*(?P<rest>.*)$")


def _rules():
    """(file stem, rule name, rule body) of every rule in workflow/rules/*.smk: the body runs to the
    next line indented no deeper than the rule."""
    out = []
    for smk in sorted(RULES.glob("*.smk")):
        lines = smk.read_text().splitlines()
        for i, line in enumerate(lines):
            m = RULE_RE.match(line)
            if not m:
                continue
            indent = len(m["indent"].expandtabs())
            body = []
            for nxt in lines[i + 1 :]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt)
            out.append((smk.stem, m["name"], "\n".join(body)))
    return out


def _directive(body: str, name: str) -> str | None:
    """The source text of a rule directive (what follows ``name:`` up to the next directive)."""
    lines = body.splitlines()
    for i, line in enumerate(lines):
        m = DIRECTIVE_RE.match(line)
        if not m or m["name"] != name:
            continue
        indent = len(line) - len(line.lstrip())
        value = [m["rest"]]
        for nxt in lines[i + 1 :]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            value.append(nxt)
        return "\n".join(value).strip()
    return None


def _string_literal(text: str) -> str:
    """The value of a directive that is one string literal (concatenated pieces allowed)."""
    node = ast.parse(f"({text.rstrip(',')})", mode="eval").body
    assert isinstance(node, ast.Constant) and isinstance(node.value, str), f"not a string literal: {text!r}"
    return node.value


RULE_LIST = _rules()
RULE_IDS = [f"{stem}:{name}" for stem, name, _ in RULE_LIST]


def test_rules_found():
    names = [name for _, name, _ in RULE_LIST]
    assert len(names) >= 20 and len(set(names)) == len(names), names


@pytest.mark.parametrize("stem,rule,body", RULE_LIST, ids=RULE_IDS)
def test_rule_script_step_chain(stem, rule, body):
    script = _directive(body, "script")
    assert script is not None, f"rule {rule} ({stem}.smk) has no script: directive"
    assert _string_literal(script) == f"../scripts/{rule}.py", f"rule {rule}: script {script}"
    path = SCRIPTS / f"{rule}.py"
    assert path.is_file(), f"rule {rule}: {path} is missing"

    tree = ast.parse(path.read_text())
    imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.module == "synscale.steps" for a in n.names}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id == "run"]
    assert len(calls) == 1, f"{path.name}: expected one run(snakemake, ...) call"
    step = calls[0].args[1]
    assert isinstance(step, ast.Attribute) and isinstance(step.value, ast.Name), ast.dump(step)
    assert step.value.id == stem and stem in imported, f"{path.name}: calls {step.value.id}.{step.attr}, " \
        f"expected synscale.steps.{stem}.{rule}"
    assert step.attr == rule, f"{path.name}: calls {stem}.{step.attr}, expected {stem}.{rule}"

    module = importlib.import_module(f"synscale.steps.{stem}")
    assert callable(getattr(module, rule, None)), f"synscale.steps.{stem} has no function {rule}"


def test_every_script_belongs_to_a_rule():
    rules = {name for _, name, _ in RULE_LIST}
    orphans = sorted(p.stem for p in SCRIPTS.glob("*.py") if p.stem not in rules)
    assert not orphans, f"scripts no rule runs: {orphans}"


def test_snakefile_includes_every_rules_file():
    snakefile = (ROOT / "Snakefile").read_text()
    included = set(re.findall(r'^include:\s*"workflow/rules/(\w+)\.smk"', snakefile, re.M))
    assert included == {p.stem for p in RULES.glob("*.smk")}


@pytest.mark.parametrize("stem,rule,body", RULE_LIST, ids=RULE_IDS)
def test_no_unquoted_shell_interpolation(stem, rule, body):
    shell = _directive(body, "shell")
    if shell is None:
        return
    command = _string_literal(shell)
    fields = re.findall(r"(?<!\{)\{([^{}]*)\}(?!\})", command)
    unquoted = [f for f in fields if not f.endswith(":q")]
    assert not unquoted, f"rule {rule}: shell interpolates {unquoted} unquoted; write {{x:q}}"


@pytest.mark.parametrize("stem,rule,body", RULE_LIST, ids=RULE_IDS)
def test_no_inline_results_path(stem, rule, body):
    assert not re.search(r"\{RES\}|\bRES\s*\+", body), f"rule {rule}: a results path spelled out " \
        "in the rule; name it with a function of workflow/rules/paths.smk"


@pytest.mark.subprocess
def test_snakefmt_check():
    p = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "."], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
