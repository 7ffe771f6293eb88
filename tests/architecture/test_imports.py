"""The direction of imports: the layers of ``core`` (import-linter's contracts in
``pyproject.toml``), no ``core`` module importing Streamlit, and the front ends outside the
package (``app.py``, ``ui.py``, ``pages/``) reaching ``core`` only through its use cases."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys

from tests.support import REPO

LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def _lint(where) -> subprocess.CompletedProcess:
    """import-linter's contracts checked on the ``core`` package in the folder ``where``."""
    return subprocess.run([sys.executable, "-c", LINT], cwd=where, capture_output=True, text=True, timeout=300)


def test_the_contracts_hold():
    out = _lint(REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in out.stdout


def _copy(tmp_path):
    shutil.copytree(REPO / "core", tmp_path / "core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_a_wrong_way_import_breaks_the_layers(tmp_path):
    where = _copy(tmp_path)
    # a model that reaches up into the use cases: the layers contract names it
    (where / "core" / "models" / "planted.py").write_text("from core.actions import training  # noqa: F401\n")
    out = _lint(where)
    assert out.returncode == 1
    assert "core.models is not allowed to import core.actions" in out.stdout
    assert "core.models.planted -> core.actions.training" in out.stdout


def test_an_import_inside_a_function_is_checked_too(tmp_path):
    where = _copy(tmp_path)
    (where / "core" / "inputs" / "planted.py").write_text("def f():\n    from core.runs import store  # noqa: F401\n")
    out = _lint(where)
    assert out.returncode == 1 and "core.inputs is not allowed to import core.runs" in out.stdout


def test_the_spec_taking_its_categories_from_the_generator_again_is_refused(tmp_path):
    where = _copy(tmp_path)
    spec = where / "core" / "inputs" / "shopsphere_spec.py"
    spec.write_text(spec.read_text() + "\nfrom core.inputs.synthetic import shopsphere  # noqa: E402,F401\n")
    out = _lint(where)
    assert out.returncode == 1 and "core.inputs.shopsphere_spec is not allowed to import core.inputs.synthetic" \
        in out.stdout


def test_a_core_module_that_imports_streamlit_is_refused(tmp_path):
    where = _copy(tmp_path)
    (where / "core" / "activation" / "planted.py").write_text("import streamlit  # noqa: F401\n")
    out = _lint(where)
    assert out.returncode == 1 and "no core module imports Streamlit" in out.stdout
    assert "core.activation.planted -> streamlit" in out.stdout


#: What the front ends outside the package may import of ``core``: the pages, the use cases
#: (and the report's charts); ``ui.py``, the pages' one way into core, also the runs it
#: reads, the settings and the admin door.
PAGES_MAY = ("core.actions", "core.errors", "core.report", "core.formats")
UI_MAY = PAGES_MAY + ("core.runs.store", "core.settings", "core.ops.door", "core.inputs.words")


def _core_imports(path) -> set[str]:
    """Every ``core`` module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "core":
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "core"}
    return found


def _outside(found: set[str], allowed: tuple[str, ...]) -> list[str]:
    return sorted(m for m in found if not any(m == a or m.startswith(a + ".") for a in allowed))


def test_the_pages_and_the_app_reach_core_only_through_the_use_cases():
    for path in sorted((REPO / "pages").glob("*.py")) + [REPO / "app.py"]:
        assert _outside(_core_imports(path), PAGES_MAY) == [], path.name
    assert _outside(_core_imports(REPO / "ui.py"), UI_MAY) == []


def test_the_front_end_check_sees_a_wrong_import(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("def f():\n    from core.models import evaluation\n")
    assert _outside(_core_imports(page), PAGES_MAY) == ["core.models.evaluation"]
