"""What bench/updates.py found on the hot path, kept true by tests."""

from __future__ import annotations

import os
import sys
import threading

import pytest
from telegram.ext import AIORateLimiter

from bot.app import build_application
from bot.outgoing import LaneRateLimiter
from core.adapters.passwords import HASHING_NICE, PasswordService
from core.config import Settings


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
async def test_password_hashing_yields_the_cpu_to_the_event_loop() -> None:
    # A burst of logins keeps every core busy with argon2; at equal priority every other
    # user's command stalled for hundreds of milliseconds behind them.
    passwords = PasswordService()
    try:
        loop_nice = _nice()
        hashing_nice = await passwords._run(_nice)
        assert hashing_nice >= min(19, loop_nice + HASHING_NICE) > loop_nice
        assert _nice() == loop_nice  # the event loop's own thread is untouched
        assert await passwords.verify(await passwords.hash("x" * 12), "x" * 12)
    finally:
        await passwords.aclose()


def test_the_outgoing_limiter_can_be_replaced(settings: Settings) -> None:
    shipped = build_application(settings)
    assert isinstance(shipped.bot.rate_limiter, LaneRateLimiter)
    assert shipped.bot.rate_limiter.max_per_second == 30  # telegram.max_messages_per_second
    mine = AIORateLimiter(overall_max_rate=0, group_max_rate=0)
    assert build_application(settings, rate_limiter=mine).bot.rate_limiter is mine
