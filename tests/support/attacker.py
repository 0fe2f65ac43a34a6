"""Shared set-up for the attacker's notebook (tests/attacks/): a well-equipped attacker and a
way to prove that nothing was written.

The attacker is set up through core, not by driving the bot's flows, so the attack tests do not
depend on how the sign-in flows ask their questions: an account, a live session, 2FA on, and a
pending payment of their own (the thing they would most like to see approved).

A test module marks itself ``pytestmark = [pytest.mark.payments, pytest.mark.roomy_limits]``
(tests/conftest.py): payments are configured against the fake TronScan and the rate limits are
roomy, because these tests send hundreds of messages inside one frozen minute (the real limits
are tested elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyotp
from telegram.ext import BaseHandler, CommandHandler, ConversationHandler

from core.accounts.sessions import Session
from core.clock import FakeClock
from core.payments.ports import PaymentRecord
from core.services import Services
from tests.support.fake_tronscan import tx_hash
from tests.support.harness import BotHarness, enrol_2fa_through_core

PASSWORD = "violet canyon trumpet 42 orbit"
# Tables a refused attempt may write: its audit event and the detector's alert about it.
AUDIT_TABLES = frozenset({"audit_events", "audit_head", "alerts", "alert_dedupe"})


@dataclass
class Equipped:
    """A signed-in user with 2FA on: their session and their authenticator."""

    telegram_user_id: int
    session: Session
    totp: pyotp.TOTP

    def code(self, clock: FakeClock) -> str:
        """A fresh code (the clock moves one step, so no code is ever a replay)."""
        clock.advance(seconds=30)
        return self.totp.at(clock.now())


async def signed_in_with_2fa(
    services: Services, clock: FakeClock, telegram_user_id: int, email: str
) -> Equipped:
    """Register, log in and turn 2FA on, through core."""
    hashed = await services.accounts.passwords.hash(PASSWORD)
    await services.accounts.register(
        email=email, password_hash=hashed, referral_code=None, telegram_user_id=telegram_user_id
    )
    attempt = await services.accounts.check_credentials(email, PASSWORD, telegram_user_id)
    session = (await services.accounts.complete_login(attempt, telegram_user_id)).session
    totp, _ = await enrol_2fa_through_core(services, session, PASSWORD, clock.now())
    return Equipped(telegram_user_id, session, totp)


async def own_pending_payment(services: Services, who: Equipped, n: int = 1) -> PaymentRecord:
    """An invoice and a reported (unknown to the chain, so pending) payment of ``who``."""
    invoice = await services.payments.create_invoice(who.session, "basic")
    return await services.payments.submit(who.session, invoice.id, tx_hash(n))


def changed_tables(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> set[str]:
    """Tables whose rows differ, audit tables left out."""
    return {t for t in after if after[t] != before.get(t) and t not in AUDIT_TABLES}


def backup_files(services: Services) -> list[str]:
    """Archive names in the backup folder (none when it does not exist)."""
    folder = services.backups.directory
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def flattened(handler: BaseHandler[Any, Any, Any]) -> list[BaseHandler[Any, Any, Any]]:
    """A handler and, for a ConversationHandler, every handler inside it."""
    if not isinstance(handler, ConversationHandler):
        return [handler]
    inner = [*handler.entry_points, *handler.fallbacks]
    for state_handlers in handler.states.values():
        inner += state_handlers
    return [h for nested in inner for h in flattened(nested)]


def all_handlers(bot: BotHarness) -> list[BaseHandler[Any, Any, Any]]:
    """Every handler of the real Application, in every group, nested ones included."""
    return [h for group in bot.app.handlers.values() for top in group for h in flattened(top)]


def command_handlers(bot: BotHarness) -> list[CommandHandler[Any, Any]]:
    """Every CommandHandler of the real Application."""
    return [h for h in all_handlers(bot) if isinstance(h, CommandHandler)]
