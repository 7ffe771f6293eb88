"""Modules and functions a reader can hold in mind: no module of ``core`` over 500 lines,
no function of ``core``, the pages or ``ui.py`` over 80 (its docstring included)."""
from __future__ import annotations

import ast

from tests.support import REPO

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _python_files(*roots):
    for root in roots:
        yield from ([root] if root.suffix == ".py" else sorted(root.rglob("*.py")))


def test_no_core_module_is_over_500_lines():
    long = {p.relative_to(REPO).as_posix(): n for p in _python_files(REPO / "core")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def _long_functions(path, root=REPO) -> dict[str, int]:
    """``{"file:function": lines}`` of the functions of ``path`` over the limit."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                out[f"{path.relative_to(root).as_posix()}:{node.name}"] = lines
    return out


def test_no_function_is_over_80_lines():
    long = {}
    for path in _python_files(REPO / "core", REPO / "pages", REPO / "ui.py", REPO / "app.py"):
        long.update(_long_functions(path))
    assert long == {}


def test_the_function_check_counts_a_long_function(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n" + "    x = 1\n" * 80 + "\n\ndef g():\n    return 1\n")
    assert {k.split(":")[-1]: v for k, v in _long_functions(src, tmp_path).items()} == {"f": 81}
