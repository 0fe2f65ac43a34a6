"""One read per update (issue 22, SPEC §14): the gate's tier lookup and the session check of
an ordinary command share one read transaction, and nothing read for one update is seen by
the next, so a login, logout, expiry, approval or restore shows on the very next message.

Approval and restore through the bot are covered where those features are driven
(tests/test_payments_flow.py: "Tier: basic" on the /me right after the payment is approved;
tests/test_backups_bot.py: /me asks to log in right after /restore); the rate limiter's
tier after an approval is checked here through the same reading.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bot import texts
from core.clock import FakeClock
from storage.postgres.unit_of_work import PostgresUnitOfWork
from storage.unit_of_work import SqliteUnitOfWork
from tests.support.harness import BotHarness
from tests.support.steps import db_rows, register


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch, backend: str) -> Counter[str]:
    """How many units of work open, read-only and writing, while a test runs."""
    opened: Counter[str] = Counter()
    unit = PostgresUnitOfWork if backend == "postgres" else SqliteUnitOfWork
    enter: Any = unit.__aenter__

    async def counting(self: Any) -> Any:
        opened["read" if self._read_only else "write"] += 1
        return await enter(self)

    monkeypatch.setattr(unit, "__aenter__", counting)
    return opened


async def test_me_reads_gate_session_and_tier_in_one_transaction(
    bot: BotHarness, transactions: Counter[str]
) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    (me,) = await bot.send(alice, "/me")  # activity was just written at registration
    assert "trader@example.com" in me.plain
    transactions.clear()
    (me,) = await bot.send(alice, "/me")
    assert "trader@example.com" in me.plain and "Tier: free" in me.plain
    # One read for the gate's tier and the session check together, then /me's own one
    # (account, 2FA status, license: core/accounts/overview.py): before issue 22 the gate and
    # the check were two more, and /me's three parts three reads. Several instances
    # (PostgreSQL): one more, the user's turn reading their conversation state, which another
    # instance may have moved on (bot/user_turns.py).
    turn = 1 if bot.services.user_locks.shared else 0
    assert transactions == Counter(read=2 + turn)


async def test_after_logout_me_does_not_show_the_old_session(bot: BotHarness) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    await bot.send(alice, "/me")
    (bye,) = await bot.send(alice, "/logout")
    assert "logged out" in bye.plain
    (me,) = await bot.send(alice, "/me")
    assert me.plain == texts.LOGIN_FIRST


async def test_expiry_is_seen_and_written_on_the_next_update(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    await bot.send(alice, "/me")
    clock.advance(minutes=31)  # past the 30-minute idle limit
    (me,) = await bot.send(alice, "/me")
    assert me.plain == texts.LOGIN_FIRST
    [(reason,)] = await db_rows(bot, "SELECT end_reason FROM sessions")
    assert reason == "idle"


async def test_activity_is_still_written_once_a_minute(
    bot: BotHarness, clock: FakeClock, transactions: Counter[str]
) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    [(before,)] = await db_rows(bot, "SELECT last_seen_at FROM sessions")
    clock.advance(minutes=2)
    transactions.clear()
    (me,) = await bot.send(alice, "/me")
    assert "trader@example.com" in me.plain
    [(after,)] = await db_rows(bot, "SELECT last_seen_at FROM sessions")
    assert after > before and transactions["write"] == 1  # the touch, as before
