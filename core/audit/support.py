"""Support requests (``/paysupport``): a user's short message to the admin chat (SPEC §11, §12).

A request is audited as a SUPPORT_REQUESTED event (the message's length only: the audit log is
kept for good, so the user's words are not written into it) and queued in the admin alert
outbox with what an admin needs to help: the account's email when logged in, the Telegram id,
and the newest invoice and payment ids. The outbox delivers it like any alert (never dropped).
Each Telegram user may send :data:`PER_WINDOW` requests per :data:`WINDOW`, so nobody can
flood the admin chat through this door (the command rate limit applies on top).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.audit.detection import account_subject, telegram_subject
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import Clock
from core.errors import Reason, Refusal
from core.ports import UnitOfWork

SUPPORT_RULE = "support_request"  # the alert kind the admin chat renders as a request
MAX_CHARS = 1000
PER_WINDOW = 3
WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class SupportMessageEmpty(Reason):
    """The message had no text worth sending."""


@dataclass(frozen=True)
class SupportMessageTooLong(Reason):
    """The message is longer than ``limit`` characters."""

    limit: int
    length: int


@dataclass(frozen=True)
class SupportRequestsTooMany(Reason):
    """This Telegram user already sent ``limit`` requests within ``minutes``."""

    limit: int
    minutes: int


@dataclass(frozen=True)
class SupportReceipt:
    """What the user is told: the request's reference (its audit event id)."""

    reference: int


def check_message(text: str) -> str:
    """The message to send, stripped; refuses an empty or too long one."""
    message = text.strip()
    if not message:
        raise Refusal(SupportMessageEmpty())
    if len(message) > MAX_CHARS:
        raise Refusal(SupportMessageTooLong(MAX_CHARS, len(message)))
    return message


class SupportService:
    """Support requests from users to the admin chat, through the alert outbox."""

    def __init__(self, uow_factory: Callable[..., UnitOfWork], clock: Clock, log: AuditLog) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._log = log

    async def allowed(self, telegram_user_id: int) -> None:
        """Refuse (before the user types anything) when this user is at the hourly limit."""
        async with self._uow(read_only=True) as uow:
            await self._check_quota(uow, telegram_user_id)

    async def request(
        self, telegram_user_id: int, account_id: int | None, text: str
    ) -> SupportReceipt:
        """Queue ``text`` for the admin chat with the user's context; audit it. The message is
        checked again here (length, quota) in the transaction that writes it."""
        message = check_message(text)
        async with self._uow() as uow:
            await self._check_quota(uow, telegram_user_id)
            evidence: dict[str, Any] = {"message": message}
            if account_id is not None:
                user = await uow.accounts.by_id(account_id)
                if user is not None:
                    evidence["email"] = user.email
                invoices = await uow.payments.invoices_for(account_id, 1)
                if invoices:
                    evidence["last_invoice_id"] = invoices[0].id
                payments = await uow.payments.payments_for(account_id, 1)
                if payments:
                    evidence["last_payment_id"] = payments[0].id
            row = await self._log.append(
                uow,
                AuditEvent(
                    EventType.SUPPORT_REQUESTED,
                    Severity.INFO,
                    account_id=account_id,
                    telegram_user_id=telegram_user_id,
                    details={"length": len(message)},
                ),
            )
            subject = (
                account_subject(account_id)
                if account_id is not None
                else telegram_subject(telegram_user_id)
            )
            await uow.alerts.add(
                created_at=row.ts,
                rule=SUPPORT_RULE,
                severity=Severity.INFO,
                subject=subject,
                account_id=account_id,
                telegram_user_id=telegram_user_id,
                audit_event_id=row.id,
                evidence=evidence,
                folded=0,
            )
            await uow.commit()
        return SupportReceipt(row.id)

    async def _check_quota(self, uow: UnitOfWork, telegram_user_id: int) -> None:
        since = self._clock.now() - WINDOW
        sent = await uow.audit_search.count_since(
            [str(EventType.SUPPORT_REQUESTED)],
            since=since,
            cap=PER_WINDOW,
            telegram_user_id=telegram_user_id,
        )
        if sent >= PER_WINDOW:
            raise Refusal(SupportRequestsTooMany(PER_WINDOW, int(WINDOW.total_seconds() // 60)))
