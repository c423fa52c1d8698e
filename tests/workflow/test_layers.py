"""The package's architecture holds: import-linter's contracts (pyproject.toml) are kept (layers,
no step importing a step, no import circles), and no module outgrows the size a reader takes in."""
import subprocess
import sys
from pathlib import Path

import pytest
from support.repo import ROOT


@pytest.mark.subprocess
def test_import_contracts_are_kept():
    out = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_no_module_over_400_lines():
    big = {str(p.relative_to(ROOT)): n for p in (ROOT / "synscale").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 400}
    assert not big, f"modules over 400 lines: {big}"


def test_every_subpackage_says_what_it_owns():
    for init in (ROOT / "synscale").glob("*/__init__.py"):
        doc = init.read_text()
        assert doc.startswith('"""') and "import" in doc.split('"""')[1], f"{init}: no docstring with its imports"
