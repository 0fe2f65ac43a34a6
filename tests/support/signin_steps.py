"""Helpers for the sign-in tests: a bot with the captcha on, and people typing like people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pyotp

from bot.fake_telegram import Message, TelegramUser
from core.clock import FakeClock
from core.config import Settings
from tests.support.harness import BotHarness, enrol_2fa_through_core
from tests.support.services import build_services
from tests.support.steps import EMAIL, PASSWORD, captcha_answer


@asynccontextmanager
async def bot_with_captcha(settings: Settings, clock: FakeClock) -> AsyncIterator[BotHarness]:
    """A running bot like the default config: the captcha on."""
    with_captcha = replace(settings, security=replace(settings.security, captcha=True))
    services = await build_services(with_captcha, clock)
    bot = BotHarness(with_captcha, services)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
        await services.aclose()


async def up_to_the_captcha(bot: BotHarness, user: TelegramUser) -> list[Message]:
    """/register with the test email and the password typed twice: the replies to the second
    typing (with the captcha on, its picture comes last)."""
    await bot.send(user, "/register")
    await bot.send(user, EMAIL)
    await bot.send(user, PASSWORD)
    return await bot.send(user, PASSWORD)


def wrong_answer(bot: BotHarness, user: TelegramUser, flow: str) -> str:
    """A well-formed answer that is surely not the one on screen."""
    right = captcha_answer(bot, user, flow)
    return "ZZZZZ" if right != "ZZZZZ" else "YYYYY"


async def event_types(bot: BotHarness) -> list[str]:
    """Every audit event type, oldest first."""
    return [str(row.event_type) async for row in bot.services.audit.export()]


async def turn_on_2fa(
    bot: BotHarness, user: TelegramUser, clock: FakeClock, password: str = PASSWORD
) -> tuple[pyotp.TOTP, list[str]]:
    """2FA on for the user's logged-in account, the way the phone app would confirm it."""
    services = bot.services
    session = await services.sessions.current(user.id)
    assert session is not None
    totp, codes = await enrol_2fa_through_core(services, session, password, clock.now())
    clock.advance(seconds=30)  # the next code is a new one
    return totp, codes
