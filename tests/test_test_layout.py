"""The tests' own house rules: shared steps live in tests/support/, fixtures in conftest.py.

A test module that imports another test module (or a conftest) runs that module's tests'
helpers from a place nobody looks for them, and a star import hides which fixtures a module
replaces: both are refused here.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _python_files() -> list[Path]:
    return sorted([*TESTS.rglob("*.py"), *(ROOT / "bench").rglob("*.py")])


def _imported_modules(tree: ast.AST, path: Path) -> list[str]:
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def _is_test_module(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return module.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _python_files()
        for module in _imported_modules(ast.parse(path.read_text()), path)
        if _is_test_module(module)
    ]
    assert offenders == [], "shared steps belong in tests/support/: " + "; ".join(offenders)


def test_no_star_imports() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in _python_files()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)
    ]
    assert offenders == [], "fixtures come from conftest.py, not star imports: " + str(offenders)


def test_the_rules_see_what_they_refuse() -> None:
    """The checks above would notice: both kinds of import are recognised."""
    path = TESTS / "test_example.py"
    tree = ast.parse(
        "from tests.test_apikeys import add_key\nfrom . import conftest\nimport tests.test_x\n"
    )
    found = [m for m in _imported_modules(tree, path) if _is_test_module(m)]
    assert found == ["tests.test_apikeys", "tests.conftest", "tests.test_x"]
    assert not _is_test_module("tests.support.steps")
