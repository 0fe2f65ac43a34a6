from __future__ import annotations

from collections.abc import AsyncIterator
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


@pytest.fixture
def master_key() -> str:
    return generate_master_key()


@pytest.fixture
def env(tmp_path: Path, master_key: str) -> dict[str, str]:
    return {
        "ENCRYPTION_MASTER_KEY": master_key,
        "TELEGRAM_BOT_TOKEN": "123456:TEST-token-for-the-fake-bot-api-000000",
        "ADMIN_CHAT_ID": str(ADMIN_CHAT_ID),
        "VERZEK_ADMINS": str(ADMIN_ID),
        "VERZEK_DB": str(tmp_path / "data" / "verzek.db"),
    }


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "config.toml"
    # A register + login takes more than 5 auth steps inside one (frozen) minute; the real
    # limits are exercised in tests/test_ratelimit.py.
    config.write_text('[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n')
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
