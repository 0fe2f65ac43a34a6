"""Small helpers that keep counted words right: "1 row", "2 rows", never "row(s)"."""

from __future__ import annotations

from collections.abc import Sequence


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``count(1, "row")`` → ``1 row``; ``count(1200, "row")`` → ``1,200 rows``.

    The plural defaults to ``singular + "s"``; pass it for irregular nouns
    (``count(2, "try", "tries")``).
    """
    word = singular if number == 1 else (plural if plural is not None else singular + "s")
    return f"{number:,} {word}"


def join_words(items: Sequence[str], conjunction: str = "or") -> str:
    """``["I", "L", "O"]`` → ``"I, L or O"`` (one item alone, two joined by the word)."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"
