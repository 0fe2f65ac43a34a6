"""Concurrency across users, order within a user (SPEC §1).

PTB's default processor either runs everything in sequence (one slow password hash delays every
user) or everything concurrently (a user's second message can overtake the first). This one runs
updates of different users concurrently and each user's updates one after another, in arrival
order (asyncio locks are FIFO). Locks exist only while a user has updates in flight, so memory
stays bounded however many users write.

PTB's processor takes one of its slots (a semaphore) before an update waits for its user's
lock, so one user with hundreds of updates queued would hold the slots everybody needs. Each
user may have only :data:`PER_USER_IN_FLIGHT` updates in flight; the rest are dropped before
they take a slot, with one notice per burst, and a dropped text in a private chat is deleted
(it may carry a password or code) in batches of up to 100 ids per ``deleteMessages`` call, so
a flood costs Telegram calls in the tens, not the hundreds.

Telegram's checkout and receipts (:func:`is_payment`: a ``pre_checkout_query``, a
``successful_payment`` message) are never dropped: they are not the user's typing, Telegram
bounds them, it fails a checkout left unanswered for 10 seconds, and a receipt means Stars were
already taken (SPEC §12). A ``pre_checkout_query`` does not wait behind the user's queue.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, BaseUpdateProcessor, CallbackContext

from bot import texts
from bot.outgoing import REPLYING_TO

if TYPE_CHECKING:
    from bot.acks import HandledUpdates

logger = logging.getLogger(__name__)

PER_USER_IN_FLIGHT = 12  # updates of one user queued or running; more are dropped
DELETE_BATCH = 100  # deleteMessages takes 1 to 100 message ids
DELETE_DELAY = 0.2  # seconds: dropped texts of a burst are gathered into few calls


def is_payment(update: object) -> bool:
    """A pre_checkout_query or a successful_payment message: Telegram's, never dropped."""
    return isinstance(update, Update) and (
        update.pre_checkout_query is not None
        or (update.message is not None and update.message.successful_payment is not None)
    )


def _user_key(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


class DroppedMessages:
    """Deletes dropped messages in batches, a moment after they were dropped."""

    def __init__(self) -> None:
        self._pending: dict[int, list[int]] = {}
        self._bot: Bot | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, bot: Bot, chat_id: int, message_id: int) -> None:
        """Delete this message soon."""
        self._bot = bot
        self._pending.setdefault(chat_id, []).append(message_id)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        await asyncio.sleep(DELETE_DELAY)
        while self._pending and self._bot is not None:
            chat_id, ids = self._pending.popitem()
            for start in range(0, len(ids), DELETE_BATCH):
                try:
                    await self._bot.delete_messages(chat_id, ids[start : start + DELETE_BATCH])
                except TelegramError as exc:
                    logger.warning("could not delete dropped messages: %s", type(exc).__name__)

    async def flush(self) -> None:
        """Wait until every dropped message was deleted (or could not be)."""
        while self._task is not None and not self._task.done():
            await self._task


def drop_message(context: CallbackContext[Any, Any, Any, Any], message: Message) -> None:
    """Delete a message that is dropped unread (it may carry a secret), batched."""
    processor = context.application.update_processor
    if isinstance(processor, PerUserUpdateProcessor):
        processor.drops.add(context.bot, message.chat_id, message.message_id)
    else:
        context.application.create_task(message.delete())


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Serialises updates per Telegram user, parallel across users; caps each user's queue."""

    def __init__(
        self, max_concurrent_updates: int = 256, *, per_user: int = PER_USER_IN_FLIGHT
    ) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self._in_flight: dict[int, int] = {}  # user -> updates queued or running
        self._told: set[int] = set()  # users told about the current burst
        self.per_user = per_user
        self.drops = DroppedMessages()
        self.completed = 0  # updates fully processed or dropped (tests wait on this)
        # The turn each update is handled in, after its user's earlier updates here (the
        # user's lock across instances and their state: bot/user_turns.py); set by bot/app.
        self.turns: Callable[[int, object], AbstractAsyncContextManager[None]] | None = None
        self.dropped = 0
        # Webhook mode: each update id runs once and the server learns when (bot/acks.py).
        self.ledger: HandledUpdates | None = None

    # PTB marks process_update @final so that subclasses only write do_process_update; the
    # per-user cap has to refuse an update before it waits for the global semaphore, which
    # do_process_update (called under that semaphore) cannot do.
    async def process_update(  # type: ignore[misc]
        self, update: object, coroutine: Awaitable[Any]
    ) -> None:
        """Drop the update when its user already has :attr:`per_user` in flight; otherwise
        count it as theirs and let it wait for one of the slots."""
        key = _user_key(update)
        if key is None:
            try:
                await super().process_update(update, coroutine)
            finally:
                self._settle(update, False)
            return
        in_flight = self._in_flight.get(key, 0)
        if in_flight >= self.per_user and not is_payment(update):
            if inspect.iscoroutine(coroutine):
                coroutine.close()  # never started: nothing ran for it
            try:
                await self._drop(update, key)
            finally:
                self.dropped += 1
                self.completed += 1
                self._settle(update, True)
            return
        self._in_flight[key] = in_flight + 1
        try:
            await super().process_update(update, coroutine)
        finally:
            self._settle(update, False)  # unless it was settled as handled before
            left = self._in_flight[key] - 1
            if left:
                self._in_flight[key] = left
            else:
                del self._in_flight[key]
                self._told.discard(key)  # the burst is over

    async def _drop(self, update: object, key: int) -> None:
        if not isinstance(update, Update):
            return
        chat, message = update.effective_chat, update.message
        if chat is None or chat.type != ChatType.PRIVATE:
            return
        try:
            bot = update.get_bot()
        except RuntimeError:
            return
        if message is not None and message.text:
            self.drops.add(bot, chat.id, message.message_id)
        if key in self._told:
            return
        self._told.add(key)
        try:
            await bot.send_message(chat.id, texts.FLOOD_DROPPED)
        except TelegramError as exc:
            logger.warning("could not tell a flooding user: %s", type(exc).__name__)

    def busy(self, user_id: int) -> bool:
        """Whether ``user_id`` has an update queued or running here."""
        return user_id in self._in_flight or user_id in self._locks

    @property
    def active_users(self) -> int:
        """Users with updates in flight (also the number of locks held in memory)."""
        return len(self._locks)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` once every earlier update of the same user is done."""
        key = _user_key(update)
        if key is None or (isinstance(update, Update) and update.pre_checkout_query is not None):
            try:  # a checkout answer must not wait behind the user's queue (10 s)
                await self._run(update, coroutine)
            finally:
                self.completed += 1
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        chat = update.effective_chat if isinstance(update, Update) else None
        # What this update sends to its own chat is a reply: the first lane out (bot/outgoing).
        replying = REPLYING_TO.set(chat.id if chat is not None else None)
        try:
            async with lock:
                if self.turns is None:
                    await self._run(update, coroutine)
                else:
                    await self._in_turn(key, update, coroutine)
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
            REPLYING_TO.reset(replying)
            self.completed += 1

    async def _in_turn(self, key: int, update: object, coroutine: Awaitable[Any]) -> None:
        assert self.turns is not None
        async with AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self.turns(key, update))
            except Exception:  # the user's lock or state could not be had: not handled
                if inspect.iscoroutine(coroutine):
                    coroutine.close()
                logger.exception("an update was dropped: its user's turn could not start")
                return  # not handled: the webhook answers 503 and Telegram sends it again
            await self._run(update, coroutine)

    async def _run(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self.ledger is None:
            await coroutine
        else:
            await self.ledger.run_once(update, coroutine)

    def _settle(self, update: object, handled: bool) -> None:
        if self.ledger is not None:
            self.ledger.acks.settle(update, handled)

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""


def forget_idle_user_data(application: Application[Any, Any, Any, Any, Any, Any]) -> int:
    """Drop the empty ``user_data`` PTB keeps for every user who ever sent an update (it grows
    with each new user otherwise), except for users with an update in flight, whose handler may
    still write to the dict it holds. Returns how many were dropped."""
    processor = application.update_processor
    if not isinstance(processor, PerUserUpdateProcessor):
        return 0  # no way to tell who is being served: keep everyone
    idle = [u for u, data in application.user_data.items() if not data and not processor.busy(u)]
    for user in idle:
        application.drop_user_data(user)
    return len(idle)
