"""What audit needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Severity(StrEnum):
    """How serious an audit event or alert is (stored as its value)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    """Where an admin alert stands in the outbox (stored as its value)."""

    PENDING = "pending"
    SENT = "sent"


@dataclass(frozen=True)
class AuditRow:
    """One stored audit event, exactly as hashed (``ts`` hashes as its stored text,
    :func:`core.clock.to_iso`, which storage reads back exactly: see
    :class:`UnreadableAuditRow`)."""

    id: int
    ts: datetime
    event_type: str
    severity: str
    account_id: int | None
    telegram_user_id: int | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    key_id: str | None = None  # the chain key's id; None for a row from before keying


class UnreadableAuditRow(ValueError):
    """A stored audit row storage cannot read back exactly as it was written (its time is not
    in the stored form, its details are not JSON): it was edited outside the app."""

    def __init__(self, row_id: int) -> None:
        super().__init__(f"audit row {row_id} is not in its stored form")
        self.row_id = row_id


@dataclass(frozen=True)
class AuditHead:
    """The newest link of the chain, kept separately so a deleted tail is detected."""

    last_id: int
    last_hash: str
    key_id: str | None = None  # the key the newest row was chained under


class AuditRepository(Protocol):
    """Append-only storage of the audit chain."""

    async def head(self) -> AuditHead | None:
        """Return the newest link, or None for an empty log."""
        ...

    async def append(self, row: AuditRow) -> None:
        """Store ``row`` and make it the head."""
        ...

    async def sealed_keys(self) -> list[tuple[str, str]]:
        """(key id, sealed key) of every retired chain key kept in the database."""
        ...

    async def keep_sealed_keys(self, keys: Sequence[tuple[str, str]], at: datetime) -> None:
        """Keep these sealed retired chain keys (a key id already kept stays as it is)."""
        ...

    def iter_rows(
        self, *, since: datetime | None = None, batch: int = 5000, after: int = 0
    ) -> AsyncIterator[AuditRow]:
        """Yield every row in id order (optionally from a timestamp on, or after row
        ``after``), in batches."""
        ...


@dataclass(frozen=True)
class RuleCount:
    """One rule over a period: hits (folded ones included), subjects, alerts sent/pending."""

    rule: str
    hits: int
    subjects: int
    alerts_sent: int
    alerts_pending: int


class AuditSearchRepository(Protocol):
    """Indexed reads of the audit log: window counts for detection, pages for people."""

    async def count_since(
        self,
        event_types: Sequence[str],
        *,
        since: datetime,
        cap: int,
        account_id: int | None = None,
        telegram_user_id: int | None = None,
    ) -> int:
        """Events of these types for this account (or Telegram user) with ``ts > since``,
        counted up to ``cap`` (so the cost stays bounded however busy the subject is)."""
        ...

    async def page(
        self,
        *,
        limit: int,
        account_id: int | None = None,
        telegram_user_id: int | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[AuditRow]:
        """Up to ``limit`` events of one account (or Telegram user), newest first, strictly
        older than ``before_id`` or strictly newer than ``after_id``."""
        ...


@dataclass(frozen=True)
class AlertRecord:
    """One admin alert in the outbox."""

    id: int
    created_at: datetime
    rule: str
    severity: Severity
    subject: str
    account_id: int | None
    telegram_user_id: int | None
    audit_event_id: int
    evidence: dict[str, Any]
    folded: int  # hits folded since the previous alert of this rule and subject
    hits: int  # this hit plus those folded into it so far
    status: AlertStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class DedupeState:
    """When a rule last alerted about a subject, and the hits folded since."""

    last_alert_at: datetime
    folded: int


class AlertsRepository(Protocol):
    """The admin alert outbox and its dedupe state."""

    async def dedupe_state(self, rule: str, subject: str) -> DedupeState | None:
        """The newest alert time and folded count for ``rule`` + ``subject``."""
        ...

    async def fold(self, rule: str, subject: str) -> int:
        """Count one more hit folded into the current window; return the new count."""
        ...

    async def add(
        self,
        *,
        created_at: datetime,
        rule: str,
        severity: Severity,
        subject: str,
        account_id: int | None,
        telegram_user_id: int | None,
        audit_event_id: int,
        evidence: dict[str, Any],
        folded: int,
    ) -> int:
        """Queue an alert (due at once) and restart the dedupe window; return its id."""
        ...

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[AlertRecord]:
        """Pending alerts due by ``now``, oldest first; each gets one more attempt and is
        hidden until ``lease_until`` (so a crash mid-send only delays it)."""
        ...

    async def mark_sent(self, alert_id: int, *, at: datetime, message_id: int | None) -> None:
        """Telegram accepted it: done for good."""
        ...

    async def reschedule(self, alert_id: int, *, next_attempt_at: datetime, error: str) -> None:
        """A failed attempt: try again at ``next_attempt_at``."""
        ...

    async def recent(self, limit: int) -> list[AlertRecord]:
        """The newest alerts, newest first."""
        ...

    async def summary_since(self, since: datetime) -> list[RuleCount]:
        """Per rule, over alerts created since ``since``, most hits first."""
        ...


@dataclass(frozen=True)
class NoticeRecord:
    """A security notice for one of an account's Telegram accounts."""

    id: int
    created_at: datetime
    telegram_user_id: int
    account_id: int
    audit_event_id: int
    event_type: str
    details: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class RestoreNotice:
    """A Telegram user a restore logged out, still to be told why."""

    telegram_user_id: int
    archive_created_at: datetime
    attempts: int


class RestoreNoticesRepository(Protocol):
    """The outbox of "a restore logged you out" notices (no account needed: the user's may
    not exist in the restored copy)."""

    async def add(
        self, telegram_user_ids: Iterable[int], *, archive_created_at: datetime, at: datetime
    ) -> None:
        """Queue one notice per user."""
        ...

    async def due(self, limit: int) -> list[RestoreNotice]:
        """The oldest undelivered notices."""
        ...

    async def remove(self, telegram_user_id: int) -> None:
        """Delivered, or given up."""
        ...

    async def failed(self, telegram_user_id: int) -> None:
        """One more failed attempt."""
        ...


class NoticesRepository(Protocol):
    """The outbox of security notices to account owners."""

    async def recipients(self, account_id: int, *, since: datetime, limit: int) -> list[int]:
        """Telegram users that logged in to the account since ``since`` (and its last one),
        most recent first."""
        ...

    async def add(
        self,
        *,
        created_at: datetime,
        telegram_user_id: int,
        account_id: int,
        audit_event_id: int,
        event_type: str,
        details: dict[str, Any],
    ) -> int:
        """Queue a notice, due at once; return its id."""
        ...

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[NoticeRecord]:
        """Pending notices due by ``now`` (see :meth:`AlertsRepository.claim_due`)."""
        ...

    async def mark_sent(self, notice_id: int, *, at: datetime) -> None:
        """Delivered."""
        ...

    async def reschedule(self, notice_id: int, *, next_attempt_at: datetime, error: str) -> None:
        """A failed attempt: try again later."""
        ...

    async def give_up(self, notice_id: int, *, error: str) -> None:
        """Undeliverable (the user blocked the bot, the chat is gone): stop trying."""
        ...


@dataclass(frozen=True)
class PlatformStats:
    """The admin's one-glance numbers (/stats)."""

    users: int
    active_licenses: int
    pending_payments: int
    alerts_today: int


class StatsRepository(Protocol):
    """Counts across the platform."""

    async def snapshot(self, *, now: datetime, day_start: datetime) -> PlatformStats:
        """Users, licenses active at ``now``, pending payments, alerts since ``day_start``."""
        ...


@dataclass(frozen=True)
class Anchor:
    """A chain head shown outside the database (the admin chat) so a rollback shows up.

    Recorded first (``message_id`` None), then posted; ``posted_at`` is Telegram's time."""

    id: int
    last_audit_id: int
    link: str
    reason: str
    recorded_at: datetime
    chat_id: int | None = None
    message_id: int | None = None
    posted_at: datetime | None = None


class AnchorsRepository(Protocol):
    """Append-only record of the anchors (an anchor's post is filled in once)."""

    async def add(self, last_audit_id: int, link: str, reason: str, at: datetime) -> Anchor:
        """Record an anchor of the given head, not posted yet."""
        ...

    async def mark_posted(
        self, anchor_id: int, chat_id: int, message_id: int, at: datetime
    ) -> None:
        """Fill in where and when the anchor was posted."""
        ...

    async def unposted(self) -> list[Anchor]:
        """Anchors recorded but not posted yet, oldest first."""
        ...

    async def last(self) -> Anchor | None:
        """The newest anchor."""
        ...

    def iter_all(self) -> AsyncIterator[Anchor]:
        """Every anchor, oldest first."""
        ...

    async def link_of(self, audit_id: int) -> str | None:
        """The stored link of audit row ``audit_id`` (None when there is no such row)."""
        ...

    async def restored_since(self, since: datetime) -> list[AuditRow]:
        """BACKUP_RESTORED rows written at or after ``since``."""
        ...
