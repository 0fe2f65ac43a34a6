"""The tamper-evident audit log (SPEC §6).

Each row's ``hash`` is an HMAC-SHA256 link over the row and the previous link, under a key
derived from the master key (:mod:`core.audit.chain` has the rules); editing, deleting or
re-chaining rows without the key breaks the chain at that point. The head (newest id and link)
is stored separately in the same transaction, and anchors of it are posted outside the database
(:mod:`core.audit.anchors`), so deleting the newest rows or rolling the file back is detected
too.

Events are appended inside the caller's unit of work: an event commits or rolls back together
with the change it describes. The unit of work holds the database write lock, so concurrent
writers queue up and the chain never forks (the schema also makes ``prev_hash`` unique).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from core.audit.chain import (
    CHAIN_KEYED,
    GENESIS_HASH,
    KEY_ROTATED,
    ChainKey,
    ChainKeys,
    ChainReport,
    ChainWalk,
    keyed_link,
)
from core.audit.ports import AuditHead, AuditRow, UnreadableAuditRow
from core.audit.ports import Severity as Severity  # re-exported: its long-standing home
from core.clock import Clock
from core.ports import UnitOfWork

__all__ = ["GENESIS_HASH", "AuditEvent", "AuditLog", "ChainReport", "EventType", "Severity"]


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
    BACKUP_DRILL = "BACKUP_DRILL"  # the restore drill's outcome (SPEC §8a)
    SUPPORT_REQUESTED = "SUPPORT_REQUESTED"
    ACCOUNT_DELETED = "ACCOUNT_DELETED"
    AUDIT_CHAIN_KEYED = CHAIN_KEYED  # the first keyed row after rows chained with SHA-256
    AUDIT_KEY_ROTATED = KEY_ROTATED  # the first row under a new master key


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
    """Appends events to the chain (telling the observers) and verifies it.

    ``keys`` gives the chain keys when first needed (a command that only exports the log
    needs no master key); it raises when none is configured."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        clock: Clock,
        observers: Sequence[AuditObserver] = (),
        *,
        keys: Callable[[], ChainKeys],
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._observers = tuple(observers)
        self._keys = keys

    async def append(self, uow: UnitOfWork, event: AuditEvent) -> AuditRow:
        """Add ``event`` inside the caller's unit of work (it commits with the caller).

        When the newest row was chained under another key (a rotation) or under none (a log
        from before keying), the key change is chained first, as its own event, and the
        retired keys are kept sealed under the newest master key."""
        key = self._keys().current
        head = await uow.audit.head()
        if head is not None and head.key_id != key.key_id:
            await self._keep_retired_keys(uow)
            changed = await self._chain(uow, head, key, self._key_change(head, key))
            await self._observe(uow, changed)
            # Read again: an observer may have chained rows after it (the key change's alert).
            head = await uow.audit.head()
        row = await self._chain(uow, head, key, event)
        await self._observe(uow, row)
        return row

    async def _keep_retired_keys(self, uow: UnitOfWork) -> None:
        # With the rotation event, in its transaction: the old keys' rows stay verifiable
        # once ENCRYPTION_OLD_KEYS no longer holds their master key.
        await uow.audit.keep_sealed_keys(self._keys().sealed_old_keys(), self._clock.now())

    async def _observe(self, uow: UnitOfWork, row: AuditRow) -> None:
        if row.event_type != EventType.SUSPICIOUS_ACTIVITY:
            for observer in self._observers:
                await observer.observe(uow, row, self)

    @staticmethod
    def _key_change(head: AuditHead, key: ChainKey) -> AuditEvent:
        if head.key_id is None:
            return AuditEvent(
                EventType.AUDIT_CHAIN_KEYED,
                Severity.WARNING,
                details={"unkeyed_rows": head.last_id, "key_id": key.key_id},
            )
        return AuditEvent(
            EventType.AUDIT_KEY_ROTATED,
            Severity.WARNING,
            details={"previous_key_id": head.key_id, "key_id": key.key_id},
        )

    async def _chain(
        self, uow: UnitOfWork, head: AuditHead | None, key: ChainKey, event: AuditEvent
    ) -> AuditRow:
        draft = AuditRow(
            id=(head.last_id if head else 0) + 1,
            ts=self._clock.now().astimezone(UTC),
            event_type=str(event.event_type),
            severity=str(event.severity),
            account_id=event.account_id,
            telegram_user_id=event.telegram_user_id,
            # A JSON round trip fixes the exact form that is stored and hashed.
            details=json.loads(json.dumps(dict(event.details), sort_keys=True, default=str)),
            prev_hash=head.last_hash if head else GENESIS_HASH,
            hash="",
            key_id=key.key_id,
        )
        row = AuditRow(**{**draft.__dict__, "hash": keyed_link(key, draft)})
        await uow.audit.append(row)
        return row

    async def ensure_keyed(self) -> AuditRow | None:
        """Chain the key change now if the newest row is not under the newest key (start-up
        after the keying migration, ``verzek rotate-key``); return that row, or None. The
        configured old keys are kept sealed in any case (once each), so ``rotate-key`` keeps
        them even when the chain moved to the new key before it ran."""
        key = self._keys().current
        async with self._uow_factory() as uow:
            await self._keep_retired_keys(uow)
            head = await uow.audit.head()
            row = None
            if head is not None and head.key_id != key.key_id:
                row = await self._chain(uow, head, key, self._key_change(head, key))
                await self._observe(uow, row)
            await uow.commit()
        return row

    async def record(self, event: AuditEvent) -> AuditRow:
        """Append ``event`` in a unit of work of its own."""
        async with self._uow_factory() as uow:
            row = await self.append(uow, event)
            await uow.commit()
        return row

    async def verify(self, progress: Callable[[int], None] | None = None) -> ChainReport:
        """Walk the whole chain, then the head and every recorded anchor, in one read
        transaction; report the first thing that does not fit."""
        async with self._uow_factory(read_only=True) as uow:
            walk = ChainWalk(self._keys().with_sealed(await uow.audit.sealed_keys()))
            head = await uow.audit.head()
            broken = await self._walk(uow, walk, progress)
            return broken or await self._ends(uow, walk, head)

    async def verify_in_steps(self, rows_per_step: int = 5000) -> ChainReport:
        """The same checks as :meth:`verify`, in short read transactions of
        ``rows_per_step`` rows, so the bot keeps serving while a long log is checked (rows are
        never changed, so checking a prefix at a time is as good; rows appended meanwhile
        are walked too)."""
        async with self._uow_factory(read_only=True) as uow:
            walk = ChainWalk(self._keys().with_sealed(await uow.audit.sealed_keys()))
        while True:
            async with self._uow_factory(read_only=True) as uow:
                head = await uow.audit.head()
                before = walk.checked
                broken = await self._walk(uow, walk, None, limit=rows_per_step)
                if broken is not None:
                    return broken
                if walk.checked == before or (head is not None and walk.checked >= head.last_id):
                    return await self._ends(uow, walk, head)
            await asyncio.sleep(0)  # let the bot's own work in between steps

    @staticmethod
    async def _walk(
        uow: UnitOfWork,
        walk: ChainWalk,
        progress: Callable[[int], None] | None,
        limit: int | None = None,
    ) -> ChainReport | None:
        # One batch per step: the repository's cursor is closed between batches, so stopping
        # after ``limit`` rows leaves nothing open.
        rows = uow.audit.iter_rows(after=walk.checked, batch=limit or 5000)
        seen = 0
        while limit is None or seen < limit:
            try:
                row = await anext(rows)
            except StopAsyncIteration:
                break
            except UnreadableAuditRow as exc:
                return ChainReport(
                    False, walk.checked, exc.row_id, "its stored form was edited (unreadable)"
                )
            problem = walk.problem(row)
            if problem is not None:
                return ChainReport(False, walk.checked, row.id, problem, walk.legacy)
            seen += 1
            if progress and walk.checked % 100_000 == 0:
                progress(walk.checked)
        return None

    @staticmethod
    async def _ends(uow: UnitOfWork, walk: ChainWalk, head: AuditHead | None) -> ChainReport:
        """The head record and every anchor against the walked chain."""
        checked = walk.checked
        if head is None and checked:
            return ChainReport(False, checked, None, "the chain head record is missing")
        if head is not None and (head.last_id != checked or head.last_hash != walk.prev):
            return ChainReport(
                False,
                checked,
                head.last_id,
                f"the newest rows are missing: head says row {head.last_id}, "
                f"the log ends at row {checked}",
                walk.legacy,
            )
        anchored = newest = 0
        async for anchor in uow.anchors.iter_all():
            link = await uow.anchors.link_of(anchor.last_audit_id)
            if link is None or link != anchor.link or anchor.last_audit_id < newest:
                what = (
                    f"names a row the log no longer has (it ends at row {checked}): rows were "
                    "deleted or the file was rolled back"
                    if link is None
                    else "does not match the log: rows were rewritten"
                )
                return ChainReport(
                    False,
                    checked,
                    anchor.last_audit_id,
                    f"anchor #{anchor.id} (row {anchor.last_audit_id}, link "
                    f"{anchor.link[:16]}…) {what}",
                    walk.legacy,
                    walk.prev,
                    anchored,
                )
            newest = anchor.last_audit_id
            anchored += 1
        return ChainReport(True, checked, None, "", walk.legacy, walk.prev, anchored)

    async def export(self, since: datetime | None = None) -> AsyncIterator[AuditRow]:
        """Yield rows in order (from ``since``, if given)."""
        async with self._uow_factory(read_only=True) as uow:
            async for row in uow.audit.iter_rows(since=since):
                yield row
