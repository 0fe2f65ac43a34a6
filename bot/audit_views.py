"""Audit rows, alerts and notices rendered as Telegram HTML (every value escaped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any

from bot import texts
from bot.wording import count
from core.audit.notices import REFERRAL_CREDITED
from core.audit.ports import AlertRecord, AlertStatus, AuditRow, NoticeRecord
from core.audit.support import SUPPORT_RULE
from core.money import format_usdt

_DETAIL_CHARS = 100
_VALUE_CHARS = 80
_SHOWN_IN_EVIDENCE = {"count", "threshold", "window_minutes", "per", "amount_micro"}
_HIDDEN_IN_EVIDENCE = {"threshold_micro", "trigger_event_id"}


def when(ts: datetime, *, seconds: bool = True) -> str:
    """A record's datetime → ``2026-01-01 10:00:05`` (UTC)."""
    moment = ts.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def rule_label(rule: str) -> str:
    """Human name of a detection rule (unknown rules: their id, readable)."""
    return texts.RULE_LABELS.get(rule, rule.replace("_", " ").capitalize())


def severity_icon(severity: str) -> str:
    """🚨 / ⚠️ / ℹ️."""
    return texts.SEVERITY_ICONS.get(severity, "ℹ️")


def _short(value: Any, limit: int = _VALUE_CHARS) -> str:
    if isinstance(value, list | tuple):
        value = ", ".join(str(item) for item in value)
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def evidence_text(evidence: dict[str, Any]) -> str:
    """A short, escaped summary of an alert's evidence."""
    parts = []
    if "count" in evidence and "window_minutes" in evidence:
        part = (
            f"{evidence['count']} in {evidence['window_minutes']} min "
            f"(threshold {evidence.get('threshold', '?')})"
        )
        if evidence.get("per"):
            part += f", per {str(evidence['per']).replace('_', ' ')}"
        parts.append(part)
    amount = evidence.get("amount_micro")
    if isinstance(amount, int) and not isinstance(amount, bool):
        part = f"{format_usdt(amount)} USDT"
        limit = evidence.get("threshold_micro")
        if isinstance(limit, int) and not isinstance(limit, bool):
            part += f" (threshold {format_usdt(limit)} USDT)"
        parts.append(part)
    for key in sorted(evidence):
        if key not in _SHOWN_IN_EVIDENCE and key not in _HIDDEN_IN_EVIDENCE:
            parts.append(f"{key}: {_short(evidence[key])}")
    return escape("; ".join(parts) or "—")


def who_text(account_id: int | None, telegram_user_id: int | None, subject: str) -> str:
    """``account #12 · Telegram user 345`` (escaped)."""
    parts = []
    if account_id is not None:
        parts.append(f"account #{account_id}")
    if telegram_user_id is not None:
        parts.append(f"Telegram user {telegram_user_id}")
    return escape(" · ".join(parts) or subject)


def audit_command(account_id: int | None, telegram_user_id: int | None) -> str:
    """The /audit command that shows this subject's trail."""
    if account_id is not None:
        return f"/audit {account_id}"
    if telegram_user_id is not None:
        return f"/audit tg:{telegram_user_id}"
    return "/alerts"


def alert_message(alert: AlertRecord) -> str:
    """The message delivered to the admin chat."""
    if alert.rule == SUPPORT_RULE:
        return support_message(alert)
    lines = [
        texts.ALERT_TITLE.format(
            icon=severity_icon(alert.severity), rule=escape(rule_label(alert.rule))
        ),
        texts.ALERT_WHO.format(
            who=who_text(alert.account_id, alert.telegram_user_id, alert.subject)
        ),
        texts.ALERT_WHEN.format(when=when(alert.created_at)),
        texts.ALERT_EVIDENCE.format(evidence=evidence_text(alert.evidence)),
    ]
    if (hint := texts.RULE_HINTS.get(alert.rule)) is not None:  # what the admins can do
        lines.append(hint)
    if alert.folded:
        lines.append(texts.ALERT_FOLDED.format(count=count(alert.folded, "more hit")))
    lines.append(
        texts.ALERT_MORE.format(
            audit=audit_command(alert.account_id, alert.telegram_user_id),
            event_id=alert.audit_event_id,
        )
    )
    return "\n".join(lines)


def _ref(value: object) -> str:
    return f"#{value}" if isinstance(value, int) and not isinstance(value, bool) else "none"


def support_message(alert: AlertRecord) -> str:
    """The admin-chat message of a support-request alert. The user's text is escaped here,
    so HTML or entities they typed arrive as the characters they typed, never as markup."""
    evidence = alert.evidence
    email = evidence.get("email")
    lines = [
        texts.SUPPORT_ALERT_TITLE.format(reference=alert.audit_event_id),
        texts.SUPPORT_ALERT_WHO.format(
            who=who_text(alert.account_id, alert.telegram_user_id, alert.subject)
        ),
        texts.ALERT_WHEN.format(when=when(alert.created_at)),
        texts.SUPPORT_ALERT_EMAIL.format(email=escape(email))
        if isinstance(email, str)
        else texts.SUPPORT_ALERT_NOT_LOGGED_IN,
        texts.SUPPORT_ALERT_LAST.format(
            invoice=_ref(evidence.get("last_invoice_id")),
            payment=_ref(evidence.get("last_payment_id")),
        ),
        texts.SUPPORT_ALERT_MESSAGE.format(message=escape(str(evidence.get("message", "")))),
    ]
    if alert.telegram_user_id is not None:
        lines.append(texts.SUPPORT_ALERT_REPLY.format(telegram_user_id=alert.telegram_user_id))
    return "\n".join(lines)


def alert_line(alert: AlertRecord) -> str:
    """One line of /alerts."""
    line = (
        f"{severity_icon(alert.severity)} <code>{when(alert.created_at, seconds=False)}</code> "
        f"<b>{escape(rule_label(alert.rule))}</b> — "
        f"{who_text(alert.account_id, alert.telegram_user_id, alert.subject)}"
    )
    if alert.hits > 1:
        line += f" ({alert.hits} hits)"
    if alert.status is not AlertStatus.SENT:
        line += " " + texts.ALERT_PENDING.format(attempts=alert.attempts)
    return line


def _activity_label(row: AuditRow) -> str:
    label = texts.EVENT_LABELS.get(row.event_type, row.event_type.replace("_", " ").lower())
    details = row.details
    if row.event_type == "SUSPICIOUS_ACTIVITY":
        label += f": {rule_label(str(details.get('rule', '')))}"
    elif row.event_type == "LOGIN_SUCCESS" and details.get("new_telegram_account") is True:
        label += " (new Telegram account)"
    elif row.event_type == "EMAIL_CHANGED" and "new" in details:
        label += f" (now {_short(details['new'])})"
    elif row.event_type.startswith("API_KEY_") and "exchange" in details:
        label += f" ({_short(details['exchange'])}, {_short(details.get('label', ''))})"
    return escape(label)


def activity_line(row: AuditRow, viewer_telegram_user_id: int) -> str:
    """One line of a user's own /activity."""
    line = f"<code>{when(row.ts, seconds=False)}</code> {_activity_label(row)}"
    if row.telegram_user_id == viewer_telegram_user_id:
        line += f" · {texts.FROM_THIS_TELEGRAM}"
    elif row.telegram_user_id is not None:
        line += f" · {texts.FROM_OTHER_TELEGRAM}"
    return line


def audit_line(row: AuditRow) -> str:
    """One line of an admin's /audit: id, time, type, who, compact details."""
    who = []
    if row.account_id is not None:
        who.append(f"acc {row.account_id}")
    if row.telegram_user_id is not None:
        who.append(f"tg {row.telegram_user_id}")
    details = json.dumps(row.details, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return (
        f"#{row.id} <code>{when(row.ts)}</code> {severity_icon(row.severity)} "
        f"<b>{escape(row.event_type)}</b> {escape(' '.join(who))} "
        f"<code>{escape(_short(details, _DETAIL_CHARS))}</code>"
    )


def notice_text(notice: NoticeRecord) -> str:
    """The message telling an account owner about a security change."""
    details = notice.details

    def field(name: str) -> str:
        return escape(_short(details.get(name, "?")))

    if notice.event_type == REFERRAL_CREDITED:
        amount = details.get("amount_micro")
        shown = format_usdt(amount) if isinstance(amount, int) else "?"
        return texts.NOTICE_REFERRAL_CREDITED.format(amount=shown)
    if notice.event_type == "EMAIL_CHANGED":
        return texts.NOTICE_EMAIL_CHANGED.format(old=field("old"), new=field("new"))
    key = {"exchange": field("exchange"), "label": field("label"), "masked": field("masked_key")}
    if notice.event_type == "API_KEY_ADDED":
        return texts.NOTICE_API_KEY_ADDED.format(**key)
    if notice.event_type == "API_KEY_DELETED":
        return texts.NOTICE_API_KEY_DELETED.format(**key)
    security = _security_notice(notice)
    if security is not None:
        return security
    what = texts.EVENT_LABELS.get(notice.event_type, notice.event_type).lower()
    return texts.NOTICE_GENERIC.format(what=escape(what))


def _security_notice(notice: NoticeRecord) -> str | None:
    """2FA changes, new backup codes and withdrawals (SPEC §10), or None for other events."""
    details = notice.details
    if notice.event_type == "MFA_ENABLED":
        return texts.NOTICE_MFA_ENABLED
    if notice.event_type == "MFA_DISABLED":
        return texts.NOTICE_MFA_DISABLED
    if notice.event_type == "SETTINGS_CHANGED" and details.get("change") == (
        "backup_codes_regenerated"
    ):
        return texts.NOTICE_BACKUP_CODES
    if notice.event_type == "ACCOUNT_DELETED":
        return texts.NOTICE_ACCOUNT_DELETED
    if notice.event_type == "LOGIN_SUCCESS":
        return texts.NOTICE_LOGIN
    if notice.event_type == "WITHDRAWAL_REQUESTED":
        amount = details.get("amount_micro")
        return texts.NOTICE_WITHDRAWAL.format(
            amount=format_usdt(amount) if isinstance(amount, int) else "?",
            address=escape(_short(details.get("address", "?"))),
            id=escape(_short(details.get("withdrawal_id", "?"))),
        )
    return None
