"""Renewal reminders (SPEC §7, §11): 3 days and 1 day before a license ends, the account's
most recent Telegram account is reminded, with a Renew button that opens an invoice for the
same plan through the normal invoice path (so the hoarding limits apply).

Each reminder is recorded *before* it is sent, in one write transaction, under the primary key
(license, threshold): once per license and threshold across restarts and concurrent rounds
(a send that fails after the record is not retried: a reminder is a courtesy, never a charge).
An owner who turned reminders off (/settings) gets the record marked skipped and nothing sent,
so turning them on again later does not bring back the reminders of the past.
An extension is a new license row that continues the old one, so the old one is not reminded
and the new one is, for its own end (:mod:`core.payments.reminder_rules`). A license that an
active Telegram Stars subscription renews by itself is not reminded (nothing is recorded, so it
is reminded as soon as the renewal is cancelled): :mod:`core.payments.stars_renewals`.

A Renew button carries only the reminder's random reference; pressing it needs a live session
on the license's own account, so a forwarded, copied or replayed button opens nothing for
anybody else.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.accounts.preferences import account_wants, topic
from core.accounts.sessions import Session
from core.audit.notices import RECIPIENT_DAYS
from core.clock import Clock
from core.crypto import EncryptionService
from core.errors import Reason, Refusal
from core.payments.licenses import LicenseService
from core.payments.ports import LicenseRecord
from core.payments.reminder_rules import LOOKAHEAD, continued, due_threshold
from core.payments.stars_renewals import renews_through_stars
from core.ports import UnitOfWork

logger = logging.getLogger(__name__)

REMINDERS_PER_ROUND = 200
REFERENCE_BYTES = 6  # 12 hex characters on the button
_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # every license of an account ends after it


@dataclass(frozen=True)
class RenewButtonStale(Reason):
    """The Renew button names no reminder of the presser's account (someone else's, forged,
    or the account changed)."""


@dataclass(frozen=True)
class Reminder:
    """A reminder to send now."""

    license: LicenseRecord
    days_before: int
    reference: str
    telegram_user_id: int


class ReminderService:
    """Finds the reminders due, records them once, and resolves Renew buttons."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        clock: Clock,
        licenses: LicenseService,
        crypto: EncryptionService,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._licenses = licenses
        self._crypto = crypto

    async def claim_due(self) -> list[Reminder]:
        """The reminders due now, each recorded as sent in the same transaction (so nobody
        else sends it); the caller sends them. Those of owners who turned reminders off are
        recorded as skipped and not returned."""
        now = self._clock.now()
        due: list[Reminder] = []
        async with self._uow() as uow:
            ending = await uow.reminders.licenses_ending(now, now + LOOKAHEAD, REMINDERS_PER_ROUND)
            for record in ending:
                if not self._licenses.is_authentic(record):
                    continue  # a tampered row is reported where it is read for a tier
                later = await uow.licenses.ending_after(record.account_id, record.ends_at)
                good_later, _ = self._licenses.split(later)
                if continued(record, good_later):
                    continue
                if await renews_through_stars(uow, self._crypto, record):
                    continue  # Telegram renews it; reminded once the renewal is cancelled
                days = due_threshold(record.ends_at, now, await uow.reminders.sent(record.id))
                if days is None:
                    continue
                recipients = await uow.notices.recipients(
                    record.account_id, since=now - timedelta(days=RECIPIENT_DAYS), limit=1
                )
                if not recipients:
                    continue
                reference = secrets.token_hex(REFERENCE_BYTES)
                wanted = await account_wants(uow, record.account_id, topic("reminder"))
                if (
                    await uow.reminders.claim(
                        license_id=record.id,
                        days_before=days,
                        reference=reference,
                        telegram_user_id=recipients[0],
                        at=now,
                        skipped=not wanted,
                    )
                    and wanted
                ):
                    due.append(Reminder(record, days, reference, recipients[0]))
            await uow.commit()
        return due

    async def plan_to_renew(self, session: Session, reference: str) -> str:
        """The plan a Renew button renews, for the presser's ``session``; raises
        ``Refusal(RenewButtonStale())`` unless the reminder is about a license of the
        session's own account."""
        async with self._uow(read_only=True) as uow:
            reminder = await uow.reminders.by_reference(reference)
            records = (
                await uow.licenses.ending_after(session.account_id, _LONG_AGO)
                if reminder is not None
                else []
            )
        record = next(
            (r for r in records if reminder is not None and r.id == reminder.license_id), None
        )
        if record is None or not self._licenses.is_authentic(record):
            raise Refusal(RenewButtonStale())
        return record.plan
