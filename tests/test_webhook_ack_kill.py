"""kill -9 of an instance holding accepted-but-unhandled updates loses nothing (issue #21).

Two real ``verzek run`` instances in webhook mode on one PostgreSQL, the fake Telegram
spreading a burst of updates (one per user) over both round robin. The fake Bot API holds the
replies the victim instance tries to send for that burst, so the victim is, for certain, in the
middle of handling updates it accepted (their POSTs unanswered) when it is killed with SIGKILL.
Its held replies never reach "Telegram" (the process is gone), Telegram sends those updates
again, the survivor handles them, and every user gets exactly one reply. A redelivered update
that was handled already is dropped (bot/acks.py); the mark is in the database.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import pytest
from telegram import Update

from bot.acks import Acks
from bot.fake_telegram import FakeBotAPI, TelegramUser
from bot.fake_telegram.uploads import Refused
from bot.fake_telegram.webhook import WebhookDelivery
from core.digits import parse_int
from core.services import Services
from tests.support.fleet import fleet
from tests.support.harness import table_rows
from tests.support.webhook_steps import forged_headers, post_update, update_json, webhook_bot

BURST = 12  # users, one update each
pytestmark = pytest.mark.slow


class HeldReplies(FakeBotAPI):
    """The fake Bot API, holding ``sendMessage`` calls made for updates POSTed to ``victim``
    (answered or not) until :meth:`release`; once it is dead they are refused (never recorded).
    With PTB's own server the victim has answered 200 before it replies: those updates are
    lost, and the test fails at "unanswered"."""

    def __init__(self) -> None:
        super().__init__()
        self.delivery: WebhookDelivery | None = None
        self.victim: str | None = None
        self.held: set[int] = set()  # chats whose reply is held
        self.update_of: dict[int, int] = {}  # chat -> the update id of its one message
        self._released = asyncio.Event()

    def _for_victim(self, chat: int) -> bool:
        if self.delivery is None or self.victim is None:
            return False
        update_id = self.update_of.get(chat)
        if update_id is None:
            return False
        sent_to = self.delivery.in_flight_to.get(update_id)  # being POSTed there now
        return self.victim in (sent_to, self.delivery.delivered_to.get(update_id))

    async def _api_sendMessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = parse_int(str(params.get("chat_id")))
        if chat is not None and not self._released.is_set() and self._for_victim(chat):
            self.held.add(chat)
            await self._released.wait()
            raise Refused(502, "Bad Gateway: the sender is gone")
        return await super()._api_sendMessage(params, files)

    def release(self) -> None:
        """The victim is dead: its held calls fail, nothing more is held."""
        self.victim = None
        self._released.set()


@pytest.mark.postgres_only
async def test_kill_9_with_updates_in_flight_loses_and_repeats_nothing(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    api = HeldReplies()
    async with fleet(
        tmp_path, 2, database_url=postgres_url, redis_url=redis_url, api=api, connections=16
    ) as f:
        api.delivery = f.delivery
        victim_index = 0
        api.victim = f.delivery.targets[victim_index]
        users = [TelegramUser(8000 + i, f"User {i}") for i in range(BURST)]
        for user in users:
            f.api.user_sends(user, "/start")
            api.update_of[user.id] = f.api.pending_updates[-1]["update_id"]
        await f.wait("the victim mid-update", lambda: len(api.held) >= 2)
        unanswered = [uid for uid, via in f.delivery.in_flight_to.items() if via == api.victim]
        assert unanswered, "the victim holds accepted updates it has not answered"
        await f.kill(victim_index)
        api.release()

        await f.wait("a reply to everyone", lambda: all(f.api.sent_to(u.id) for u in users))
        await f.wait("nothing left to deliver", lambda: f.api.pending_updates == [])
        await asyncio.sleep(1.5)  # a late second reply would show up now
        for user in users:
            assert len(f.texts(user.id)) == 1, (user.id, f.texts(user.id), f.logs())
        redelivered = [uid for uid, n in f.delivery.attempts.items() if n > 1]
        assert set(unanswered) <= set(redelivered)
        survivor = f.delivery.targets[1]
        assert all(f.delivery.delivered_to[uid] == survivor for uid in unanswered)
        delivered = f.delivery.delivered
        assert len(delivered) == len(set(delivered)) == BURST
        assert f.server.errors == []
        assert "Traceback" not in f.bots[1].stderr, f.bots[1].stderr


async def test_a_redelivered_update_runs_once(tmp_path: Path) -> None:
    """Telegram sends an update again (its answer was lost): 200 both times, one reply."""
    async with webhook_bot(tmp_path) as running:
        api, bot = running.server.api, running.process
        await bot.wait_for("the webhook", lambda: api.webhook)
        await running.delivery.stop()  # this test is Telegram: the same update, twice
        user = TelegramUser(626262, "Twice")
        update = update_json(4242, user, "/start")
        headers = forged_headers(running.secret)  # the real secret: Telegram's own request
        first = await post_update(running.local_url, update, headers)
        assert first.status_code == 200 and api.sent_to(user.id), "answered once handled"
        replies = len(api.sent_to(user.id))
        again = await post_update(running.local_url, update, headers)
        assert again.status_code == 200
        await asyncio.sleep(0.5)  # a second run would have replied by now
        assert len(api.sent_to(user.id)) == replies
        rows = await table_rows(running.database)
        assert [r[0] for r in rows["handled_updates"]] == [4242]
        assert "a redelivered update was dropped" in bot.stderr


class NeverProcessed:
    """An application whose queue nobody reads: the update is never handled."""

    def __init__(self) -> None:
        self.update_queue: asyncio.Queue[object] = asyncio.Queue()


async def test_the_answer_waits_for_the_handlers_and_is_bounded() -> None:
    slow = Acks(cast(Any, NeverProcessed()), answer_within=0.2)
    update = Update(1, None)
    started = time.monotonic()
    assert await slow.submit(update) is False  # 503: Telegram sends it again
    assert 0.2 <= time.monotonic() - started < 2

    acks = Acks(cast(Any, NeverProcessed()), answer_within=5)
    waiting = asyncio.create_task(acks.submit(update))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    acks.settle(update, True)
    acks.settle(update, False)  # only the first word counts
    assert await waiting is True
    failed = asyncio.create_task(acks.submit(Update(2, None)))
    await asyncio.sleep(0.05)
    acks.settle(Update(2, None), True)  # another object with the same id is not this update
    await asyncio.sleep(0.05)
    assert not failed.done()
    failed.cancel()


async def test_marks_are_recorded_once_and_swept_after_their_day(services: Services) -> None:
    async with services.uow() as uow:
        await uow.handled_updates.record(1, "2026-01-01T00:00:00+00:00")
        await uow.handled_updates.record(1, "2026-01-03T00:00:00+00:00")  # a redelivery's mark
        await uow.handled_updates.record(2, "2026-01-02T00:00:00+00:00")
        await uow.commit()
    async with services.uow(read_only=True) as uow:
        assert await uow.handled_updates.handled(1) and await uow.handled_updates.handled(2)
        assert not await uow.handled_updates.handled(3)
    async with services.uow() as uow:
        assert await uow.handled_updates.sweep("2026-01-01T12:00:00+00:00") == 1
        await uow.commit()
    async with services.uow(read_only=True) as uow:
        assert not await uow.handled_updates.handled(1)  # the first mark's time counts
        assert await uow.handled_updates.handled(2)
