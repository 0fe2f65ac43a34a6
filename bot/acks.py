"""Webhook updates answered only once handled, and run once however often they come (SPEC §13).

PTB's webhook server answers Telegram 200 as soon as an update is on the Application's queue:
an instance killed then (kill -9, a crashed box) loses every update it had accepted but not yet
handled, and Telegram redelivers only updates that were not answered 2xx. In webhook mode
(bot/webhook.py) the server is ours (bot/webhook_server.py): it puts the update on the same
queue, then waits here (:meth:`Acks.submit`) for the update processor to say the update was
handled, and answers 200 only then. An update that could not be handled (its user's turn could
not start, the database did not answer) or that takes longer than :data:`ANSWER_WITHIN` is
answered 503, so Telegram sends it again — possibly to another instance.

A redelivery must not run an update twice: :class:`HandledUpdates` records each handled update
id in the database (``handled_updates``, swept after :data:`KEEP_FOR`), and an update whose id
is recorded is dropped unrun, on any instance. The check and the record happen inside the
user's turn (bot/user_turns.py: the user's lock across the fleet), so a redelivery that reached
the other instance while the first one still runs waits for that lock and then finds the mark.

The remaining window: an update whose handlers finished (their replies sent, their units of work
committed) but whose mark was not yet committed when the process died runs again on redelivery.
It is the time of one one-row INSERT after the handlers return, and it cannot be closed: a
message sent to Telegram is not part of any database transaction, so something is always either
done-but-unrecorded (marking after: a rare duplicate) or recorded-but-undone (marking before: a
lost update, which is what this module exists to prevent). Marking right after the handlers, in
its own short write before anything else of the turn, keeps that window as small as it can be.
The turn writes the user's conversation state after the mark (bot/user_turns.py): a death in
between loses that one step of a flow (the user is asked again), it never repeats an effect.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.context import BotData
from core.clock import to_iso

logger = logging.getLogger(__name__)

ANSWER_WITHIN = 20.0
"""Seconds the webhook waits for an update to be handled before answering 503 (redeliver).

Telegram's Bot API server (github.com/tdlib/telegram-bot-api, telegram-bot-api/
WebhookActor.cpp: ``HttpOutboundConnection(..., 0, 50, 60, ...)``, a 60-second timeout on each
webhook connection) gives up on an answer after 60 s and sends the update again. 20 s is well
under that, and far above what a handler takes (a password hash is a fraction of a second)."""

KEEP_FOR = timedelta(days=1)  # Telegram keeps an unanswered update for 24 hours, no longer
SWEEP_EVERY = 3600.0  # seconds between two sweeps of old marks by one instance

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class Acks:
    """What the webhook server waits on: one future per update it put on the queue."""

    def __init__(self, application: AnyApplication, answer_within: float = ANSWER_WITHIN) -> None:
        self.application = application
        self.answer_within = answer_within
        self._waiting: dict[int, asyncio.Future[bool]] = {}  # id(update) -> handled?

    async def submit(self, update: Update) -> bool:
        """Queue ``update`` and wait until it was handled (True) or could not be (False);
        False too once :attr:`answer_within` passed (it may still finish: the mark, or the
        user's lock, keeps the redelivery from running it again)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[id(update)] = future
        try:
            await self.application.update_queue.put(update)
            return await asyncio.wait_for(asyncio.shield(future), self.answer_within)
        except TimeoutError:
            logger.warning(
                "an update took over %.0f s: left for Telegram to send again", self.answer_within
            )
            return False
        finally:
            self._waiting.pop(id(update), None)

    def settle(self, update: object, handled: bool) -> None:
        """Say what became of ``update`` (only the first word counts)."""
        future = self._waiting.get(id(update))
        if future is not None and not future.done():
            future.set_result(handled)


class HandledUpdates:
    """Runs each update id once across the fleet and tells :class:`Acks` how it went."""

    def __init__(self, application: AnyApplication, acks: Acks) -> None:
        self.application = application
        self.acks = acks
        self.duplicates = 0  # redelivered updates dropped because they were handled already
        self._swept_at = 0.0

    async def run_once(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` (the handlers of ``update``) unless the update was handled
        already; record it as handled right after. Called inside the user's turn."""
        update_id = update.update_id if isinstance(update, Update) else None
        if update_id is None:
            await self._run(update, coroutine)
            return
        data = self.application.bot_data
        services = data.attached if isinstance(data, BotData) else None
        if services is None:
            await self._run(update, coroutine)
            return
        try:
            async with services.uow(read_only=True) as uow:
                seen = await uow.handled_updates.handled(update_id)
        except Exception:  # cannot tell whether it ran: leave it to a redelivery
            _close(coroutine)
            self.acks.settle(update, False)
            logger.exception("an update was not handled: its mark could not be read")
            return
        if seen:
            _close(coroutine)
            self.duplicates += 1
            self.acks.settle(update, True)
            logger.info("a redelivered update was dropped: it was handled already")
            return
        await coroutine  # PTB's process_update: a handler's error goes to the error handlers
        try:
            now = services.clock.now()
            async with services.uow() as uow:
                await uow.handled_updates.record(update_id, to_iso(now))
                if time.monotonic() - self._swept_at > SWEEP_EVERY:
                    await uow.handled_updates.sweep(to_iso(now - KEEP_FOR))
                    self._swept_at = time.monotonic()
                await uow.commit()
        except Exception:  # it was handled: answering 503 would only make it run twice
            logger.exception("a handled update could not be marked as such")
        self.acks.settle(update, True)

    async def _run(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine
        self.acks.settle(update, True)


def _close(coroutine: Awaitable[Any]) -> None:
    if inspect.iscoroutine(coroutine):
        coroutine.close()  # never started: nothing ran for it
