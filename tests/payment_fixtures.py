"""Fixtures for tests that need payments: a clock before the fixtures' transfer, payments
configured, and services whose chain is the fake TronScan.

A test module takes them with ``from tests.payment_fixtures import *``; they replace the
conftest fixtures of the same names in that module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.bootstrap import bootstrap
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.services import Services
from tests.fake_tronscan import FakeTronscan, payments_config

__all__ = ["clock", "fake", "services", "settings"]


@pytest.fixture
def clock() -> FakeClock:
    # 20 minutes before the fixtures' transfer, so invoices made now are older than it.
    return FakeClock(datetime(2025, 11, 28, 3, 0, tzinfo=UTC))


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    return load_settings(payments_config(tmp_path), env)


@pytest.fixture
def fake() -> FakeTronscan:
    return FakeTronscan()


@pytest.fixture
async def services(
    settings: Settings, clock: FakeClock, fake: FakeTronscan
) -> AsyncIterator[Services]:
    built = await bootstrap(settings, clock, chain=fake.client(settings.tronscan))
    yield built
    await built.aclose()
