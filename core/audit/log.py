"""The tamper-evident audit log (SPEC §6).

Each row's ``hash`` is SHA-256 over a canonical JSON of the row (its id, time, type, severity,
account, Telegram user, details and ``prev_hash``); ``prev_hash`` is the previous row's hash, so
editing or deleting any row breaks the chain at that point. The head (newest id and hash) is
stored separately in the same transaction, so deleting the newest rows is detected too.

Events are appended inside the caller's unit of work: an event commits or rolls back together
with the change it describes. The unit of work holds the database write lock, so concurrent
writers queue up and the chain never forks (the schema also makes ``prev_hash`` unique).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from core.audit.ports import AuditRow, UnreadableAuditRow
from core.audit.ports import Severity as Severity  # re-exported: its long-standing home
from core.clock import Clock, to_iso
from core.ports import UnitOfWork

GENESIS_HASH = "0" * 64


class EventType(StrEnum):
    """Every audit event type of SPEC §6."""

    LOGIN_SUCCESS = "LOGIN_SUCCESS"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOGOUT = "LOGOUT"
    MFA_ENABLED = "MFA_ENABLED"
    MFA_DISABLED = "MFA_DISABLED"
    MFA_VERIFIED = "MFA_VERIFIED"
    MFA_FAILED = "MFA_FAILED"
    API_KEY_ADDED = "API_KEY_ADDED"
    API_KEY_UPDATED = "API_KEY_UPDATED"
    API_KEY_DELETED = "API_KEY_DELETED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    EMAIL_CHANGED = "EMAIL_CHANGED"
    PAYMENT_SUBMITTED = "PAYMENT_SUBMITTED"
    PAYMENT_APPROVED = "PAYMENT_APPROVED"
    PAYMENT_REJECTED = "PAYMENT_REJECTED"
    SUBSCRIPTION_STARTED = "SUBSCRIPTION_STARTED"
    SUBSCRIPTION_CANCELLED = "SUBSCRIPTION_CANCELLED"
    TRADE_EXECUTED = "TRADE_EXECUTED"
    POSITION_CLOSED = "POSITION_CLOSED"
    WITHDRAWAL_REQUESTED = "WITHDRAWAL_REQUESTED"
    WITHDRAWAL_COMPLETED = "WITHDRAWAL_COMPLETED"
    ADMIN_ACTION = "ADMIN_ACTION"
    SETTINGS_CHANGED = "SETTINGS_CHANGED"
    SUSPICIOUS_ACTIVITY = "SUSPICIOUS_ACTIVITY"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    REGISTERED = "REGISTERED"
    BACKUP_CREATED = "BACKUP_CREATED"
    BACKUP_RESTORED = "BACKUP_RESTORED"
    SUPPORT_REQUESTED = "SUPPORT_REQUESTED"
    ACCOUNT_DELETED = "ACCOUNT_DELETED"


# Detail keys that would suggest a secret is being logged; refused outright.
_SECRET_KEY = re.compile(
    r"pass(word|phrase)|secret|token|(^|_)otp($|_)|api_?key|private_?key|mnemonic|seed"
    r"|^code$|^backup_?codes?$|^key$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AuditEvent:
    """Something worth recording, before it gets its place in the chain."""

    event_type: EventType
    severity: Severity = Severity.INFO
    account_id: int | None = None
    telegram_user_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in self.details:
            if _SECRET_KEY.search(key):
                raise ValueError(f"audit details may not carry a field named {key!r}")


def canonical_bytes(row: AuditRow) -> bytes:
    """The exact bytes hashed for a row (everything but the hash itself)."""
    body = {
        "id": row.id,
        "ts": to_iso(row.ts),  # the stored text (storage reads it back exactly)
        "event_type": row.event_type,
        "severity": row.severity,
        "account_id": row.account_id,
        "telegram_user_id": row.telegram_user_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row: AuditRow) -> str:
    """SHA-256 hex of :func:`canonical_bytes`."""
    return hashlib.sha256(canonical_bytes(row)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a full chain verification."""

    ok: bool
    checked: int
    bad_row_id: int | None = None
    reason: str = ""


class AuditObserver(Protocol):
    """Sees each appended event inside the same unit of work (detection, owner notices).

    Whatever an observer writes commits or rolls back with the event. Observers are not called
    for SUSPICIOUS_ACTIVITY events, which is what they write themselves, so detection never
    recurses.
    """

    async def observe(self, uow: UnitOfWork, row: AuditRow, log: AuditLog) -> None:
        """React to ``row``, just appended through ``log``."""
        ...


class AuditLog:
    """Appends events to the chain (telling the observers) and verifies it."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        clock: Clock,
        observers: Sequence[AuditObserver] = (),
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._observers = tuple(observers)

    async def append(self, uow: UnitOfWork, event: AuditEvent) -> AuditRow:
        """Add ``event`` inside the caller's unit of work (it commits with the caller)."""
        head = await uow.audit.head()
        prev_hash = head.last_hash if head else GENESIS_HASH
        draft = AuditRow(
            id=(head.last_id if head else 0) + 1,
            ts=self._clock.now().astimezone(UTC),
            event_type=str(event.event_type),
            severity=str(event.severity),
            account_id=event.account_id,
            telegram_user_id=event.telegram_user_id,
            # A JSON round trip fixes the exact form that is stored and hashed.
            details=json.loads(json.dumps(dict(event.details), sort_keys=True, default=str)),
            prev_hash=prev_hash,
            hash="",
        )
        row = AuditRow(**{**draft.__dict__, "hash": row_hash(draft)})
        await uow.audit.append(row)
        if row.event_type != EventType.SUSPICIOUS_ACTIVITY:
            for observer in self._observers:
                await observer.observe(uow, row, self)
        return row

    async def record(self, event: AuditEvent) -> AuditRow:
        """Append ``event`` in a unit of work of its own."""
        async with self._uow_factory() as uow:
            row = await self.append(uow, event)
            await uow.commit()
        return row

    async def verify(self, progress: Callable[[int], None] | None = None) -> ChainReport:
        """Walk the whole chain; report the first row that does not fit."""
        async with self._uow_factory(read_only=True) as uow:
            head = await uow.audit.head()
            expected_prev = GENESIS_HASH
            expected_id = 1
            checked = 0
            rows = uow.audit.iter_rows()
            while True:
                try:
                    row = await anext(rows)
                except StopAsyncIteration:
                    break
                except UnreadableAuditRow as exc:
                    return ChainReport(
                        False, checked, exc.row_id, "its stored form was edited (unreadable)"
                    )
                if row.id != expected_id:
                    return ChainReport(
                        False, checked, row.id, f"row {expected_id} is missing (next is {row.id})"
                    )
                if row.prev_hash != expected_prev:
                    return ChainReport(
                        False, checked, row.id, "prev_hash does not match the previous row"
                    )
                if row_hash(row) != row.hash:
                    return ChainReport(False, checked, row.id, "contents do not match its hash")
                expected_prev = row.hash
                expected_id += 1
                checked += 1
                if progress and checked % 100_000 == 0:
                    progress(checked)
        if head is None and checked:
            return ChainReport(False, checked, None, "the chain head record is missing")
        if head is not None and (head.last_id != checked or head.last_hash != expected_prev):
            return ChainReport(
                False,
                checked,
                head.last_id,
                f"the newest rows are missing: head says row {head.last_id}, "
                f"the log ends at row {checked}",
            )
        return ChainReport(True, checked)

    async def export(self, since: datetime | None = None) -> AsyncIterator[AuditRow]:
        """Yield rows in order (from ``since``, if given)."""
        async with self._uow_factory(read_only=True) as uow:
            async for row in uow.audit.iter_rows(since=since):
                yield row
