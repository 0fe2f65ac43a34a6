"""People with wallets, and the commands they send, for the /wallet and /withdraw tests.

``person`` registers and logs in a Telegram user (with 2FA on unless ``mfa=False``) and returns
a ``Person``, whose ``code`` is a fresh TOTP code; ``withdraw`` sends ``/withdraw …`` and the
code, ``wallet`` reads /wallet and ``balances`` its available, held and withdrawn amounts.
``ADDRESS`` is a valid TRON address to withdraw to.
"""

from __future__ import annotations

import re

import pyotp

from bot.fake_telegram import TelegramUser
from core.clock import FakeClock
from tests.support.harness import BotHarness
from tests.support.sessions_steps import tron_address
from tests.support.steps import PASSWORD, db_rows, login, register

ALICE, BOB, ADMIN = "alice@example.com", "bob@example.com", "admin@example.com"
_BACKUP_CODE = re.compile(r"\b([0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5})\b")


ADDRESS = tron_address(1)


class Person:
    """A Telegram user with an account, logged in, optionally with 2FA on."""

    def __init__(self, user: TelegramUser, account_id: int) -> None:
        self.user = user
        self.account_id = account_id
        self.totp: pyotp.TOTP | None = None
        self.backup_codes: list[str] = []

    def code(self, clock: FakeClock) -> str:
        """A fresh TOTP code (the clock moves one step on, so it was never used)."""
        assert self.totp is not None
        clock.advance(seconds=30)
        return self.totp.at(clock.now())


async def person(
    bot: BotHarness, clock: FakeClock, user_id: int, email: str, *, mfa: bool = True
) -> Person:
    await register(bot, bot.user(user_id), email=email)
    await login(bot, bot.user(user_id), email=email)
    [(account_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", email)
    who = Person(bot.user(user_id), account_id)
    if mfa:
        await bot.send(who.user, "/2fa_enroll")
        _photo, manual, _ask = await bot.send(who.user, PASSWORD)
        secret = manual.plain.split("key:")[1].replace(" ", "").strip()
        who.totp = pyotp.TOTP(secret)
        (done,) = await bot.send(who.user, who.totp.at(clock.now()))
        who.backup_codes = _BACKUP_CODE.findall(done.plain)
        assert len(who.backup_codes) == 10
    return who


async def withdraw(bot: BotHarness, who: Person, clock: FakeClock, text: str) -> str:
    """/withdraw … then the code; returns the final reply."""
    (ask,) = await bot.send(who.user, f"/withdraw {text}")
    assert "Send the 6-digit code" in ask.plain, ask.plain
    (done,) = await bot.send(who.user, who.code(clock))
    assert bot.last_user_message.deleted
    return done.plain


async def wallet(bot: BotHarness, who: Person) -> str:
    (reply,) = await bot.send(who.user, "/wallet")
    return reply.plain


def balances(text: str) -> tuple[str, str, str]:
    available = re.search(r"Available: ([\d.]+) USDT", text)
    held = re.search(r"Held for pending withdrawals: ([\d.]+) USDT", text)
    withdrawn = re.search(r"Withdrawn so far: ([\d.]+) USDT", text)
    assert available and held and withdrawn, text
    return available[1], held[1], withdrawn[1]
