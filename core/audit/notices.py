"""Security notices to account owners: "your email was changed", "an API key was added", ….

:class:`OwnerNotifier` is an :class:`~core.audit.log.AuditObserver`. For every event whose type is
in :data:`OWNER_NOTICE_EVENTS` it queues a notice, in the same transaction, for each Telegram
account that logged in to the account in the last :data:`RECIPIENT_DAYS` days (and its last
one), except the Telegram account that made the change, which saw the result already. A job
delivers them (:class:`NoticeService`), like alerts but giving up on chats that cannot be
reached (the user blocked the bot) and after :data:`MAX_ATTEMPTS`.

So a feature that wants its change announced only appends its audit event; it must not also
send a message of its own. The text for each event type lives in ``bot/texts.py``.

The owner's /settings choices (:mod:`core.accounts.preferences`) are asked twice: when a notice
is queued and again when it is claimed for delivery (so turning a kind off also holds back
what was queued before). Security-critical topics are delivered whatever is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from core.accounts.preferences import account_wants, topic_of
from core.audit.alerts import LEASE, backoff
from core.audit.log import AuditLog, EventType
from core.audit.ports import AuditRow, NoticeRecord, RestoreNotice
from core.clock import Clock
from core.ports import UnitOfWork

# PASSWORD_CHANGED is announced by its own flow (to the sessions it ends); move it here, and
# drop that direct message, to announce it this way instead. 2FA changes and withdrawals are
# announced here (SPEC §10): someone with the phone for a few minutes can't hide them.
OWNER_NOTICE_EVENTS: frozenset[str] = frozenset(
    {
        str(EventType.EMAIL_CHANGED),
        str(EventType.API_KEY_ADDED),
        str(EventType.API_KEY_DELETED),
        str(EventType.MFA_ENABLED),
        str(EventType.MFA_DISABLED),
        str(EventType.WITHDRAWAL_REQUESTED),
        str(EventType.ACCOUNT_DELETED),
        # Optional (off by default, /settings): a login, told to the account's other
        # Telegram accounts. One from a new Telegram account is told to the previous one by
        # the login flow itself (critical), so here it is queued for the others only.
        str(EventType.LOGIN_SUCCESS),
    }
)
# SETTINGS_CHANGED rows announced, by their ``change`` detail (other settings are not news).
OWNER_NOTICE_SETTINGS: frozenset[str] = frozenset({"backup_codes_regenerated"})
# Not an audit type: the referrer's own news, drawn from the payer's PAYMENT_APPROVED (whose
# details name the referrer and the commission), so the referrer's chats are told.
REFERRAL_CREDITED = "REFERRAL_CREDITED"
RECIPIENT_DAYS = 30
MAX_RECIPIENTS = 10
MAX_ATTEMPTS = 12
BATCH = 10


class OwnerNotifier:
    """Queues notices about security changes to the account's own Telegram accounts."""

    def __init__(
        self,
        events: frozenset[str] = OWNER_NOTICE_EVENTS,
        settings: frozenset[str] = OWNER_NOTICE_SETTINGS,
    ) -> None:
        self._events = events
        self._settings = settings

    def announced(self, row: AuditRow) -> bool:
        """True when owners are told about ``row``."""
        if row.event_type == EventType.SETTINGS_CHANGED:
            return str(row.details.get("change", "")) in self._settings
        return row.event_type in self._events

    async def observe(self, uow: UnitOfWork, row: AuditRow, log: AuditLog) -> None:
        """Queue a notice per recipient when ``row`` is a change owners are told about."""
        if row.event_type == EventType.PAYMENT_APPROVED:
            await self._tell_referrer(uow, row)
        if row.account_id is None or not self.announced(row):
            return
        details, told = row.details, {row.telegram_user_id}
        if row.event_type == EventType.LOGIN_SUCCESS:
            # The notice needs no details; without "new_telegram_account" it is the optional
            # "login" topic, also when the owner's choice is asked again at delivery. The
            # critical part (a new Telegram account) reached the previous one directly.
            details = {}
            told.add(_int_or_none(row.details.get("previous_telegram_user_id")))
        if not await account_wants(uow, row.account_id, topic_of(row.event_type, details)):
            return  # the owner turned this kind off (never a critical topic)
        since = row.ts - timedelta(days=RECIPIENT_DAYS)
        recipients = await uow.notices.recipients(row.account_id, since=since, limit=MAX_RECIPIENTS)
        for telegram_user_id in recipients:
            if telegram_user_id in told:
                continue
            await uow.notices.add(
                created_at=row.ts,
                telegram_user_id=telegram_user_id,
                account_id=row.account_id,
                audit_event_id=row.id,
                event_type=row.event_type,
                details=details,
            )

    async def _tell_referrer(self, uow: UnitOfWork, row: AuditRow) -> None:
        """A payment that credited a referral commission: tell the referrer how much (never
        who paid)."""
        referrer = row.details.get("referrer_account_id")
        amount = row.details.get("referral_commission_micro")
        if not isinstance(referrer, int) or not isinstance(amount, int) or amount <= 0:
            return
        if not await account_wants(uow, referrer, topic_of(REFERRAL_CREDITED, {})):
            return
        since = row.ts - timedelta(days=RECIPIENT_DAYS)
        for telegram_user_id in await uow.notices.recipients(
            referrer, since=since, limit=MAX_RECIPIENTS
        ):
            await uow.notices.add(
                created_at=row.ts,
                telegram_user_id=telegram_user_id,
                account_id=referrer,
                audit_event_id=row.id,
                event_type=REFERRAL_CREDITED,
                details={"amount_micro": amount},
            )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class NoticeService:
    """Delivery bookkeeping of the notice outbox."""

    def __init__(self, uow_factory: Callable[..., UnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    async def claim_due(self, limit: int = BATCH) -> list[NoticeRecord]:
        """Notices to send now, each leased and with its attempt counted; those the owner
        turned off since they were queued are given up instead."""
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.notices.claim_due(now=now, lease_until=now + LEASE, limit=limit)
            due = []
            for notice in claimed:
                topic = topic_of(notice.event_type, notice.details)
                if await account_wants(uow, notice.account_id, topic):
                    due.append(notice)
                else:
                    await uow.notices.give_up(notice.id, error="turned off in settings")
            await uow.commit()
        return due

    async def delivered(self, notice_id: int) -> None:
        """Telegram accepted it."""
        async with self._uow() as uow:
            await uow.notices.mark_sent(notice_id, at=self._clock.now())
            await uow.commit()

    async def failed(
        self,
        notice: NoticeRecord,
        error: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        """A send failed: retry with backoff, or stop when it cannot ever work."""
        async with self._uow() as uow:
            if permanent or notice.attempts >= MAX_ATTEMPTS:
                await uow.notices.give_up(notice.id, error=error)
            else:
                due = self._clock.now() + backoff(notice.attempts, retry_after)
                await uow.notices.reschedule(notice.id, next_attempt_at=due, error=error)
            await uow.commit()

    async def restore_notices_due(self, limit: int = BATCH) -> list[RestoreNotice]:
        """Telegram users a restore logged out who have not been told yet."""
        async with self._uow(read_only=True) as uow:
            return await uow.restore_notices.due(limit)

    async def restore_notice_done(self, notice: RestoreNotice, *, delivered: bool) -> None:
        """Told (``delivered``), or a failed attempt: given up after :data:`MAX_ATTEMPTS`."""
        async with self._uow() as uow:
            if delivered or notice.attempts + 1 >= MAX_ATTEMPTS:
                await uow.restore_notices.remove(notice.telegram_user_id)
            else:
                await uow.restore_notices.failed(notice.telegram_user_id)
            await uow.commit()
