"""Leases, the pure part: records, the repository port and who may write what (SPEC §13).

Scheduled jobs (alert outbox, payment re-checks, the watcher, backups, anchors, reminders,
the drill) must run on one instance at a time. The instance holding the ``jobs`` lease runs
them; it renews the lease every few seconds, for :data:`LEASE_TTL` ahead. When it dies the
lease runs out and the next instance to ask takes it over; one that stops gives it back.

The rule of who may write which lease is :func:`next_lease`; the service asking it is
:class:`core.leadership.Leadership`. Writes are a compare-and-set: the row is replaced only if
it still holds what was read, so two instances asking at once cannot both win, on SQLite
(whose write transactions are serial anyway) or on a database whose transactions overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

JOBS = "jobs"
LEASE_TTL = timedelta(seconds=30)
RENEW_EVERY = timedelta(seconds=10)  # a leader renews this long before its lease ends, too


@dataclass(frozen=True)
class Lease:
    """Who holds ``name`` until when."""

    name: str
    holder: str
    expires_at: datetime


class LeasesRepository(Protocol):
    """The ``job_leases`` rows."""

    async def get(self, name: str) -> Lease | None:
        """The lease as stored, or None when nobody ever held it."""
        ...

    async def create(self, lease: Lease) -> bool:
        """Store the first lease of its name; False when a row already exists."""
        ...

    async def replace(self, expected: Lease, new: Lease) -> bool:
        """Compare-and-set: write ``new`` only if the row still equals ``expected``."""
        ...


def next_lease(
    name: str, current: Lease | None, holder: str, now: datetime, ttl: timedelta
) -> Lease | None:
    """The lease ``holder`` writes now: its own renewed (even if it ran out: nobody took
    it), a first one, or one over another holder's that has ended; None while another
    holder's lease still runs."""
    if current is not None and current.holder != holder and current.expires_at > now:
        return None
    return Lease(name, holder, now + ttl)
