"""The per-user lock across instances (SPEC §13): one user's turns one at a time, other users
not held up, and a lock of a dead instance given up with its connection.

In memory (SQLite: one process) and on PostgreSQL (two :class:`PostgresUserLocks`, two
"instances", each with its own connection, on one database).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.config_values import SecretUrl
from core.ports import UserLocks
from core.user_locks import InProcessUserLocks
from storage.postgres.user_locks import PostgresUserLocks, lock_key

USER, OTHER = 7_500_000_001, 7_500_000_002


async def held_back(first: UserLocks, second: UserLocks, user: int, other_user: int) -> list[str]:
    """What happened, in order, when ``second`` asked for ``other_user`` while ``first`` held
    ``user`` for a moment."""
    order: list[str] = []
    go = asyncio.Event()

    async def holder() -> None:
        async with first.hold(user):
            order.append("first in")
            go.set()
            await asyncio.sleep(0.2)
            order.append("first out")

    async def waiter() -> None:
        await go.wait()
        async with second.hold(other_user):
            order.append("second in")

    await asyncio.wait_for(asyncio.gather(holder(), waiter()), 10)
    return order


def test_lock_keys_fit_postgresql_int4() -> None:
    for user in (0, 1, -1, 2**31, 2**52 + 7, -(10**12) - 123, 7_500_000_001):
        assert -(2**31) <= lock_key(user) < 2**31


async def test_in_memory_one_user_waits_another_does_not() -> None:
    locks = InProcessUserLocks(shared=True)
    assert await held_back(locks, locks, USER, USER) == ["first in", "first out", "second in"]
    assert await held_back(locks, locks, USER, OTHER) == ["first in", "second in", "first out"]
    assert len(locks) == 0


@pytest.fixture
async def two_instances(postgres_url: str) -> AsyncIterator[tuple[PostgresUserLocks, ...]]:
    pair = (PostgresUserLocks(SecretUrl(postgres_url)), PostgresUserLocks(SecretUrl(postgres_url)))
    yield pair
    for locks in pair:
        await locks.aclose()


@pytest.mark.postgres_only
async def test_across_instances_one_user_waits_another_does_not(
    two_instances: tuple[PostgresUserLocks, ...],
) -> None:
    a, b = two_instances
    assert await held_back(a, b, USER, USER) == ["first in", "first out", "second in"]
    assert await held_back(a, b, USER, OTHER) == ["first in", "second in", "first out"]
    assert await held_back(a, a, USER, USER) == ["first in", "first out", "second in"]  # one
    assert len(a) == len(b) == 0


@pytest.mark.postgres_only
async def test_a_dead_instances_lock_goes_with_its_connection(
    two_instances: tuple[PostgresUserLocks, ...],
) -> None:
    a, b = two_instances
    entered = asyncio.Event()

    async def dies_holding() -> None:
        async with a.hold(USER):
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(dies_holding())
    await entered.wait()
    waiting = asyncio.create_task(asyncio.wait_for(b.hold(USER).__aenter__(), 10))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # held by the other instance
    await a._drop()  # the process is gone: PostgreSQL ends its session
    await waiting  # ... and the lock with it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
