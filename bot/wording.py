"""Small helpers that keep counted words right: "1 row", "2 rows", never "row(s)"."""

from __future__ import annotations

from collections.abc import Sequence


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` with the right form of the noun: ``plural(1, "row")`` → ``"1 row"``.

    The plural defaults to ``singular + "s"``; pass it for irregular nouns
    (``plural(2, "entry", "entries")``).
    """
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {word}"


def join_words(items: Sequence[str], conjunction: str = "or") -> str:
    """``["I", "L", "O"]`` → ``"I, L or O"`` (one item alone, two joined by the word)."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"
