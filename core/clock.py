"""Time as a dependency, so every rule about windows and expiry can be tested."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to (tests, benchmarks, the shell)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """Return the frozen time."""
        return self._now

    def advance(self, **delta: float) -> None:
        """Move forward by a ``timedelta(**delta)``."""
        self._now += timedelta(**delta)

    def set(self, when: datetime) -> None:
        """Jump to ``when``."""
        self._now = when


def to_iso(when: datetime) -> str:
    """Canonical storage form of a timestamp: UTC, microseconds, ``Z`` suffix (sortable)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_STORED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def from_iso(text: str) -> datetime:
    """Parse the storage form written by :func:`to_iso`.

    Every timestamp of every row read goes through here: the exact stored form is parsed by
    ``fromisoformat`` (C, about 30x faster than ``strptime``), anything else by ``strptime``
    with the same format as ever, so what is accepted or refused is unchanged."""
    if _STORED.fullmatch(text):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
