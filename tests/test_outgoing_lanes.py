"""Outgoing messages in two lanes (issue 22, SPEC §14): replies to a user's own update go
before bulk sends within Telegram's 30 a second, groups keep 20 a minute, no bulk send is
lost, a 429 is waited out, and ``telegram.max_messages_per_second = 0`` lifts the cap."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.app import build_application
from bot.outgoing import BULK, REPLY, REPLYING_TO, GroupWindows, LaneRateLimiter
from core.config import load_settings
from tests.support.harness import BotHarness


class Recorder:
    """Stands in for the HTTP call: notes which chat each request went to, in order."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.refuse = 0

    async def call(self, chat: int) -> dict[str, Any]:
        if self.refuse:
            self.refuse -= 1
            raise RetryAfter(0)
        self.sent.append(chat)
        return {"ok": True}


async def send(limiter: LaneRateLimiter, recorder: Recorder, chat: int) -> None:
    await limiter.process_request(
        recorder.call, (chat,), {}, "sendMessage", {"chat_id": chat}, None
    )


async def reply(limiter: LaneRateLimiter, recorder: Recorder, chat: int) -> None:
    token = REPLYING_TO.set(chat)  # as the update processor does while handling its update
    try:
        await send(limiter, recorder, chat)
    finally:
        REPLYING_TO.reset(token)


async def test_a_reply_overtakes_queued_bulk_sends_and_no_bulk_send_is_lost() -> None:
    limiter, recorder = LaneRateLimiter(20), Recorder()
    notices = [asyncio.create_task(send(limiter, recorder, 1000 + k)) for k in range(40)]
    await asyncio.sleep(0.05)  # the first second's budget (20) is spent, 20 notices wait
    assert limiter.waiting(BULK) == 20
    answered = asyncio.create_task(reply(limiter, recorder, 7))
    await asyncio.wait_for(answered, timeout=0.5)  # within the next token (50 ms), not 1 s
    assert recorder.sent.index(7) <= 22
    await asyncio.wait_for(asyncio.gather(*notices), timeout=5)
    assert sorted(recorder.sent) == sorted([7, *range(1000, 1040)])
    bulk = [chat for chat in recorder.sent if chat != 7]
    assert bulk == list(range(1000, 1040)), "bulk sends keep their order"
    assert limiter.waiting(REPLY) == limiter.waiting(BULK) == 0


async def test_the_overall_cap_holds_for_both_lanes_together() -> None:
    limiter, recorder = LaneRateLimiter(10), Recorder()
    started = time.monotonic()
    await asyncio.gather(
        *[send(limiter, recorder, 1000 + k) for k in range(15)],
        *[reply(limiter, recorder, k) for k in range(10)],
    )
    # 10 at once, then 10 a second: the other 15 take at least 1.4 s.
    assert time.monotonic() - started >= 1.3
    assert len(recorder.sent) == 25


async def test_no_cap_sends_at_once() -> None:
    limiter, recorder = LaneRateLimiter(0), Recorder()
    started = time.monotonic()
    await asyncio.gather(*[send(limiter, recorder, 1000 + k) for k in range(500)])
    assert time.monotonic() - started < 1.0 and len(recorder.sent) == 500


async def test_a_group_gets_at_most_its_limit_per_window_and_is_forgotten_after() -> None:
    windows = GroupWindows(limit=3, window=0.3)
    started = time.monotonic()
    for _ in range(4):
        await windows.take(-100)
    assert time.monotonic() - started >= 0.29  # the fourth waited for the window
    await windows.take(-200)
    await asyncio.sleep(0.31)
    windows.sweep()
    assert len(windows) == 0


async def test_group_sends_are_paced_per_group_through_the_limiter() -> None:
    limiter, recorder = LaneRateLimiter(0, group_per_minute=2), Recorder()
    await send(limiter, recorder, -100)
    await send(limiter, recorder, -100)
    third = asyncio.create_task(send(limiter, recorder, -100))
    await send(limiter, recorder, -200)  # another group is not held up
    await asyncio.sleep(0.1)
    assert not third.done() and recorder.sent == [-100, -100, -200]
    third.cancel()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_429_is_waited_out_and_retried() -> None:
    limiter, recorder = LaneRateLimiter(30), Recorder()
    recorder.refuse = 2
    await send(limiter, recorder, 5)
    assert recorder.sent == [5]


def test_the_cap_is_configuration(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[telegram]\nmax_messages_per_second = 0\n")
    settings = load_settings(config, env)
    assert settings.telegram.max_messages_per_second == 0
    limiter = build_application(settings).bot.rate_limiter
    assert isinstance(limiter, LaneRateLimiter) and limiter.max_per_second == 0
    config.write_text("[telegram]\nmax_messages_per_second = -1\n")
    with pytest.raises(Exception, match="max_messages_per_second"):
        load_settings(config, env)


async def test_the_bot_marks_its_reply_to_the_senders_chat(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int | None] = []
    limiter = bot.app.bot.rate_limiter
    assert isinstance(limiter, LaneRateLimiter)
    real = limiter.process_request

    async def spy(**request: Any) -> Any:
        if request["endpoint"] == "sendMessage":
            seen.append(REPLYING_TO.get())
        return await real(**request)

    monkeypatch.setattr(limiter, "process_request", spy)
    (welcome,) = await bot.send(bot.user(1), "/start")
    assert "Welcome" in welcome.plain and seen == [1]
    await bot.app.bot.send_message(2, "a notice from no update")
    assert seen == [1, None]


async def test_few_requests_are_on_the_wire_at_once_and_a_reply_gets_the_next_slot() -> None:
    limiter, order, on_wire = LaneRateLimiter(0, in_flight=2), [], []

    async def slow(chat: int) -> dict[str, Any]:
        on_wire.append(chat)
        assert len(on_wire) <= 2
        await asyncio.sleep(0.05)
        on_wire.remove(chat)
        order.append(chat)
        return {"ok": True}

    async def go(chat: int, replying: bool) -> None:
        token = REPLYING_TO.set(chat if replying else None)
        try:
            await limiter.process_request(slow, (chat,), {}, "sendMessage", {"chat_id": chat}, None)
        finally:
            REPLYING_TO.reset(token)

    bulk = [asyncio.create_task(go(1000 + k, False)) for k in range(6)]
    await asyncio.sleep(0.01)
    await asyncio.gather(go(7, True), *bulk)
    assert order.index(7) <= 3 and len(order) == 7
