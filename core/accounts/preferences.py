"""Which notices an owner receives (/settings, SPEC §11): per kind, on or off, except the
security-critical ones, which stay on whatever is stored.

Every notice the bot sends an owner about their account is a *topic* of one *kind*:

- ``logins``: a login from a Telegram account other than the one that logged in last
  (**critical**: told to that previous account), and every other login, told to the
  account's other Telegram accounts (optional, off by default: routine for anyone with two
  devices).
- ``factors``: password changed, email changed, 2FA turned on or off, the account deleted
  (**critical**: someone holding the phone for a minute must not be able to hide them); new
  backup codes and API keys added or deleted (optional, on by default).
- ``payments``: withdrawals requested (**critical**: money leaving); referral commissions
  credited, and what a job or an admin decided about a payment after the payer's own /pay had
  been answered (approved, partly paid, held for review; found by the re-check job or the
  address watcher) (optional, on). The direct answer to the payer's own /pay is not a notice:
  it is always shown.
- ``reminders``: renewal reminders before a license ends (optional, on). A reminder the owner
  turned off is recorded as skipped, never sent later.

The owner turns a *kind* on or off; that silences its optional topics only. A critical topic
is never a choice: :meth:`PreferenceService.choose` takes kinds, never topics, and
:func:`wanted` answers True for a critical topic before it looks at anything stored, so no
forged button, hand-edited row or old value can silence one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.accounts.refusals import NoticeKindUnknown
from core.accounts.sessions import Session, SessionService
from core.audit.log import AuditEvent, AuditLog, EventType
from core.clock import Clock
from core.errors import Refusal
from core.ports import UnitOfWork


class NoticeKind(StrEnum):
    """What the owner turns on or off (stored as its value)."""

    LOGINS = "logins"
    FACTORS = "factors"
    PAYMENTS = "payments"
    REMINDERS = "reminders"


DEFAULTS: Mapping[NoticeKind, bool] = {
    NoticeKind.LOGINS: False,
    NoticeKind.FACTORS: True,
    NoticeKind.PAYMENTS: True,
    NoticeKind.REMINDERS: True,
}


@dataclass(frozen=True)
class NoticeTopic:
    """One kind of message the owner may get; ``critical`` ones cannot be turned off."""

    key: str
    kind: NoticeKind
    critical: bool


TOPICS: tuple[NoticeTopic, ...] = (
    NoticeTopic("new_telegram_login", NoticeKind.LOGINS, critical=True),
    NoticeTopic("login", NoticeKind.LOGINS, critical=False),
    NoticeTopic("password_changed", NoticeKind.FACTORS, critical=True),
    NoticeTopic("email_changed", NoticeKind.FACTORS, critical=True),
    NoticeTopic("mfa_enabled", NoticeKind.FACTORS, critical=True),
    NoticeTopic("mfa_disabled", NoticeKind.FACTORS, critical=True),
    NoticeTopic("account_deleted", NoticeKind.FACTORS, critical=True),
    NoticeTopic("backup_codes", NoticeKind.FACTORS, critical=False),
    NoticeTopic("api_keys", NoticeKind.FACTORS, critical=False),
    NoticeTopic("withdrawal", NoticeKind.PAYMENTS, critical=True),
    NoticeTopic("referral_credit", NoticeKind.PAYMENTS, critical=False),
    NoticeTopic("payment_news", NoticeKind.PAYMENTS, critical=False),
    NoticeTopic("reminder", NoticeKind.REMINDERS, critical=False),
)
_BY_KEY = {topic.key: topic for topic in TOPICS}
# The notice outbox's event types (core/audit/notices.py) → topic keys.
_BY_EVENT = {
    str(EventType.PASSWORD_CHANGED): "password_changed",
    str(EventType.EMAIL_CHANGED): "email_changed",
    str(EventType.MFA_ENABLED): "mfa_enabled",
    str(EventType.MFA_DISABLED): "mfa_disabled",
    str(EventType.ACCOUNT_DELETED): "account_deleted",
    str(EventType.API_KEY_ADDED): "api_keys",
    str(EventType.API_KEY_DELETED): "api_keys",
    str(EventType.WITHDRAWAL_REQUESTED): "withdrawal",
    "REFERRAL_CREDITED": "referral_credit",  # core.audit.notices.REFERRAL_CREDITED
}


def topic(key: str) -> NoticeTopic:
    """The topic called ``key`` (KeyError when there is none)."""
    return _BY_KEY[key]


def topic_of(event_type: str, details: Mapping[str, Any]) -> NoticeTopic | None:
    """The topic of a notice about ``event_type`` (None: not a notice this module knows,
    which :func:`wanted` delivers, as before preferences existed)."""
    if event_type == EventType.LOGIN_SUCCESS:
        new = details.get("new_telegram_account") is True
        return _BY_KEY["new_telegram_login" if new else "login"]
    if event_type == EventType.SETTINGS_CHANGED:
        change = details.get("change")
        return _BY_KEY["backup_codes"] if change == "backup_codes_regenerated" else None
    key = _BY_EVENT.get(event_type)
    return _BY_KEY[key] if key else None


def chosen(choices: Mapping[str, bool], kind: NoticeKind) -> bool:
    """Whether ``kind`` is on, given the stored choices (its default when none)."""
    stored = choices.get(str(kind))
    return DEFAULTS[kind] if stored is None else stored


def wanted(choices: Mapping[str, bool], notice: NoticeTopic | None) -> bool:
    """Whether a notice of this topic goes out: always when critical (checked first, so no
    stored value can silence it) or unknown; otherwise as its kind is chosen."""
    if notice is None or notice.critical:
        return True
    return chosen(choices, notice.kind)


@dataclass(frozen=True)
class NoticeChoice:
    """One kind as /settings shows it."""

    kind: NoticeKind
    enabled: bool
    optional: tuple[NoticeTopic, ...]  # what turning it off silences
    always: tuple[NoticeTopic, ...]  # critical: stays on


def choices_view(choices: Mapping[str, bool]) -> list[NoticeChoice]:
    """Every kind, in menu order, with its state and topics."""
    return [
        NoticeChoice(
            kind,
            chosen(choices, kind),
            tuple(t for t in TOPICS if t.kind is kind and not t.critical),
            tuple(t for t in TOPICS if t.kind is kind and t.critical),
        )
        for kind in NoticeKind
    ]


async def account_wants(uow: UnitOfWork, account_id: int, notice: NoticeTopic | None) -> bool:
    """:func:`wanted` with the account's stored choices, inside the caller's unit of work."""
    if notice is None or notice.critical:
        return True
    return wanted(await uow.preferences.choices(account_id), notice)


class PreferenceService:
    """Reads and changes an owner's notice choices (a live session is enough: turning a
    notice off hides nothing critical, and turning one on only tells the owner more)."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        sessions: SessionService,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._uow = uow_factory
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    async def view(self, session: Session) -> list[NoticeChoice]:
        """The account's choices (raises ``FlowEnded`` when ``session`` is not live)."""
        async with self._uow(read_only=True) as uow:
            await self._sessions.require_live(uow, session)
            return choices_view(await uow.preferences.choices(session.account_id))

    async def wants(self, account_id: int, topic_key: str) -> bool:
        """Whether the account receives a notice of topic ``topic_key`` now (for notices sent
        outside the outbox: payment outcomes decided by a job or an admin). KeyError when
        there is no such topic, so a typo cannot silently mean "always"."""
        notice = topic(topic_key)
        async with self._uow(read_only=True) as uow:
            return await account_wants(uow, account_id, notice)

    async def choose(self, session: Session, kind_text: str, enabled: bool) -> list[NoticeChoice]:
        """Turn a kind on or off; the choices as they are now. Audited as SETTINGS_CHANGED.

        ``kind_text`` comes from a button: anything but a kind's value (a topic, a critical
        one included, or made-up text) raises ``Refusal(NoticeKindUnknown())`` and nothing
        is written.
        """
        try:
            kind = NoticeKind(kind_text)
        except ValueError:
            raise Refusal(NoticeKindUnknown()) from None
        async with self._uow() as uow:
            await self._sessions.require_live(uow, session)
            await uow.preferences.choose(session.account_id, str(kind), enabled, self._clock.now())
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.SETTINGS_CHANGED,
                    account_id=session.account_id,
                    telegram_user_id=session.telegram_user_id,
                    details={"change": "notices", "kind": str(kind), "enabled": enabled},
                ),
            )
            view = choices_view(await uow.preferences.choices(session.account_id))
            await uow.commit()
        return view
