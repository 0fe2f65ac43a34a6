"""Small helpers for the words the CLI prints: "1 row", "2 rows", never "row(s)"."""

from __future__ import annotations


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``count(1, "row")`` → ``1 row``; ``count(1200, "row")`` → ``1,200 rows``."""
    word = singular if number == 1 else (plural if plural is not None else singular + "s")
    return f"{number:,} {word}"
