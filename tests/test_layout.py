"""Architecture rules that keep the layers honest."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from core.config import _KEYS, load_settings

ROOT = Path(__file__).resolve().parent.parent
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b",
    re.IGNORECASE,
)


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_core_never_imports_telegram_or_storage() -> None:
    for path in python_files("core"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("telegram", "storage", "bot", "aiosqlite")), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


def test_sql_lives_only_in_storage() -> None:
    for package in ("core", "bot"):
        for path in python_files(package):
            assert not SQL.search(path.read_text()), f"SQL found in {path.relative_to(ROOT)}"


def test_example_config_documents_every_key_and_loads() -> None:
    example = ROOT / "config.example.toml"
    text = example.read_text()
    data = tomllib.loads(text.replace("# token", "token"))
    for dotted in _KEYS:
        section, key = dotted.split(".", 1)
        assert f"{key} =" in text, f"{dotted} missing from config.example.toml"
        assert section in data
    load_settings(example, {})


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text()
