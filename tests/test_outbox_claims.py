"""Outbox claims are leases (SPEC §13): admin alerts and owner notices, claimed by two
instances on one database, each go to one of them; a claim of an instance that died is
taken again once its lease ends; on PostgreSQL a row another transaction holds is skipped
(``FOR UPDATE SKIP LOCKED``), not waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from core.audit.alerts import LEASE
from core.audit.log import AuditEvent, EventType
from core.audit.ports import Severity
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.support import raw_db
from tests.support.services import build_services


@pytest.fixture
async def second(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    """Another instance's services on the same database and the same (fake) time."""
    built = await build_services(settings, clock)
    yield built
    await built.aclose()


async def queue_alert(services: Services, n: int) -> int:
    async with services.uow() as uow:
        event = await services.audit.append(uow, AuditEvent(EventType.LOGOUT))
        alert_id = await uow.alerts.add(
            created_at=services.clock.now(),
            rule="test.claims",
            severity=Severity.CRITICAL,
            subject=f"subject-{n}",
            account_id=None,
            telegram_user_id=None,
            audit_event_id=event.id,
            evidence={},
            folded=0,
        )
        await uow.commit()
    return alert_id


async def owner(services: Services) -> int:
    """The account the notices are about (made at the first notice)."""
    async with services.uow(read_only=True) as uow:
        found = await uow.accounts.by_email("owner@example.com")
    if found is not None:
        return found.id
    made = await services.accounts.register(
        email="owner@example.com",
        password_hash="$argon2id$not-a-real-hash",
        referral_code=None,
        telegram_user_id=7_600_000_000,
    )
    return made.id


async def queue_notice(services: Services, n: int) -> int:
    account_id = await owner(services)
    async with services.uow() as uow:
        event = await services.audit.append(uow, AuditEvent(EventType.LOGOUT))
        notice_id = await uow.notices.add(
            created_at=services.clock.now(),
            telegram_user_id=7_600_000_000 + n,
            account_id=account_id,
            audit_event_id=event.id,
            event_type="logout",
            details={},
        )
        await uow.commit()
    return notice_id


async def claim_notices(services: Services, limit: int) -> list[int]:
    now = services.clock.now()
    async with services.uow() as uow:
        claimed = await uow.notices.claim_due(now=now, lease_until=now + LEASE, limit=limit)
        await uow.commit()
    return [notice.id for notice in claimed]


async def claim_alerts(services: Services, limit: int) -> list[int]:
    return [alert.id for alert in await services.alerts.claim_due(limit=limit)]


@pytest.mark.parametrize("kind", ["alerts", "notices"])
async def test_two_instances_draining_at_once_take_each_row_once(
    services: Services, second: Services, kind: str
) -> None:
    queue, claim = (
        (queue_alert, claim_alerts) if kind == "alerts" else (queue_notice, claim_notices)
    )
    ids = {await queue(services, n) for n in range(30)}
    taken: dict[str, list[int]] = {"a": [], "b": []}

    async def drain(name: str, instance: Services) -> None:
        while claimed := await claim(instance, 3):
            taken[name] += claimed
            await asyncio.sleep(0)

    await asyncio.gather(drain("a", services), drain("b", second))
    assert sorted(taken["a"] + taken["b"]) == sorted(ids)  # all, and none twice
    assert not set(taken["a"]) & set(taken["b"])


@pytest.mark.parametrize("kind", ["alerts", "notices"])
async def test_a_dead_instances_claim_is_taken_again_after_its_lease(
    services: Services, second: Services, clock: FakeClock, kind: str
) -> None:
    queue, claim = (
        (queue_alert, claim_alerts) if kind == "alerts" else (queue_notice, claim_notices)
    )
    row = await queue(services, 1)
    assert await claim(services, 5) == [row]  # ... and this instance dies before sending
    assert await claim(second, 5) == []  # leased: not sent twice meanwhile
    clock.advance(seconds=LEASE.total_seconds() - 1)
    assert await claim(second, 5) == []
    clock.advance(seconds=2)
    assert await claim(second, 5) == [row]  # the lease ran out: delivered by the survivor
    table = "alerts" if kind == "alerts" else "user_notices"
    sql = f"SELECT attempts FROM {table} WHERE id = ?"
    assert await raw_db.rows(second.settings, sql, row) == [(2,)]  # both claims counted


@pytest.mark.postgres_only
async def test_a_row_locked_elsewhere_is_skipped_not_waited_for(
    services: Services, settings: Settings
) -> None:
    held, free = await queue_alert(services, 1), await queue_alert(services, 2)
    assert settings.database.url is not None
    other = await asyncpg.connect(settings.database.url.get())
    try:
        async with other.transaction():
            await other.execute("SELECT id FROM alerts WHERE id = $1 FOR UPDATE", held)
            claimed = await asyncio.wait_for(claim_alerts(services, 5), 5)
        assert claimed == [free]
    finally:
        await other.close()
    assert await claim_alerts(services, 5) == [held]  # once the other let go
