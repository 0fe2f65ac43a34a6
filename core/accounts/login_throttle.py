"""The password-login lock (SPEC §4, §10): 5 failures in 10 minutes lock for 10 minutes, never
more than 100 failures an hour on an email, and a Telegram user's failures on any email lock
that user too. Telegram users that logged in to the account recently have a bucket of their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.accounts.ports import UserRecord
from core.accounts.throttle import window_lock_until
from core.ports import UnitOfWork

LOCK_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=10)
LOCK_DURATION = timedelta(minutes=10)
HOURLY_CAP = 100
# A Telegram user that logged in this recently has a login throttle of its own on the account.
TRUSTED_FOR = timedelta(days=30)


def window_locked_until(failure_times: list[datetime], now: datetime) -> datetime | None:
    """When the 5-in-10-minutes lock caused by these failures (ascending) ends, if still on."""
    return window_lock_until(
        failure_times, now, limit=LOCK_FAILURES, window=LOCK_WINDOW, duration=LOCK_DURATION
    )


def hourly_cap_until(failure_times: list[datetime], now: datetime) -> datetime | None:
    """When the 100-an-hour cap reached by these failures (ascending) ends, if reached."""
    hour = [at for at in failure_times if at > now - timedelta(hours=1)]
    until = hour[0] + timedelta(hours=1) if len(hour) >= HOURLY_CAP else None
    return until if until is not None and until > now else None


def locked_until(failure_times: list[datetime], now: datetime) -> datetime | None:
    """When the password-login lock caused by these failures (ascending) ends, if still on."""
    ends = [
        until
        for until in (
            window_locked_until(failure_times, now),
            hourly_cap_until(failure_times, now),
        )
        if until is not None
    ]
    return max(ends) if ends else None


async def login_lock_seconds(
    uow: UnitOfWork, now: datetime, email_key: str, user: UserRecord | None, telegram_user_id: int
) -> int:
    """Seconds password login stays locked for this Telegram user on this email (0: open).

    A Telegram user that logged in to the account in the last :data:`TRUSTED_FOR` is
    throttled on its own failures; everyone else shares the email's bucket, so strangers
    hammering an address cannot lock its owner's phone out. The hourly cap counts every
    failure on the email, and a Telegram user's failures on any email lock it too. An
    unknown email runs the same queries with nobody trusted, like a stranger on a real one.
    """
    since = now - timedelta(hours=1)
    account_id = user.id if user is not None else 0
    trusted = await uow.accounts.logged_in_from(
        account_id=account_id,
        telegram_user_id=telegram_user_id,
        since=now - TRUSTED_FOR,
    )
    if trusted:
        bucket = await uow.accounts.user_login_failures_since(
            email_key=email_key, telegram_user_id=telegram_user_id, since=since
        )
    else:
        bucket = await uow.accounts.shared_login_failures_since(
            email_key=email_key,
            account_id=account_id,
            since=since,
            trusted_since=now - TRUSTED_FOR,
        )
    every = await uow.accounts.login_failures_since(email_key=email_key, since=since)
    by_user = await uow.accounts.telegram_failures_since(
        telegram_user_id=telegram_user_id, since=since
    )
    ends = [
        until
        for until in (
            window_locked_until(bucket, now),
            hourly_cap_until(every, now),
            locked_until(by_user, now),
        )
        if until is not None
    ]
    if not ends:
        return 0
    return max(1, int((max(ends) - now).total_seconds() + 0.999))
