"""Flooding: one user tries to slow the bot down for everyone.

PTB's processor takes one of its slots before an update waits for its user's turn, so a user
with hundreds of updates queued would hold the slots everyone needs. Each user may have only a
few updates in flight; the rest are dropped unread before they take a slot, the flooder is
told once per burst, and the dropped texts are deleted (one of them may be a password).
Not timed: the tests check the order things happen in.
"""

from __future__ import annotations

import threading
from typing import Literal

import argon2

from bot import texts
from bot.update_processor import PER_USER_IN_FLIGHT
from tests.support.harness import BotHarness
from tests.support.steps import PASSWORD, db_rows, login, register


class _HeldHasher(argon2.PasswordHasher):
    """The test's argon2 hasher, whose verifications wait until ``release`` is set (30 s at
    most): the flood's checks are still running whatever the machine's speed."""

    def __init__(self, inner: argon2.PasswordHasher) -> None:
        super().__init__(
            time_cost=inner.time_cost,
            memory_cost=inner.memory_cost,
            parallelism=inner.parallelism,
            hash_len=inner.hash_len,
            salt_len=inner.salt_len,
            type=inner.type,
        )
        self.release = threading.Event()
        self.waiting = 0  # verifications held right now

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.waiting += 1
        try:
            self.release.wait(30)
        finally:
            self.waiting -= 1
        return super().verify(hash, password)


async def test_a_flood_of_password_steps_does_not_hold_up_another_user(bot: BotHarness) -> None:
    """Trick: start /password and paste 200 password guesses at once (each an argon2 check):
    Bob's /start, sent while the flood's checks hold the hashing threads, is answered before
    the flood is through; most of the flood is dropped unread, and the flooder is told once.
    (The checks are held, not merely slow, so no machine is too fast for the order to show.)"""
    alice, bob = bot.user(1), bot.user(2)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/password")
    before = await db_rows(bot, "SELECT password_hash FROM users")
    passwords = bot.services.accounts.passwords
    held = _HeldHasher(passwords._hasher)
    passwords._hasher = held  # the flood's password checks run until Bob has his answer
    flood = [bot.api.user_sends(alice, f"{PASSWORD} guess {n}") for n in range(200)]
    await bot.wait_for(lambda: held.waiting > 0)  # the flood holds the hashing threads
    bot.api.user_sends(bob, "/start")
    await bot.wait_for(lambda: bot.api.sent_to(bob.id), timeout=10)
    still_queued = bot.api.updates_queued - bot.processor.completed
    assert still_queued > 0 and held.waiting > 0, "the flood was through before Bob was answered"
    held.release.set()
    await bot.settle(timeout=60)
    told = [m for m in bot.api.sent_to(alice.id) if m.plain == texts.FLOOD_DROPPED]
    assert len(told) == 1
    assert bot.processor.dropped >= 200 - PER_USER_IN_FLIGHT
    await bot.wait_for(lambda: all(m.deleted for m in flood), timeout=5)
    assert await db_rows(bot, "SELECT password_hash FROM users") == before


async def test_each_burst_is_told_once_and_memory_is_given_back(bot: BotHarness) -> None:
    """Variant: two bursts, one after the other: one notice each; afterwards no per-user
    bookkeeping is left (a crowd of flooders cannot grow the processor's memory)."""
    alice = bot.user(1)
    for _burst in range(2):
        for n in range(40):
            bot.api.user_sends(alice, f"/help {n}")
        await bot.settle(timeout=30)
    told = [m for m in bot.api.sent_to(alice.id) if m.plain == texts.FLOOD_DROPPED]
    assert len(told) == 2
    assert bot.processor.active_users == 0
    assert not bot.processor._in_flight and not bot.processor._told


async def test_a_flood_in_a_group_is_dropped_without_a_word(bot: BotHarness) -> None:
    """Variant: flood a group the bot is in: dropped, no notice posted in the group, and the
    group's messages are not the bot's to delete."""
    alice = bot.user(1)
    sent = [bot.api.user_sends(alice, f"/help {n}", chat_id=-777) for n in range(60)]
    await bot.settle(timeout=30)
    assert texts.FLOOD_DROPPED not in [m.plain for m in bot.api.sent_to(-777)]
    assert not any(m.deleted for m in sent)
