"""One job leader (SPEC §13): two bots on one SQLite file run the scheduled jobs on one of
them only, and the other takes over when the leader stops or dies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.fake_telegram import FakeBotAPI
from bot.jobs.leader import LOCAL_JOBS
from bot.jobs.outbox import OutboxDelivery
from core.audit.log import AuditEvent, EventType
from core.audit.ports import Severity
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.errors import ConfigError
from core.leadership import Leadership
from core.leases import JOBS, LEASE_TTL, Lease, next_lease
from core.services import Services
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness
from tests.support.services import build_services

T0 = FakeClock().now()
TTL = timedelta(seconds=30)


def test_next_lease_rules() -> None:
    mine = Lease(JOBS, "a", T0 + TTL)
    theirs = Lease(JOBS, "b", T0 + TTL)
    assert next_lease(JOBS, None, "a", T0, TTL) == Lease(JOBS, "a", T0 + TTL)  # first one
    assert next_lease(JOBS, mine, "a", T0 + TTL / 3, TTL) == Lease(JOBS, "a", T0 + TTL * 4 / 3)
    assert next_lease(JOBS, theirs, "a", T0, TTL) is None  # another's still runs
    assert next_lease(JOBS, theirs, "a", T0 + TTL - timedelta(microseconds=1), TTL) is None
    assert next_lease(JOBS, theirs, "a", T0 + TTL, TTL) == Lease(JOBS, "a", T0 + 2 * TTL)
    late = Lease(JOBS, "a", T0 - TTL)  # ours ran out and nobody took it: still ours to renew
    assert next_lease(JOBS, late, "a", T0, TTL) == Lease(JOBS, "a", T0 + TTL)


def test_only_the_lease_jobs_run_everywhere() -> None:
    """Deny by default: a new job is a leader's job unless named here (in-memory chores; a
    conversation's timeout ends this process's memory of the flow, as a turn of its user)."""
    local = {"job-leader", "ratelimit-sweep", "codes-sweep", "_trigger_timeout"}
    assert frozenset(local) == LOCAL_JOBS


@pytest.fixture
async def second(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    """Another instance's services on the same database file and the same (fake) time."""
    built = await build_services(settings, clock)
    yield built
    await built.aclose()


async def test_one_lease_between_two_instances(
    services: Services, second: Services, clock: FakeClock
) -> None:
    a, b = services.leadership, second.leadership
    assert a.holder != b.holder
    assert await a.renew() and await a.leads()
    assert not await b.renew() and not await b.leads()
    clock.advance(seconds=20)
    assert await a.leads()  # renewed on the way (10 s before its end)
    assert not await b.leads()
    clock.advance(seconds=LEASE_TTL.total_seconds() + 1)  # a died: nobody renewed
    assert await b.leads()
    assert not await a.leads()  # a woke up: the lease is b's now
    await b.release()
    assert await a.renew()  # handed back: taken at once, without waiting out the TTL


async def queue_alert(services: Services, subject: str) -> int:
    async with services.uow() as uow:
        event = await services.audit.append(uow, AuditEvent(EventType.LOGOUT))
        alert_id = await uow.alerts.add(
            created_at=services.clock.now(),
            rule="test.leader",
            severity=Severity.CRITICAL,
            subject=subject,
            account_id=None,
            telegram_user_id=None,
            audit_event_id=event.id,
            evidence={},
            folded=0,
        )
        await uow.commit()
    return alert_id


def got(bot: BotHarness, subject: str) -> bool:
    """Whether the alert about ``subject`` reached the admin chat through ``bot``."""
    return any(subject in m.plain for m in bot.api.sent_to(ADMIN_CHAT_ID))


@pytest.fixture
async def two_bots(
    settings: Settings, services: Services, second: Services
) -> AsyncIterator[tuple[BotHarness, BotHarness]]:
    first = BotHarness(settings, services, FakeBotAPI(), quick_jobs=True)
    other = BotHarness(settings, second, FakeBotAPI(), quick_jobs=True)
    await first.start()
    await other.start()
    yield first, other
    await other.stop()
    await first.stop()


async def test_two_bots_send_each_alert_once_from_the_leader(
    two_bots: tuple[BotHarness, BotHarness], services: Services
) -> None:
    first, other = two_bots
    subjects = [f"subject-{n}" for n in range(8)]
    for subject in subjects:
        await queue_alert(services, subject)

    def sent(bot: BotHarness) -> list[str]:
        return [s for m in bot.api.sent_to(ADMIN_CHAT_ID) for s in subjects if s in m.plain]

    await first.wait_for(lambda: len(sent(first)) + len(sent(other)) >= len(subjects))
    leader, follower = (first, other) if sent(first) else (other, first)
    assert sorted(sent(leader)) == sorted(subjects)  # every alert, once, from the leader
    assert sent(follower) == []

    # The leader stops (a deploy): it hands the lease back and the other takes the jobs.
    await leader.stop()
    await queue_alert(services, "after-stop")
    assert follower.app.job_queue is not None
    (renewal,) = follower.app.job_queue.get_jobs_by_name("job-leader")
    await renewal.run(follower.app)  # its next renewal (every 10 s) finds the lease free
    await follower.wait_for(lambda: got(follower, "after-stop"))
    assert not got(leader, "after-stop")
    await leader.start()  # back, as a follower now


async def test_a_dead_leader_is_replaced_once_its_lease_runs_out(
    two_bots: tuple[BotHarness, BotHarness], services: Services, clock: FakeClock
) -> None:
    first, other = two_bots
    await queue_alert(services, "before-death")
    await first.wait_for(lambda: got(first, "before-death") or got(other, "before-death"))
    leader, follower = (first, other) if got(first, "before-death") else (other, first)
    # The leader dies: its scheduler stops dead, nothing is handed back.
    assert leader.app.job_queue is not None
    leader.app.job_queue.scheduler.pause()
    (outbox_job,) = leader.app.job_queue.get_jobs_by_name("outbox")
    delivery = outbox_job.callback
    assert isinstance(delivery, OutboxDelivery)
    # A run already under way when it "died" still finishes (and may send): let it.
    await leader.wait_for(lambda: not delivery._lock.locked())
    await queue_alert(services, "after-death")
    async with services.uow() as uow:
        lease = await uow.leases.get(JOBS)
    assert lease is not None and lease.holder == leader.services.leadership.holder
    await asyncio.sleep(0.5)  # ten outbox ticks of the follower: not before the lease ends
    assert not got(follower, "after-death")
    clock.advance(seconds=LEASE_TTL.total_seconds() + 1)
    await follower.wait_for(lambda: got(follower, "after-death"))
    assert not got(leader, "after-death")
    leader.app.job_queue.scheduler.resume()


async def test_two_instances_never_claim_one_alert_twice(
    services: Services, second: Services
) -> None:
    """Even without leadership (a job started just before the lease moved), each alert is
    claimed by one instance: the claim is a compare-and-set in a write transaction."""
    ids = {await queue_alert(services, f"claim-{n}") for n in range(30)}
    taken: dict[str, list[int]] = {"a": [], "b": []}

    async def drain(name: str, instance: Services) -> None:
        while claimed := await instance.alerts.claim_due(limit=3):
            taken[name] += [alert.id for alert in claimed]
            await asyncio.sleep(0)

    await asyncio.gather(drain("a", services), drain("b", second))
    assert sorted(taken["a"] + taken["b"]) == sorted(ids)  # all, and none twice
    assert not set(taken["a"]) & set(taken["b"])


def test_the_lease_length_is_a_setting(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[jobs]\nlease_seconds = 6\n")
    assert load_settings(config, {}).jobs.lease_seconds == 6
    assert load_settings(None, {}).jobs.lease_seconds == int(LEASE_TTL.total_seconds())
    config.write_text("[jobs]\nlease_seconds = 1\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config, {})
    assert "jobs.lease_seconds" in raised.value.problems[0]


async def test_a_short_lease_is_taken_over_within_its_length(
    services: Services, clock: FakeClock
) -> None:
    first = Leadership.lasting(services.uow, clock, "a", 6)
    second = Leadership.lasting(services.uow, clock, "b", 6)
    assert await first.leads() and not await second.leads()
    clock.advance(seconds=4.5)
    assert await first.leads()  # renewed on the way (2 s before its end)
    clock.advance(seconds=5)  # the first died: nobody renewed
    assert not await second.renew()
    clock.advance(seconds=1.5)
    assert await second.renew() and not await first.leads()
