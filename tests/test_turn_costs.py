"""What one ordinary update costs the database on a fleet (SPEC §13, issue 21).

On PostgreSQL every write unit of work takes the fleet's ONE writer lock, so an update that
writes, even needlessly, waits for every other writer of every instance: the fleet then
handles updates one at a time. A read (/me of a logged-in user, a turn that changed no
conversation) must therefore open no write unit at all; one that does have something to
write (the session's activity, once a minute; its expiry) still writes it under the lock,
deciding on what it read there.

The units are counted at the storage classes (either engine), in two instances sharing
turns (tests/support/instances.py), as a load balancer makes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from core.user_locks import InProcessUserLocks
from storage.postgres.database import PostgresDatabase
from storage.postgres.unit_of_work import PostgresUnitOfWork
from storage.unit_of_work import SqliteUnitOfWork
from tests.support.harness import BotHarness
from tests.support.instances import TwoInstances
from tests.support.services import build_services
from tests.support.steps import EMAIL, logged_in

ALICE = 7_500_000_001


@pytest.fixture
async def fleet(
    settings: Settings, services: Services, clock: FakeClock
) -> AsyncIterator[TwoInstances]:
    second = await build_services(settings, clock)
    if settings.database.url is None:  # SQLite: one lock for the two Applications
        services.user_locks = second.user_locks = InProcessUserLocks(shared=True)
    both = TwoInstances(settings, services, second)
    await both.start()
    yield both
    await both.stop()
    await second.aclose()


@pytest.fixture
def units(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Units of work entered, by kind ("read", "write"), on either engine."""
    seen: Counter[str] = Counter()
    for cls in (PostgresUnitOfWork, SqliteUnitOfWork):
        original = cls.__aenter__

        async def counted(self: Any, _original: Any = original) -> Any:
            seen["read" if self._read_only else "write"] += 1
            return await _original(self)

        monkeypatch.setattr(cls, "__aenter__", counted)
    yield seen


async def test_me_opens_no_write_unit(
    fleet: TwoInstances, units: Counter[str], clock: FakeClock
) -> None:
    alice = fleet.user(ALICE, "Alice")
    await logged_in(fleet, alice)
    units.clear()
    for n in range(4):
        (me,) = await fleet.use(n % 2).send(alice, "/me")
        assert EMAIL in me.plain
        clock.advance(seconds=5)
    assert units["write"] == 0, units
    assert units["read"] <= 4 * 6, units  # a handful of short reads per update, no more


async def test_activity_is_still_written_once_a_minute(
    fleet: TwoInstances, units: Counter[str], clock: FakeClock, services: Services
) -> None:
    alice = fleet.user(ALICE, "Alice")
    await logged_in(fleet, alice)
    session = await services.sessions.current(ALICE)
    assert session is not None
    clock.advance(seconds=61)
    units.clear()
    (me,) = await fleet.use(1).send(alice, "/me")
    assert EMAIL in me.plain
    assert units["write"] == 1, units  # the touch, under the writer lock
    again = await services.sessions.current(ALICE)
    assert again is not None and again.expires_at > session.expires_at


@pytest.mark.postgres_only
async def test_a_connection_given_back_carries_nothing_to_the_next_unit(
    postgres_url: str,
) -> None:
    """The pool gives connections back without asyncpg's reset round trip
    (storage/postgres/database.py): so no unit may leave a lock, a transaction or a setting on
    one, whether it committed, rolled back or failed."""
    db = PostgresDatabase(postgres_url, max_connections=1)  # every unit on the same connection
    await db.open()
    try:
        async with db.unit_of_work() as uow:  # holds the writer lock, committed
            await uow.sessions.live_for_telegram_user(ALICE)
            await uow.commit()
        async with db.unit_of_work():  # the writer lock, left without commit
            pass
        with pytest.raises(RuntimeError):
            async with db.unit_of_work(read_only=True):
                raise RuntimeError("a handler failed mid-read")
        async with db.pool.acquire() as conn:
            assert not conn.is_in_transaction()
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()"
                " AND locktype = 'advisory'"
            )
            assert held == 0
            assert await conn.fetchval("SHOW transaction_isolation") == "read committed"
            assert await conn.fetchval("SHOW transaction_read_only") == "off"
    finally:
        await db.close()


async def test_current_writes_only_what_is_due(
    bot: BotHarness, units: Counter[str], clock: FakeClock, services: Services
) -> None:
    """The handlers that call SessionService.current themselves (after /register, /restore,
    an admin's audit of another user): a read while nothing is due, the touch or the end
    under the writer lock when it is."""
    alice = bot.user(ALICE, "Alice")
    await logged_in(bot, alice)
    first = await services.sessions.current(ALICE)
    units.clear()
    clock.advance(seconds=30)
    assert await services.sessions.current(ALICE) == first
    assert units == Counter(read=1), units
    clock.advance(seconds=31)  # a minute since the activity was written: a touch is due
    touched = await services.sessions.current(ALICE)
    assert first is not None and touched is not None
    assert touched.expires_at > first.expires_at
    assert units == Counter(read=2, write=1), units
    clock.advance(minutes=services.settings.security.idle_minutes)  # idle: ended here
    assert await services.sessions.current(ALICE) is None
    assert units == Counter(read=3, write=2), units
    assert await services.sessions.current(ALICE) is None  # ended: nothing more to write
    assert units == Counter(read=4, write=2), units
