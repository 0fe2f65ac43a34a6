"""What the payment screen and the renewal reminders need from storage (storage/ implements
them): where a payment's status message is, and which reminders were sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.payments.ports import LicenseRecord


@dataclass(frozen=True)
class StatusMessage:
    """Where a payment's status message is in Telegram, and the confirmation count it shows
    (-1: none yet)."""

    payment_id: int
    chat_id: int
    message_id: int
    shown: int


class StatusMessagesRepository(Protocol):
    """The status message of each payment (at most one)."""

    async def put(self, payment_id: int, *, chat_id: int, message_id: int, shown: int) -> None:
        """Remember (or move) the payment's status message."""
        ...

    async def get(self, payment_id: int) -> StatusMessage | None:
        """The payment's status message, if one was remembered."""
        ...

    async def set_shown(self, payment_id: int, *, was: int, shown: int) -> bool:
        """Record that the message now shows ``shown`` if it showed ``was``; False when it
        did not (another round got there first)."""
        ...


@dataclass(frozen=True)
class ReminderRecord:
    """A renewal reminder that was sent (or is being sent) for a license."""

    license_id: int
    days_before: int
    reference: str  # what its Renew button carries
    telegram_user_id: int
    sent_at: datetime


class RemindersRepository(Protocol):
    """Renewal reminders, one per license and threshold."""

    async def licenses_ending(
        self, after: datetime, until: datetime, limit: int
    ) -> list[LicenseRecord]:
        """Licenses whose end is in ``(after, until]``, soonest first."""
        ...

    async def sent(self, license_id: int) -> set[int]:
        """The thresholds (days before the end) already reminded for a license."""
        ...

    async def claim(
        self,
        *,
        license_id: int,
        days_before: int,
        reference: str,
        telegram_user_id: int,
        at: datetime,
        skipped: bool = False,
    ) -> bool:
        """Record the reminder before it is sent (``skipped``: decided but not sent, the owner
        turned reminders off); False when it exists already."""
        ...

    async def by_reference(self, reference: str) -> ReminderRecord | None:
        """The reminder whose Renew button carries ``reference`` (never a skipped one)."""
        ...
