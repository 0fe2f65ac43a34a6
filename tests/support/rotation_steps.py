"""Steps around ``verzek rotate-key``: run the real command, start the bot again under a chosen
key, and find every token of a key in the database without knowing where tokens are kept.

:func:`tokens_of` reads every column of every table (either engine) and looks inside each text
value for anything shaped like a Fernet token, then asks the key whether it made it. It names
no table: a sealed column added tomorrow is found by it the day it first holds a token.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.cli import main
from bot.fake_telegram import FakeBotAPI
from core.clock import FakeClock
from core.config import EncryptionSettings, Secret, Settings, load_settings
from core.crypto import EncryptionService
from tests.support import raw_db
from tests.support.instances import TwoInstances, two_instances
from tests.support.services import build_services

# A Fernet token: version byte 0x80 and a 64-bit timestamp (so "gAAAAA…"), urlsafe base64.
FERNET = re.compile(r"gAAAAA[A-Za-z0-9_\-]{40,}={0,2}")

_PG_COLUMNS = (
    "SELECT table_name, column_name FROM information_schema.columns"
    " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
)
_SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"


def only(key: str) -> EncryptionService:
    """An encryption service that holds ``key`` and nothing else."""
    return EncryptionService(EncryptionSettings(Secret(key)))


async def _columns(settings: Settings) -> list[tuple[str, str]]:
    if isinstance(raw_db.where(settings), str):
        return [(str(t), str(c)) for t, c in await raw_db.rows(settings, _PG_COLUMNS)]
    found = []
    for (table,) in await raw_db.rows(settings, _SQLITE_TABLES):
        for row in await raw_db.rows(settings, f'PRAGMA table_info("{table}")'):
            found.append((str(table), str(row[1])))
    return found


async def tokens_of(settings: Settings, key: str) -> dict[tuple[str, str], int]:
    """How many tokens ``key`` made are stored in each (table, column), in whole values or
    inside them (JSON, text), anywhere in the database; columns without any are left out."""
    crypto = only(key)
    found: dict[tuple[str, str], int] = {}
    for table, column in await _columns(settings):
        values = await raw_db.rows(
            settings, f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
        )
        for (value,) in values:
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            for token in FERNET.findall(text):
                if crypto.encrypted_by(token) is not None:
                    found[(table, column)] = found.get((table, column), 0) + 1
    return found


async def rotate_key(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    new: str,
    *old: str,
) -> tuple[int, str]:
    """``verzek rotate-key`` (the real command, bot stopped) with ``new`` as the master key and
    ``old`` as ENCRYPTION_OLD_KEYS; its exit code and what it printed. On PostgreSQL the
    test's VERZEK_DATABASE_URL is already in the environment."""
    monkeypatch.setenv("VERZEK_DB", str(settings.database.path))
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", new)
    monkeypatch.setenv("ENCRYPTION_OLD_KEYS", ",".join(old))
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["rotate-key"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def settings_with_key(config: Path, env: dict[str, str], key: str) -> Settings:
    """The bot's settings with ``key`` as its only master key."""
    return load_settings(config, {**env, "ENCRYPTION_MASTER_KEY": key, "ENCRYPTION_OLD_KEYS": ""})


@asynccontextmanager
async def fleet_under(
    settings: Settings, clock: FakeClock, api: FakeBotAPI
) -> AsyncIterator[TwoInstances]:
    """Both instances started again over the same database and chats, with ``settings``'s keys."""
    services = await build_services(settings, clock)
    try:
        async with two_instances(settings, services, clock, api) as fleet:
            yield fleet
    finally:
        await services.aclose()
