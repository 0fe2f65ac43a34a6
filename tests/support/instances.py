"""Two bot instances in one test process (SPEC §13): two Applications, each with its own
Services, over ONE database and ONE fake Telegram, the way a load balancer puts two
instances behind one webhook URL. Each update goes to the instance the test names
(:meth:`TwoInstances.use`), so a test can move a user between instances at any step.

It is a :class:`~tests.support.harness.BotHarness` (the shared steps drive it unchanged);
``app`` and ``services`` are the current instance's. Neither instance polls: the harness
hands each queued update to the current instance's update queue itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import Update

from bot.app import build_application
from bot.context import VerzekApplication
from bot.fake_telegram import FakeBotAPI, FakeRequest
from bot.update_processor import PerUserUpdateProcessor
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from core.user_locks import InProcessUserLocks
from storage.postgres.user_locks import PostgresUserLocks
from tests.support.harness import BotHarness, uncapped_rate_limiter
from tests.support.services import build_services


class TwoInstances(BotHarness):
    """Instances 0 and 1 of one bot; updates go to :attr:`on`."""

    def __init__(
        self, settings: Settings, first: Services, second: Services, api: FakeBotAPI | None = None
    ) -> None:
        super().__init__(settings, first, api)
        other = build_application(
            settings,
            second,
            request=FakeRequest(self.api),
            get_updates_request=FakeRequest(self.api),
            rate_limiter=uncapped_rate_limiter(),
        )
        self.apps: list[VerzekApplication] = [self.app, other]
        self.all_services = [first, second]
        self.on = 0
        self._delivered = [0, 0]

    def use(self, instance: int) -> TwoInstances:
        """Send the next updates to ``instance`` (0 or 1)."""
        self.on = instance
        self.app = self.apps[instance]
        self.services = self.all_services[instance]
        return self

    async def start(self) -> None:
        for app in self.apps:
            await app.initialize()
            if app.post_init is not None:
                await app.post_init(app)
            await app.start()

    async def stop(self) -> None:
        for app in self.apps:
            if app.running:
                await app.stop()
            await app.shutdown()

    def processor_of(self, instance: int) -> PerUserUpdateProcessor:
        processor = self.apps[instance].update_processor
        assert isinstance(processor, PerUserUpdateProcessor)
        return processor

    async def spread(self) -> None:
        """Hand the queued updates to the instances in turn (0, 1, 0, …) all at once, as a
        load balancer would, and wait until both are idle."""
        for n, raw in enumerate(list(self.api.pending_updates)):
            await self._hand(n % 2, raw)
        self.api.pending_updates.clear()
        await self.settle()

    async def _hand(self, instance: int, raw: dict[str, object]) -> None:
        app = self.apps[instance]
        self._delivered[instance] += 1
        await app.update_queue.put(Update.de_json(raw, app.bot))

    async def settle(self, timeout: float = 10.0) -> None:
        """Hand what the users sent to the current instance, and wait until both are idle."""
        while self.api.pending_updates:
            await self._hand(self.on, self.api.pending_updates.pop(0))
        deadline = time.monotonic() + timeout
        for instance in (0, 1):
            while self.processor_of(instance).completed < self._delivered[instance]:
                if time.monotonic() > deadline:
                    raise AssertionError("an instance did not finish processing in time")
                await asyncio.sleep(0.005)
        # Nothing is flushed here: each update's turn must have written its user's state
        # before releasing the lock (bot/user_turns.py); a test that passed only because the
        # harness flushed would hide exactly the bug these tests look for.


@asynccontextmanager
async def two_instances(
    settings: Settings, services: Services, clock: FakeClock, api: FakeBotAPI | None = None
) -> AsyncIterator[TwoInstances]:
    """Instance 0 over ``services``, instance 1 over services of its own, started; on SQLite
    both share one in-memory user lock (``shared=True``), on PostgreSQL each keeps its own
    advisory locks, as two processes would. Checks at the end that every lock was let go.
    ``api``: the fake Telegram of a fleet stopped before (its chats are still there)."""
    second = await build_services(settings, clock)
    if settings.database.url is None:
        services.user_locks = second.user_locks = InProcessUserLocks(shared=True)
    else:
        assert isinstance(second.user_locks, PostgresUserLocks)
    both = TwoInstances(settings, services, second, api)
    await both.start()
    try:
        yield both
    finally:
        await both.stop()
        for each in (services, second):
            held = each.user_locks
            assert isinstance(held, InProcessUserLocks | PostgresUserLocks) and len(held) == 0
        await second.aclose()
