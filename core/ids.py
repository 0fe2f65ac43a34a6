"""Record ids typed by people (``/verify 12``, ``/apikey_delete #3``)."""

from __future__ import annotations

from core import digits


def parse_id(text: str) -> int | None:
    """The id in ``text`` (an optional leading ``#``), or None.

    ASCII digits only (see :mod:`core.digits`) and at most 18 of them, so the number always
    fits SQLite's INTEGER.
    """
    return digits.parse_id(text)
