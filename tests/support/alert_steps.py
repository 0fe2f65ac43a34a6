"""Writing audit events and reading what the detector made of them.

``emit`` records audit events (``times`` of them) the way a feature would; ``alerts`` lists the
alert outbox's rows, ``hits`` the ``SUSPICIOUS_ACTIVITY`` events the detector wrote, and ``rows``
reads any query from the bot's database (either engine).
"""

from __future__ import annotations

from core.audit.log import AuditEvent, EventType, Severity
from core.services import Services
from tests.support import raw_db


async def rows(services: Services, sql: str, *params) -> list[tuple]:
    return await raw_db.rows(services.settings, sql, *params)


async def alerts(services: Services) -> list[tuple]:
    return await rows(
        services, "SELECT rule, subject, folded, status, evidence FROM alerts ORDER BY id"
    )


async def hits(services: Services) -> list:
    return [
        row
        async for row in services.audit.export()
        if row.event_type == EventType.SUSPICIOUS_ACTIVITY
    ]


async def emit(services: Services, kind: EventType, times: int = 1, **fields) -> None:
    for _ in range(times):
        await services.audit.record(AuditEvent(kind, Severity.WARNING, **fields))
