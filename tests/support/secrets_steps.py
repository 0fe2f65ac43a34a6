"""Shared steps for the attack notebooks on secrets and floods: accounts, 2FA, restarts."""

from __future__ import annotations

import pyotp

from bot.fake_telegram import TelegramUser
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.support import raw_db
from tests.support.harness import BotHarness, enrol_2fa_through_core
from tests.support.services import build_services
from tests.support.steps import PASSWORD

TOO_MANY = "Too many requests"


async def db_execute(bot: BotHarness, sql: str, *params: object) -> None:
    await raw_db.execute(bot.settings, sql, *params)


async def enable_2fa_directly(bot: BotHarness, user: TelegramUser, clock: FakeClock) -> pyotp.TOTP:
    """Turn 2FA on through core (the bot's enrolment steps are tested elsewhere)."""
    session = await bot.services.sessions.current(user.id)
    assert session is not None
    totp, _ = await enrol_2fa_through_core(bot.services, session, PASSWORD, clock.now())
    clock.advance(seconds=31)  # the next code is a fresh one
    return totp


async def restart(bot: BotHarness, settings: Settings, clock: FakeClock) -> BotHarness:
    """Stop the bot (the persistence writes what it holds) and start a new process's worth of
    it on the same database: new services, new Application, nothing shared in memory but the
    fake Telegram (the chats are still there)."""
    await bot.stop()
    services: Services = await build_services(settings, clock)
    fresh = BotHarness(settings, services, bot.api)
    await fresh.start()
    return fresh


async def stop_restarted(bot: BotHarness) -> None:
    await bot.stop()
    await bot.services.aclose()
