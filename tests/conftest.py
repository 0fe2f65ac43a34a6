from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.adapters.passwords import PasswordService
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.crypto import generate_master_key
from core.services import Services
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID, TEST_BOT_TOKEN
from tests.support.fake_tronscan import FakeTronscan, payments_config
from tests.support.harness import BotHarness
from tests.support.services import build_services

# postgres_server / postgres_url: a throwaway PostgreSQL per worker, a fresh database per test;
# redis_url: a throwaway Redis per worker.
pytest_plugins = ("tests.support.postgres", "tests.support.redis_server")

# Secrets the tests type in, by module: no log record of any test may contain one.
_TEST_SECRETS = {
    "tests.support.steps": [
        *("PASSWORD", "NEW_PASSWORD"),
        *("KEY", "SECRET", "PASSPHRASE", "NEW_KEY", "NEW_SECRET"),
    ],
}
# Rate limits out of the way (``roomy_limits``): hundreds of messages in one frozen minute.
_ROOMY = 'auth = "100000/minute"\ndefault = "100000/minute"\n' + "".join(
    f'tiers.{tier} = "100000/minute"\n' for tier in ("free", "basic", "pro")
)


@pytest.fixture
def master_key() -> str:
    return generate_master_key()


_BACKENDS = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=(*_BACKENDS, "both"),
        default="sqlite",
        help="the bot's database in tests: the SQLite file (default), a throwaway PostgreSQL, "
        "or both (each test that uses the bot's database runs once per backend)",
    )


def _backends_of(config: pytest.Config, node: pytest.Item | pytest.Function) -> list[str]:
    """The backends a test runs on: its marker decides, else ``--backend``."""
    if node.get_closest_marker("sqlite_only") is not None:
        return ["sqlite"]
    if node.get_closest_marker("postgres_only") is not None:
        return ["postgres"]
    chosen = config.getoption("backend")
    return list(_BACKENDS) if chosen == "both" else [chosen]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = _backends_of(metafunc.config, metafunc.definition)
        if len(backends) > 1:
            metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: where this test's bot keeps its data (see ``--backend``)."""
    param: str | None = getattr(request, "param", None)
    return param if param is not None else _backends_of(request.config, request.node)[0]


@pytest.fixture
def env(
    tmp_path: Path, master_key: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    values = {
        "ENCRYPTION_MASTER_KEY": master_key,
        "TELEGRAM_BOT_TOKEN": TEST_BOT_TOKEN,
        "ADMIN_CHAT_ID": str(ADMIN_CHAT_ID),
        "VERZEK_ADMINS": str(ADMIN_ID),
        "VERZEK_DB": str(tmp_path / "data" / "verzek.db"),
    }
    if backend != "postgres":
        yield values
        return
    # Imported here: tests.support.postgres is a plugin (pytest_plugins), loaded after us.
    from tests.support import postgres

    database = postgres.fresh_database()  # a copy of the migrated template, dropped after
    # Also in the process environment: `verzek …` run in-process (main([...])) or in a
    # subprocess by the test then opens this database too, whatever VERZEK_DB it is given.
    monkeypatch.setenv("VERZEK_DATABASE_URL", database.url)
    try:
        yield {**values, "VERZEK_DATABASE_URL": database.url}
    finally:
        postgres.drop_database(database.name)


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if request.node.get_closest_marker("payments") is not None:
        config = payments_config(tmp_path)
        if request.node.get_closest_marker("roomy_limits") is not None:
            text = config.read_text().replace('auth = "1000/minute"\n', _ROOMY)
            config.write_text(text + f'[backups]\ndir = "{tmp_path / "backups"}"\n')
        return load_settings(config, env)
    config = tmp_path / "config.toml"
    # Tests log in many times inside one (frozen) minute; the real limits are exercised in
    # tests/test_ratelimit.py. Backups go to the test's own folder, never the repository.
    # Withdrawals right after enrolling 2FA: the cool-down is tested in tests/attacks/.
    config.write_text(
        "[security]\ncaptcha = false\nwithdrawal_cooldown_hours = 0\n"
        '[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
    )
    return load_settings(config, env)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> FakeClock:
    if request.node.get_closest_marker("payments") is not None:
        # 20 minutes before the fixtures' transfer, so invoices made now are older than it.
        return FakeClock(datetime(2025, 11, 28, 3, 0, tzinfo=UTC))
    return FakeClock()


@pytest.fixture
def fake() -> FakeTronscan:
    """The TronScan the test's services ask (it knows the transactions a test adds)."""
    return FakeTronscan()


@pytest.fixture
async def services(
    settings: Settings, clock: FakeClock, fake: FakeTronscan, request: pytest.FixtureRequest
) -> AsyncIterator[Services]:
    overrides: dict[str, object] = {"chain": fake.client(settings.tronscan)}
    if request.node.get_closest_marker("production_argon2") is not None:
        overrides["passwords"] = PasswordService()
    built = await build_services(settings, clock, **overrides)
    yield built
    await built.aclose()


@pytest.fixture
async def bot(
    settings: Settings, services: Services, request: pytest.FixtureRequest
) -> AsyncIterator[BotHarness]:
    quick = request.node.get_closest_marker("quick_jobs") is not None
    # Real argon2 runs at the lowest CPU priority (core/adapters/passwords.py): on a machine
    # the other test workers keep saturated, one hash can wait seconds for the scheduler.
    patience = 6.0 if request.node.get_closest_marker("production_argon2") else 1.0
    harness = BotHarness(settings, services, quick_jobs=quick, patience=patience)
    await harness.start()
    yield harness
    await harness.stop()


class _LeakWatch(logging.Handler):
    """Remembers every log record that contains one of ``secrets``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # malformed arguments: report the raw message
            text = str(record.msg)
        error = record.exc_info[1] if record.exc_info else None
        text += f" {record.exc_text or ''} {error if error is not None else ''}"
        if any(secret in text for secret in self.secrets):
            self.leaks.append(f"{record.name} ({record.levelname})")


@pytest.fixture(autouse=True)
def no_known_secret_in_logs(master_key: str) -> Iterator[None]:
    """Session-wide: whatever a test logs (at the levels it runs with) holds no known secret.

    Only modules already loaded contribute their secrets, so this costs nothing to import.
    """
    secrets = [TEST_BOT_TOKEN, master_key]
    for module_name, names in _TEST_SECRETS.items():
        module = sys.modules.get(module_name)
        secrets += [getattr(module, name) for name in names] if module is not None else []
    watch = _LeakWatch(secrets)
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        yield
    finally:
        root.removeHandler(watch)
    assert not watch.leaks, f"a known test secret was logged by: {', '.join(watch.leaks)}"
