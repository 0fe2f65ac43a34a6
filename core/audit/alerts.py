"""Admin alerts: the durable outbox between detection and the admin chat (SPEC §6).

Detection (:mod:`core.audit.detection`) queues an alert row in the same transaction as the event
that caused it. The delivery job asks :meth:`AlertService.claim_due` for work: each claimed
alert has its attempt counted and is leased (hidden) for :data:`LEASE`, committed *before* the
message goes out, so a crash mid-send delays an alert but never loses it. Only after Telegram
accepted a message is the alert marked sent (:meth:`AlertService.delivered`); a failure
reschedules it with exponential backoff (:func:`backoff`), honouring Telegram's
``retry_after``. Alerts are never dropped: one routed "off" (:func:`alert_route`, per rule
from ``alerts.routing``) is marked done without a message and still shows in /alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from core.audit.ports import AlertRecord, RuleCount
from core.audit.routing_rules import Route, route
from core.authz import Actor, AdminRights
from core.clock import Clock
from core.config import AlertSettings
from core.ports import UnitOfWork

LEASE = timedelta(seconds=60)
BACKOFF_FIRST = timedelta(seconds=2)
BACKOFF_MAX = timedelta(minutes=5)
BATCH = 10


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: 2 s, 4 s, 8 s … at most 5 min,
    and never shorter than Telegram's ``retry_after``."""
    exponent = min(max(attempts, 1) - 1, 16)
    delay = min(BACKOFF_FIRST * int(2**exponent), BACKOFF_MAX)  # int(): int ** int is Any
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def alert_route(alert: AlertRecord, settings: AlertSettings) -> Route:
    """How ``alert`` reaches the admin chat: loud, silent or off, and in which forum topic
    (:mod:`core.audit.routing_rules` under ``alerts.routing`` and ``alerts.topics``)."""
    return route(alert.rule, settings.routes)


class AlertService:
    """Delivery bookkeeping and admin views of the alert outbox."""

    def __init__(
        self, uow_factory: Callable[..., UnitOfWork], clock: Clock, rights: AdminRights
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._rights = rights

    async def claim_due(self, limit: int = BATCH) -> list[AlertRecord]:
        """Alerts to send now (oldest first), each leased and with its attempt counted."""
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.alerts.claim_due(now=now, lease_until=now + LEASE, limit=limit)
            await uow.commit()
        return claimed

    async def delivered(self, alert_id: int, message_id: int | None) -> None:
        """Telegram accepted the alert: it is done for good."""
        async with self._uow() as uow:
            await uow.alerts.mark_sent(alert_id, at=self._clock.now(), message_id=message_id)
            await uow.commit()

    async def muted(self, alert_id: int) -> None:
        """The alert's rule is routed "off": done without a message (kept for /alerts)."""
        await self.delivered(alert_id, None)

    async def failed(
        self, alert: AlertRecord, error: str, retry_after: float | None = None
    ) -> datetime:
        """A send failed: schedule the next try with backoff; return when it is due."""
        due = self._clock.now() + backoff(alert.attempts, retry_after)
        async with self._uow() as uow:
            await uow.alerts.reschedule(alert.id, next_attempt_at=due, error=error)
            await uow.commit()
        return due

    async def recent(self, actor: Actor, limit: int = 20) -> list[AlertRecord]:
        """The newest alerts, newest first (admins only)."""
        self._rights.require(actor, "alerts")
        async with self._uow(read_only=True) as uow:
            return await uow.alerts.recent(limit)

    async def summary(self, actor: Actor, hours: int = 24) -> list[RuleCount]:
        """Per rule over the last ``hours``: hits (folded ones included), distinct subjects,
        and alerts sent/pending. Reads the alert rows, not the audit log, so it stays cheap
        during an attack (thousands of hits fold into a handful of alerts). Admins only."""
        self._rights.require(actor, "suspicious")
        since = self._clock.now() - timedelta(hours=hours)
        async with self._uow(read_only=True) as uow:
            return await uow.alerts.summary_since(since)
