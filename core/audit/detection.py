"""Suspicious-activity detection (SPEC §6), evaluated as each event is appended.

:class:`Detector` is an :class:`~core.audit.log.AuditObserver`: the audit log hands it every new
event inside the unit of work that wrote it. A rule that hits writes a SUSPICIOUS_ACTIVITY
event and, unless the same rule already alerted about the same subject within the dedupe
window, a row in the alert outbox; both commit (or roll back) with the triggering event.

Windowed rules count the subject's events with one indexed range read each, capped at
:data:`COUNT_CAP` rows, so evaluating an event costs the same on an empty log and on one with
millions of rows. A count at or above the threshold is a hit; hits after the first in a window
are folded, and the next alert about that rule and subject says how many were folded in.

Event contracts the rules rely on:

* LOGIN_FAILED — per account (``account_id``; None for unknown emails) and per Telegram user.
* MFA_FAILED — per account; ``details["reason"] == "replay"`` marks a reused TOTP code.
* API_KEY_ADDED / API_KEY_UPDATED / API_KEY_DELETED — per account.
* WITHDRAWAL_REQUESTED — ``details["amount_micro"]`` (int, micro-USDT).
* LOGIN_SUCCESS — ``details["new_telegram_account"] is True``.
* ADMIN_ACTION — ``details["outcome"] == "denied"`` (a non-admin tried an admin command).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.audit.ports import AuditRow
from core.config import AlertSettings
from core.ports import UnitOfWork

COUNT_CAP = 1000
API_KEY_EVENTS = (
    str(EventType.API_KEY_ADDED),
    str(EventType.API_KEY_UPDATED),
    str(EventType.API_KEY_DELETED),
)


class Rule(StrEnum):
    """The detection rules; the value is what audit details and alert rows carry."""

    FAILED_LOGINS = "failed_logins"
    FAILED_2FA = "failed_2fa"
    TOTP_REPLAY = "totp_replay"
    API_KEY_CHANGES = "api_key_changes"
    LARGE_WITHDRAWAL = "large_withdrawal"
    NEW_TELEGRAM_ACCOUNT = "new_telegram_account"
    ADMIN_COMMAND_DENIED = "admin_command_denied"


def account_subject(account_id: int) -> str:
    """The dedupe subject for an account."""
    return f"account:{account_id}"


def telegram_subject(telegram_user_id: int) -> str:
    """The dedupe subject for a Telegram user."""
    return f"telegram:{telegram_user_id}"


@dataclass(frozen=True)
class Finding:
    """One rule hit about one subject."""

    rule: Rule | str  # a Rule, or a feature's own rule id
    severity: Severity
    subject: str
    account_id: int | None
    telegram_user_id: int | None
    evidence: dict[str, Any] = field(default_factory=dict)
    window: timedelta = timedelta(0)  # the rule's counting window (zero: a single event)


class Detector:
    """Evaluates the rules for each appended event and raises alerts (an AuditObserver)."""

    def __init__(self, settings: AlertSettings) -> None:
        self._settings = settings

    async def observe(self, uow: UnitOfWork, row: AuditRow, log: AuditLog) -> None:
        """Evaluate ``row``; record and queue whatever hits."""
        for finding in await self.evaluate(uow, row):
            await self._report(uow, row, finding, log)

    async def evaluate(self, uow: UnitOfWork, row: AuditRow) -> list[Finding]:
        """The rules ``row`` makes hit (it is already stored, so it counts itself)."""
        kind = row.event_type
        if kind == EventType.LOGIN_FAILED:
            return await self._failed_logins(uow, row)
        if kind == EventType.MFA_FAILED:
            return await self._failed_2fa(uow, row)
        if kind in API_KEY_EVENTS:
            return await self._api_key_changes(uow, row)
        if kind == EventType.WITHDRAWAL_REQUESTED:
            return self._large_withdrawal(row)
        if kind == EventType.LOGIN_SUCCESS and row.details.get("new_telegram_account") is True:
            return [
                Finding(
                    Rule.NEW_TELEGRAM_ACCOUNT,
                    Severity.WARNING,
                    *_who(row),
                )
            ]
        if kind == EventType.ADMIN_ACTION and row.details.get("outcome") == "denied":
            if row.telegram_user_id is None:
                return []
            action = str(row.details.get("action", "?"))[:64]
            return [
                Finding(
                    Rule.ADMIN_COMMAND_DENIED,
                    Severity.WARNING,
                    telegram_subject(row.telegram_user_id),
                    None,
                    row.telegram_user_id,
                    {"action": action},
                )
            ]
        return []

    # --- the rules -------------------------------------------------------------------------

    async def _count(
        self,
        uow: UnitOfWork,
        row: AuditRow,
        event_types: tuple[str, ...],
        window: timedelta,
        *,
        account_id: int | None = None,
        telegram_user_id: int | None = None,
    ) -> int:
        since = row.ts - window
        return await uow.audit_search.count_since(
            event_types,
            since=since,
            cap=COUNT_CAP,
            account_id=account_id,
            telegram_user_id=telegram_user_id,
        )

    async def _failed_logins(self, uow: UnitOfWork, row: AuditRow) -> list[Finding]:
        threshold = self._settings.failed_logins
        window = timedelta(minutes=self._settings.failed_logins_minutes)
        types = (str(EventType.LOGIN_FAILED),)
        found = []
        if row.account_id is not None:
            count = await self._count(uow, row, types, window, account_id=row.account_id)
            if count >= threshold:
                found.append(
                    Finding(
                        Rule.FAILED_LOGINS,
                        Severity.WARNING,
                        account_subject(row.account_id),
                        row.account_id,
                        row.telegram_user_id,
                        _window_evidence(count, threshold, window, per="account"),
                        window,
                    )
                )
        if row.telegram_user_id is not None:
            count = await self._count(
                uow, row, types, window, telegram_user_id=row.telegram_user_id
            )
            if count >= threshold:
                found.append(
                    Finding(
                        Rule.FAILED_LOGINS,
                        Severity.WARNING,
                        telegram_subject(row.telegram_user_id),
                        None,
                        row.telegram_user_id,
                        _window_evidence(count, threshold, window, per="telegram_user"),
                        window,
                    )
                )
        return found

    async def _failed_2fa(self, uow: UnitOfWork, row: AuditRow) -> list[Finding]:
        subject, account_id, telegram_user_id = _who(row)
        if not subject:
            return []
        found = []
        if row.details.get("reason") == "replay":
            found.append(
                Finding(
                    Rule.TOTP_REPLAY,
                    Severity.CRITICAL,
                    subject,
                    account_id,
                    telegram_user_id,
                    {"reason": "replay"},
                )
            )
        threshold = self._settings.failed_2fa
        window = timedelta(minutes=self._settings.failed_2fa_minutes)
        types = (str(EventType.MFA_FAILED),)
        if account_id is not None:
            count = await self._count(uow, row, types, window, account_id=account_id)
        else:
            count = await self._count(uow, row, types, window, telegram_user_id=telegram_user_id)
        if count >= threshold:
            found.append(
                Finding(
                    Rule.FAILED_2FA,
                    Severity.CRITICAL,
                    subject,
                    account_id,
                    telegram_user_id,
                    _window_evidence(count, threshold, window),
                    window,
                )
            )
        return found

    async def _api_key_changes(self, uow: UnitOfWork, row: AuditRow) -> list[Finding]:
        if row.account_id is None:
            return []
        threshold = self._settings.api_key_changes
        window = timedelta(minutes=self._settings.api_key_changes_minutes)
        count = await self._count(uow, row, API_KEY_EVENTS, window, account_id=row.account_id)
        if count < threshold:
            return []
        return [
            Finding(
                Rule.API_KEY_CHANGES,
                Severity.WARNING,
                account_subject(row.account_id),
                row.account_id,
                row.telegram_user_id,
                _window_evidence(count, threshold, window),
                window,
            )
        ]

    def _large_withdrawal(self, row: AuditRow) -> list[Finding]:
        amount = row.details.get("amount_micro")
        threshold = self._settings.large_withdrawal_micro
        subject, account_id, telegram_user_id = _who(row)
        if not subject or not isinstance(amount, int) or isinstance(amount, bool):
            return []
        if amount < threshold:
            return []
        return [
            Finding(
                Rule.LARGE_WITHDRAWAL,
                Severity.CRITICAL,
                subject,
                account_id,
                telegram_user_id,
                {"amount_micro": amount, "threshold_micro": threshold},
            )
        ]

    # --- reporting -------------------------------------------------------------------------

    async def _report(
        self, uow: UnitOfWork, trigger: AuditRow, finding: Finding, log: AuditLog
    ) -> None:
        dedupe = max(timedelta(minutes=self._settings.dedupe_minutes), finding.window)
        await report_finding(uow, log, finding, at=trigger.ts, dedupe=dedupe, trigger_id=trigger.id)


async def report_finding(
    uow: UnitOfWork,
    log: AuditLog,
    finding: Finding,
    *,
    at: datetime,
    dedupe: timedelta,
    trigger_id: int | None = None,
) -> AuditRow:
    """Record a hit inside ``uow``: a SUSPICIOUS_ACTIVITY event always, and an alert in the
    outbox unless the same rule already alerted about the same subject within ``dedupe`` of
    ``at`` (then the hit is folded and the next alert counts it). Returns the event.

    Features that notice something suspicious themselves (not from one appended event) can
    call this with their own :class:`Finding`.
    """
    state = await uow.alerts.dedupe_state(finding.rule, finding.subject)
    folded = state is not None and state.last_alert_at > at - dedupe
    trigger = {"trigger_event_id": trigger_id} if trigger_id is not None else {}
    suspicious = await log.append(
        uow,
        AuditEvent(
            EventType.SUSPICIOUS_ACTIVITY,
            finding.severity,
            account_id=finding.account_id,
            telegram_user_id=finding.telegram_user_id,
            details={
                **finding.evidence,
                **trigger,
                "rule": str(finding.rule),
                "subject": finding.subject,
                "alerted": not folded,
            },
        ),
    )
    if folded:
        await uow.alerts.fold(finding.rule, finding.subject)
        return suspicious
    await uow.alerts.add(
        created_at=suspicious.ts,
        rule=str(finding.rule),
        severity=finding.severity,
        subject=finding.subject,
        account_id=finding.account_id,
        telegram_user_id=finding.telegram_user_id,
        audit_event_id=suspicious.id,
        evidence={**finding.evidence, **trigger},
        folded=state.folded if state is not None else 0,
    )
    return suspicious


def _who(row: AuditRow) -> tuple[str, int | None, int | None]:
    """(subject, account id, Telegram user id) of an event about an account if known."""
    if row.account_id is not None:
        return account_subject(row.account_id), row.account_id, row.telegram_user_id
    if row.telegram_user_id is not None:
        return telegram_subject(row.telegram_user_id), None, row.telegram_user_id
    return "", None, None


def _window_evidence(
    count: int, threshold: int, window: timedelta, *, per: str | None = None
) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "count": count,
        "threshold": threshold,
        "window_minutes": int(window.total_seconds() // 60),
    }
    if per is not None:
        evidence["per"] = per
    return evidence
