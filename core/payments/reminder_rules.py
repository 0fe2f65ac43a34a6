"""When a license's renewal reminder is due (pure; SPEC §7): 3 days and 1 day before it ends.

A license that another one continues (it starts at or before this one's end and ends later)
is not ending: the account stays covered, and the continuing license gets reminders of its
own for its own end. A threshold missed (the job was down, the license was short) is not
sent late once a nearer one applies: only the nearest threshold reached is due.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from core.payments.ports import LicenseRecord

THRESHOLDS_DAYS = (3, 1)
LOOKAHEAD = timedelta(days=max(THRESHOLDS_DAYS))


def due_threshold(ends_at: datetime, now: datetime, sent: Iterable[int]) -> int | None:
    """The threshold (days before the end) to remind now, or None."""
    remaining = ends_at - now
    if remaining <= timedelta(0):
        return None
    reached = [days for days in THRESHOLDS_DAYS if remaining <= timedelta(days=days)]
    if not reached:
        return None
    nearest = min(reached)
    return None if nearest in set(sent) else nearest


def continued(record: LicenseRecord, others: Iterable[LicenseRecord]) -> bool:
    """True when another license of the account picks up where ``record`` ends."""
    return any(
        other.id != record.id and other.starts_at <= record.ends_at < other.ends_at
        for other in others
    )
