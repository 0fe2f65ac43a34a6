"""People and their devices for the stale-session and security-change attack notebooks.

A victim has two Telegram accounts logged in to one Verzek account: the PHONE (which the
attacker holds for a few minutes, unlocked) and the LAPTOP (where the victim is meanwhile).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import pyotp

from bot.fake_telegram import TelegramUser
from core.clock import FakeClock
from core.payments.wallet import REFERRAL_COMMISSION, WalletLedger
from tests.support import steps
from tests.support.harness import BotHarness
from tests.support.steps import PASSWORD, db_rows

EMAIL = "victim@example.com"
ATTACKER_PASSWORD = "crimson falcon tundra 19 ledger"
PHONE, LAPTOP, ATTACKER = 1, 2, 666
BACKUP_CODE = re.compile(r"\b([0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5})\b")
ENDED = "This step ended because"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def tron_address(seed: int) -> str:
    """A valid mainnet TRON address (0x41 + 20 bytes + double-SHA256 checksum, base58)."""
    body = b"\x41" + hashlib.sha256(str(seed).encode()).digest()[:20]
    raw = body + hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4]
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = _B58[digit] + text
    return text


ADDRESS = tron_address(7)


async def register(bot: BotHarness, user: TelegramUser, email: str = EMAIL) -> None:
    """The victim's /register (tests.support.steps.register with the victim's address)."""
    await steps.register(bot, user, email)


async def login(
    bot: BotHarness, user: TelegramUser, email: str = EMAIL, password: str = PASSWORD
) -> str:
    """The victim's /login; the last reply (logged in, or asking for the code)."""
    return await steps.login(bot, user, email, password)


@dataclass
class Victim:
    """The victim's account, their two devices and their authenticator app."""

    account_id: int
    phone: TelegramUser
    laptop: TelegramUser
    totp: pyotp.TOTP | None = None
    backup_codes: list[str] = field(default_factory=list)

    def code(self, clock: FakeClock) -> str:
        """A code for a new time step (so never one used before)."""
        assert self.totp is not None
        clock.advance(seconds=30)
        return self.totp.at(clock.now())


async def enrol(bot: BotHarness, user: TelegramUser, clock: FakeClock) -> tuple[pyotp.TOTP, str]:
    """/2fa_enroll → password → scan the manual key → first code; (app, last reply)."""
    await bot.send(user, "/2fa_enroll")
    _photo, manual, _ask = await bot.send(user, PASSWORD)
    totp = pyotp.TOTP(manual.plain.split("key:")[1].replace(" ", "").strip())
    clock.advance(seconds=30)
    (done,) = await bot.send(user, totp.at(clock.now()))
    return totp, done.plain


async def make_victim(bot: BotHarness, clock: FakeClock, *, mfa: bool = True) -> Victim:
    """Registered on the phone, 2FA on (optional), logged in on the phone and the laptop."""
    phone, laptop = bot.user(PHONE, "Phone"), bot.user(LAPTOP, "Laptop")
    await register(bot, phone)
    assert "You're logged in" in await login(bot, phone)
    [(account_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", EMAIL)
    victim = Victim(account_id, phone, laptop)
    if mfa:
        victim.totp, done = await enrol(bot, phone, clock)
        victim.backup_codes = BACKUP_CODE.findall(done)
        assert "Two-factor authentication is on" in done
        assert "Two-factor" in await login(bot, laptop)
        (logged_in,) = await bot.send(laptop, victim.code(clock))
        assert "You're logged in" in logged_in.plain
    else:
        assert "You're logged in" in await login(bot, laptop)
    return victim


async def credit(bot: BotHarness, account_id: int, micro: int) -> None:
    """A signed referral credit straight through the ledger (test setup)."""
    async with bot.services.uow() as uow:
        await WalletLedger(bot.services.crypto).append(
            uow,
            account_id=account_id,
            amount_micro=micro,
            kind=REFERRAL_COMMISSION,
            payment_id=None,
            at=bot.services.clock.now(),
        )
        await uow.commit()


def texts_to(bot: BotHarness, chat_id: int, since: int = 0) -> list[str]:
    """Everything the bot sent to ``chat_id`` from message ``since`` on."""
    return [m.plain for m in bot.api.sent_to(chat_id)[since:]]
