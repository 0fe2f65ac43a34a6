"""Account rules on a real SQLite file, without Telegram."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import argon2
import pytest

from core.accounts.login_throttle import locked_until as _locked_until
from core.accounts.service import normalise_email
from core.accounts.sessions import EndReason, FlowEnded
from core.errors import UserError
from core.services import Services

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(*minutes: float) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in minutes]


def test_lock_starts_at_the_fifth_failure_within_ten_minutes() -> None:
    assert _locked_until(at(0, 1, 2, 3), T0 + timedelta(minutes=3)) is None
    assert _locked_until(at(0, 1, 2, 3, 4), T0 + timedelta(minutes=4)) == T0 + timedelta(minutes=14)
    # Spread over more than ten minutes: never five inside one window.
    assert _locked_until(at(0, 3, 6, 9, 12), T0 + timedelta(minutes=12)) is None
    # The lock ends ten minutes after it started.
    assert _locked_until(at(0, 1, 2, 3, 4), T0 + timedelta(minutes=14)) is None


def test_never_more_than_one_hundred_failures_an_hour() -> None:
    times = [T0 + timedelta(seconds=30 * n) for n in range(100)]  # 4 per 10 min can't happen,
    now = times[-1]  # but the hourly cap holds even when the window rule would not
    until = _locked_until(times, now)
    assert until is not None and until >= times[0] + timedelta(hours=1)


@pytest.mark.parametrize("text", ["", "a" * 300, "no-at-sign", "a@b", "two@@example.com"])
def test_bad_emails_are_refused(text: str) -> None:
    with pytest.raises(UserError):
        normalise_email(text)


def test_emails_are_lowercased() -> None:
    assert normalise_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"


async def test_old_hash_parameters_are_upgraded_on_login(services: Services) -> None:
    accounts = services.accounts
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    old_hash = weak.hash("violet canyon trumpet 42 orbit")
    user = await accounts.register(
        email="a@example.com", password_hash=old_hash, referral_code=None, telegram_user_id=1
    )
    attempt = await accounts.check_credentials("a@example.com", "violet canyon trumpet 42 orbit", 1)
    assert attempt.ok and attempt.rehash is not None
    await accounts.complete_login(attempt, 1)
    stored = (await accounts.account(user.id)).password_hash
    assert stored != old_hash and not accounts.passwords.needs_rehash(stored)
    assert await accounts.passwords.verify(stored, "violet canyon trumpet 42 orbit")


async def test_sensitive_changes_demand_a_fresh_proof(services: Services, clock) -> None:
    accounts = services.accounts
    pw = "violet canyon trumpet 42 orbit"
    await accounts.register(
        email="a@example.com",
        password_hash=await accounts.passwords.hash(pw),
        referral_code=None,
        telegram_user_id=1,
    )
    result = await accounts.complete_login(
        await accounts.check_credentials("a@example.com", pw, 1), 1
    )
    proof = await accounts.reauthenticate(result.session, pw)
    clock.advance(minutes=6)
    with pytest.raises(FlowEnded) as ended:
        await accounts.change_email(result.session, proof, "b@example.com")
    assert ended.value.reason is EndReason.PROOF_EXPIRED
    with pytest.raises(UserError, match="not correct"):
        await accounts.reauthenticate(result.session, "wrong password entirely 9")
