"""The database's text forms of core's typed values: converted here, at storage's boundary.

Timestamps are stored as :func:`core.clock.to_iso` text (UTC, microseconds, ``Z``: sortable,
so SQL compares them as strings); records hand core UTC-aware ``datetime`` objects.
Status enums are ``StrEnum``s, stored as their value.
"""

from __future__ import annotations

from datetime import datetime

from core.clock import from_iso, to_iso


def stored_time(when: datetime) -> str:
    """The column text of a timestamp."""
    return to_iso(when)


def stored_time_or_none(when: datetime | None) -> str | None:
    """The column text of an optional timestamp (NULL stays NULL)."""
    return None if when is None else to_iso(when)


def read_time(text: str) -> datetime:
    """A timestamp column as a UTC-aware datetime."""
    return from_iso(text)


def read_time_or_none(text: str | None) -> datetime | None:
    """An optional timestamp column (NULL stays None)."""
    return None if text is None else from_iso(text)


def read_time_exact(text: str) -> datetime:
    """A timestamp column that must read back as exactly its stored text (an audit row's,
    whose text is hashed): ``ValueError`` when :func:`stored_time` would not reproduce it."""
    when = from_iso(text)
    if to_iso(when) != text:
        raise ValueError(f"{text!r} is not in the stored form")
    return when
