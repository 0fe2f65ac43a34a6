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
                # By top-level package: "boto3" (core/adapters/offsite_s3.py) is not "bot".
                assert name.split(".")[0] not in {"telegram", "storage", "bot", "aiosqlite"}, (
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


# --- the rooms of core/ (issue 16) ---------------------------------------------------------------

MAX_MODULE_LINES = 500
LONG_FOR_NOW: set[str] = set()  # nothing is exempt; keep it that way

# Libraries that do I/O (network, Redis, hashing pools, images, archives, the database, processes).
IO_LIBRARIES = (
    *("httpx", "redis", "argon2", "captcha", "tarfile"),
    *("aiosqlite", "sqlite3", "asyncio", "subprocess", "socket"),
)
# Only adapters talk to these; everything else reaches them through an adapter or a port.
ADAPTER_LIBRARIES = ("httpx", "redis", "argon2", "captcha", "tarfile")
ADAPTERS = "core/adapters"
ADAPTER_LIBRARY_EXCEPTIONS: dict[str, tuple[str, ...]] = {}  # none; keep it that way
# Pure rules: every ``rules.py`` and ``*_rules.py`` of a feature, plus these small kernel modules.
PURE_KERNEL = {
    "core/clock.py",
    "core/digits.py",
    "core/ids.py",
    "core/money.py",
    "core/errors.py",
    "core/config_values.py",
    "core/payments/tron.py",
    "core/payments/chain.py",
    "core/accounts/throttle.py",
    "core/accounts/cooldown.py",
}


def imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def is_within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def pure_rule_modules() -> list[Path]:
    modules = [
        path
        for path in python_files("core")
        if path.stem == "rules" or path.stem.endswith("_rules")
    ]
    return modules + [ROOT / name for name in sorted(PURE_KERNEL)]


def test_no_module_is_over_500_lines() -> None:
    too_long = {
        relative(path): lines
        for package in ("bot", "core", "storage", "bench", "tests")
        for path in python_files(package)
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
        and relative(path) not in LONG_FOR_NOW
    }
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_pure_rule_modules_do_no_io() -> None:
    modules = pure_rule_modules()
    assert len([m for m in modules if m.name == "rules.py"]) >= 2  # payments, withdrawals
    assert ROOT / "core/accounts/password_rules.py" in modules
    assert ROOT / "core/backups/archive_rules.py" in modules
    for path in modules:
        assert path.exists(), f"{relative(path)} is listed as pure but does not exist"
        for name in imported_modules(path):
            assert not is_within(name, (*IO_LIBRARIES, "core.adapters")), (
                f"pure rules in {relative(path)} import {name}"
            )


def test_only_adapters_import_io_libraries() -> None:
    for path in python_files("core"):
        if relative(path).startswith(ADAPTERS + "/"):
            continue
        allowed = ADAPTER_LIBRARY_EXCEPTIONS.get(relative(path), ())
        for name in imported_modules(path):
            if name.split(".")[0] in allowed:
                continue
            assert not is_within(name, ADAPTER_LIBRARIES), (
                f"{relative(path)} imports {name}: only {ADAPTERS}/ may"
            )


def test_every_feature_package_keeps_its_ports_next_to_its_service() -> None:
    packages = [init.parent for init in (ROOT / "core").glob("*/__init__.py")]
    features = [package for package in packages if relative(package) != ADAPTERS]
    assert len(features) >= 8
    for package in features:
        modules = {path.stem for path in package.glob("*.py")}
        assert "ports" in modules, f"{relative(package)} has no ports.py"
        assert modules & {"service", "log"}, f"{relative(package)} has no service module"


def test_feature_packages_say_what_they_hold_and_re_export_nothing() -> None:
    for init in (ROOT / "core").rglob("__init__.py"):
        if init.parent == ROOT / "core":
            continue
        tree = ast.parse(init.read_text())
        assert ast.get_docstring(tree), f"{relative(init)} has no docstring"
        assert len(tree.body) == 1, f"{relative(init)} should hold only its docstring"
