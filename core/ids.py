"""Record ids typed by people (``/verify 12``, ``/apikey_delete #3``)."""

from __future__ import annotations


def parse_id(text: str) -> int | None:
    """The id in ``text`` (an optional leading ``#``), or None.

    ASCII digits only ("²".isdigit() is True, int() refuses it) and at most 18 of them, so the
    number always fits SQLite's INTEGER.
    """
    digits = text.strip().removeprefix("#")
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 18 else None
