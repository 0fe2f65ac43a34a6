"""Outgoing messages in two lanes within Telegram's limits (SPEC §14).

Telegram lets a bot send about 30 messages a second overall and 20 a minute into one group
chat. PTB's ``AIORateLimiter`` queues every request behind one limiter, so a burst of alerts,
owner notices or reminders delays every user's reply behind it. :class:`LaneRateLimiter`
keeps the same limits but serves two lanes from the overall budget:

- **reply**: a request to the chat of the update being handled (the user's own message),
  told by :data:`REPLYING_TO`, which :class:`bot.update_processor.PerUserUpdateProcessor`
  sets for the length of each update;
- **bulk**: everything else (jobs, alerts to the admin chat, notices to other users).

Whenever the overall budget has room, a waiting reply goes first; bulk requests wait in
arrival order and are never dropped. Group chats keep their own 20-a-minute window whatever
the lane (``group_per_minute=0``: none, for tests). ``max_per_second=0`` lifts the overall
cap (``telegram.max_messages_per_second``: a local Bot API server, paid broadcasts). A 429
(``RetryAfter``) pauses every request for the time Telegram asks, then retries, as PTB's
limiter does. Group windows are forgotten once they are empty, so memory follows the groups
of the last minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
REPLYING_TO: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "verzek_replying_to", default=None
)
REPLY, BULK = 0, 1
GROUP_PER_MINUTE = 20
GROUP_WINDOW = 60.0
PAID_PER_SECOND = 1000  # allow_paid_broadcast: Telegram's paid rate
# Requests on the wire at once: 16 keep 30 messages/s over a 500 ms round trip, and bound the
# connections bot/bot_request.py opens (one per request in flight). With PTB's one shared
# httpcore pool, 256 in flight cost the bare echo bot 3.4x its CPU per message of one at a
# time (bench/updates.py).
IN_FLIGHT = 16


class Lanes:
    """A token bucket (``rate`` a second, bursts up to ``rate``) whose waiters are served
    reply lane first, each lane in arrival order."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = float(rate)
        self._stamp = clock()
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque())
        self._pump: asyncio.Task[None] | None = None

    def waiting(self, lane: int) -> int:
        """Requests of ``lane`` waiting for the budget."""
        return sum(1 for f in self._waiting[lane] if not f.done())

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.rate), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, lane: int) -> None:
        """Wait until this request may go."""
        self._refill()
        ahead = self._waiting[REPLY] or (lane == BULK and self._waiting[BULK])
        if self._tokens >= 1 and not ahead:
            self._tokens -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[lane].append(future)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._serve())
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._tokens += 1  # granted, then abandoned: give it back
            raise

    def _next(self) -> asyncio.Future[None] | None:
        for queue in self._waiting:
            while queue:
                future = queue.popleft()
                if not future.done():
                    return future
        return None

    async def _serve(self) -> None:
        while True:
            self._refill()
            while self._tokens >= 1:
                future = self._next()
                if future is None:
                    return
                self._tokens -= 1
                future.set_result(None)
            if not any(self._waiting):
                return
            await asyncio.sleep((1 - self._tokens) / self.rate)


class Slots:
    """At most ``size`` requests in flight; a freed slot goes to a waiting reply first."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque())

    async def acquire(self, lane: int) -> None:
        """Wait for a slot."""
        if self.free > 0 and not any(self._waiting):
            self.free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[lane].append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over, then abandoned: pass it on
            raise

    def release(self) -> None:
        """Free a slot: to the oldest waiting reply, else the oldest bulk request."""
        for queue in self._waiting:
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)
                    return
        self.free += 1


class GroupWindows:
    """At most ``limit`` sends per ``window`` seconds into each group chat."""

    def __init__(
        self,
        limit: int = GROUP_PER_MINUTE,
        window: float = GROUP_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: dict[int | str, deque[float]] = {}
        self._locks: dict[int | str, asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._sent)

    async def take(self, chat: int | str) -> None:
        """Wait until one more send into ``chat`` fits its window."""
        lock = self._locks.setdefault(chat, asyncio.Lock())
        async with lock:
            sent = self._sent.setdefault(chat, deque())
            while True:
                now = self._clock()
                while sent and now - sent[0] >= self.window:
                    sent.popleft()
                if len(sent) < self.limit:
                    sent.append(now)
                    return
                await asyncio.sleep(sent[0] + self.window - now)

    def sweep(self) -> None:
        """Forget groups with nothing sent within the window and nobody waiting."""
        now = self._clock()
        for chat in [c for c, s in self._sent.items() if not s or now - s[-1] >= self.window]:
            lock = self._locks.get(chat)
            if lock is None or not lock.locked():
                self._sent.pop(chat, None)
                self._locks.pop(chat, None)


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns when the value is still an int
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _chat_of(data: dict[str, Any]) -> int | str | None:
    chat_id = data.get("chat_id")
    if chat_id is None:
        return None
    with contextlib.suppress(ValueError, TypeError):
        return int(chat_id)
    return str(chat_id)


class LaneRateLimiter(BaseRateLimiter[int]):
    """Telegram's flood limits with replies before bulk sends (see the module docstring)."""

    def __init__(
        self,
        max_per_second: int = 30,
        *,
        group_per_minute: int = GROUP_PER_MINUTE,
        max_retries: int = 5,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        self.max_per_second = max_per_second
        self._slots = Slots(in_flight)
        self._lanes = Lanes(max_per_second) if max_per_second > 0 else None
        self._paid = Lanes(PAID_PER_SECOND)
        self.groups = GroupWindows(group_per_minute) if group_per_minute > 0 else None
        self._max_retries = max_retries
        self._resume = asyncio.Event()
        self._resume.set()
        self._since_sweep = 0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def waiting(self, lane: int) -> int:
        """Requests of ``lane`` waiting for the overall budget (benchmarks, tests)."""
        return self._lanes.waiting(lane) if self._lanes is not None else 0

    async def _admit(self, chat: int | str | None, paid: bool) -> int:
        """Wait for the group window and the overall budget; the request's lane."""
        lane = REPLY if chat is not None and chat == REPLYING_TO.get() else BULK
        if chat is None:
            return lane  # not a message to a chat (answerCallbackQuery, ...)
        if self.groups is not None and (isinstance(chat, str) or chat < 0):
            self._since_sweep += 1
            if self._since_sweep >= 256:
                self._since_sweep = 0
                self.groups.sweep()
            await self.groups.take(chat)
        if paid:
            await self._paid.take(BULK)
        elif self._lanes is not None:
            await self._lanes.take(lane)
        return lane

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Wait for the request's lane (and group window), send it, retry after a 429."""
        retries = rate_limit_args or self._max_retries
        chat = _chat_of(data)
        paid = bool(data.get("allow_paid_broadcast", False))
        for attempt in range(retries + 1):
            lane = await self._admit(chat, paid)
            await self._resume.wait()
            await self._slots.acquire(lane)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == retries:
                    logger.error("rate limit hit after %d retries", retries)
                    raise
                pause = _seconds(exc) + 0.1
            finally:
                self._slots.release()
            self._resume.clear()  # nobody sends until Telegram's pause is over
            try:
                await asyncio.sleep(pause)
            finally:
                self._resume.set()
        raise AssertionError("unreachable")  # pragma: no cover
