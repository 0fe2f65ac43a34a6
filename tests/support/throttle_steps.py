"""Shared helpers for the throttle and digit attack tests (core-level setup, counters)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pyotp
import pytest

from core.accounts.sessions import Session
from core.clock import FakeClock
from core.services import Services
from tests.support import raw_db
from tests.support.harness import enrol_2fa_through_core

VICTIM_EMAIL = "victim@example.com"
VICTIM_PASSWORD = "violet canyon trumpet 42 orbit"
VICTIM_TELEGRAM_ID = 777


class VerifyCounter:
    """Counts password verifications per hash; each one waits a little first, like a slow
    argon2 would, so every concurrent guess is in flight at the same time."""

    def __init__(self, services: Services, monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
        self.hashes: list[str] = []
        passwords = services.accounts.passwords
        original: Callable[[str, str], Awaitable[bool]] = passwords.verify

        async def counting(password_hash: str, password: str) -> bool:
            self.hashes.append(password_hash)
            await asyncio.sleep(delay)
            return await original(password_hash, password)

        monkeypatch.setattr(passwords, "verify", counting)

    def against(self, password_hash: str) -> int:
        """How many verifications used this hash."""
        return self.hashes.count(password_hash)


async def register_victim(
    services: Services, email: str = VICTIM_EMAIL, telegram_user_id: int = VICTIM_TELEGRAM_ID
) -> tuple[int, str]:
    """The victim's account (registered from the victim's phone); return (id, hash)."""
    password_hash = await services.accounts.passwords.hash(VICTIM_PASSWORD)
    user = await services.accounts.register(
        email=email,
        password_hash=password_hash,
        referral_code=None,
        telegram_user_id=telegram_user_id,
    )
    return user.id, password_hash


async def log_in(services: Services, telegram_user_id: int, email: str = VICTIM_EMAIL) -> Session:
    """A successful password login (no 2FA) from ``telegram_user_id``."""
    attempt = await services.accounts.check_credentials(email, VICTIM_PASSWORD, telegram_user_id)
    assert attempt.ok, attempt
    return (await services.accounts.complete_login(attempt, telegram_user_id)).session


async def enrol_2fa(services: Services, session: Session, clock: FakeClock) -> pyotp.TOTP:
    """Turn 2FA on for the session's account through core; return the authenticator."""
    totp, _ = await enrol_2fa_through_core(services, session, VICTIM_PASSWORD, clock.now())
    clock.advance(seconds=30)  # the enrolment code's step is spent
    return totp


async def rows(target: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the database directly (what was really written): ``target`` is the bot's
    settings (either engine) or a SQLite file's path."""
    return await raw_db.rows(target, sql, *params)
