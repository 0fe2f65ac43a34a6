"""Lock-out windows computed from failure times (logins, 2FA codes)."""

from __future__ import annotations

from datetime import datetime, timedelta


def window_lock_until(
    failure_times: list[datetime],
    now: datetime,
    *,
    limit: int,
    window: timedelta,
    duration: timedelta,
) -> datetime | None:
    """When the lock caused by ``limit`` failures inside ``window`` ends, if still on.

    ``failure_times`` are ascending. A lock starts at the failure that completes ``limit``
    failures within ``window`` and lasts ``duration``. Attempts refused while locked are not
    failures, so locks do not extend themselves.
    """
    until: datetime | None = None
    start = 0
    for index, at in enumerate(failure_times):
        while failure_times[start] <= at - window:
            start += 1
        if index - start + 1 >= limit:
            until = max(until or at, at + duration)
    return until if until is not None and until > now else None
