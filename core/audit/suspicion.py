"""Suspicious things payments notice themselves (reused hashes, fake tokens, tampered rows).

A thin binding of :func:`core.audit.detection.report_finding` (SUSPICIOUS_ACTIVITY event + alert in
the outbox, folded within the dedupe window) to the audit log, the clock and the settings, so
services only name the rule, the account and the evidence.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from core.audit.detection import Finding, account_subject, report_finding, telegram_subject
from core.audit.log import AuditLog, Severity
from core.clock import Clock
from core.config import AlertSettings
from core.ports import UnitOfWork

# A signed row (invoice, payment, license, ledger entry) whose signature does not verify.
RULE_SIGNATURE_INVALID = "signature_invalid"


class OwnedRow(Protocol):
    """A row that belongs to an account and a Telegram user (a payment, an invoice …)."""

    @property
    def id(self) -> int: ...
    @property
    def account_id(self) -> int: ...
    @property
    def telegram_user_id(self) -> int: ...


class SuspicionReporter:
    """Raises a feature's own findings inside the caller's unit of work."""

    def __init__(self, audit: AuditLog, clock: Clock, settings: AlertSettings) -> None:
        self._audit = audit
        self._clock = clock
        self._dedupe = timedelta(minutes=settings.dedupe_minutes)

    async def report(
        self,
        uow: UnitOfWork,
        rule: str,
        severity: Severity,
        *,
        account_id: int | None,
        telegram_user_id: int | None,
        evidence: dict[str, Any],
    ) -> None:
        """Write SUSPICIOUS_ACTIVITY and queue (or fold) its admin alert inside ``uow``."""
        subject = (
            account_subject(account_id)
            if account_id is not None
            else telegram_subject(telegram_user_id or 0)
        )
        await report_finding(
            uow,
            self._audit,
            Finding(rule, severity, subject, account_id, telegram_user_id, evidence),
            at=self._clock.now(),
            dedupe=self._dedupe,
        )

    async def report_once(self, uow: UnitOfWork, rule: str, kind: str, row: OwnedRow) -> bool:
        """Raise ``rule`` about one row (subject ``kind:id``, e.g. ``payment:7``) only if it never
        alerted about that row before, however often it is seen again (a re-check job sees it
        every round); the alert outbox's dedupe row is the memory. True when this call raised
        it."""
        subject = f"{kind}:{row.id}"
        if await uow.alerts.dedupe_state(rule, subject) is not None:
            return False
        evidence: dict[str, Any] = {f"{kind}_id": row.id}
        finding = Finding(
            rule, Severity.WARNING, subject, row.account_id, row.telegram_user_id, evidence
        )
        await report_finding(uow, self._audit, finding, at=self._clock.now(), dedupe=self._dedupe)
        return True

    async def report_tampered(
        self, uow: UnitOfWork, row: str, row_id: int, account_id: int | None
    ) -> None:
        """A signed row failed its signature: it is not trusted, and the admins hear of it."""
        await self.report(
            uow,
            RULE_SIGNATURE_INVALID,
            Severity.CRITICAL,
            account_id=account_id,
            telegram_user_id=None,
            evidence={"row": row, "row_id": row_id},
        )
