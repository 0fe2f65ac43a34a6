from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.bootstrap import bootstrap
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.crypto import generate_master_key
from core.services import Services
from tests.harness import BotHarness

ADMIN_ID = 9001
ADMIN_CHAT_ID = -100500
TEST_BOT_TOKEN = "123456:TEST-token-for-the-fake-bot-api-000000"
# Secrets the tests type in, by module: no log record of any test may contain one.
_TEST_SECRETS = {
    "tests.test_accounts_flow": ["PASSWORD", "NEW_PASSWORD"],
    "tests.test_apikeys": ["KEY", "SECRET", "PASSPHRASE", "NEW_KEY", "NEW_SECRET"],
}


@pytest.fixture
def master_key() -> str:
    return generate_master_key()


@pytest.fixture
def env(tmp_path: Path, master_key: str) -> dict[str, str]:
    return {
        "ENCRYPTION_MASTER_KEY": master_key,
        "TELEGRAM_BOT_TOKEN": TEST_BOT_TOKEN,
        "ADMIN_CHAT_ID": str(ADMIN_CHAT_ID),
        "VERZEK_ADMINS": str(ADMIN_ID),
        "VERZEK_DB": str(tmp_path / "data" / "verzek.db"),
    }


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "config.toml"
    # Tests log in many times inside one (frozen) minute; the real limits are exercised in
    # tests/test_ratelimit.py. Backups go to the test's own folder, never the repository.
    # Withdrawals right after enrolling 2FA: the cool-down is tested in tests/attacks/.
    config.write_text(
        '[security]\ncaptcha = false\nwithdrawal_cooldown_hours = 0\n'
        '[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
    )
    return load_settings(config, env)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    built = await bootstrap(settings, clock)
    yield built
    await built.aclose()


@pytest.fixture
async def bot(settings: Settings, services: Services) -> AsyncIterator[BotHarness]:
    harness = BotHarness(settings, services)
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
