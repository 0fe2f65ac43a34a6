"""Numbers typed by people (codes, amounts, ids): ASCII ``0-9`` only, read here and nowhere else.

Python is generous with digits: ``int("١٢٣")`` is 123, ``Decimal("１２")`` is 12, regex ``\\d``
matches both, and ``"²".isdigit()`` is True while ``int("²")`` raises. Every code, amount and id
a person (or a crafted button press) sends is read by the functions below, so a look-alike digit
is simply not a number: a wrong code (counted by the throttle), a refused amount, an unknown id;
never a crash and never a second spelling of the same value. ``tests/attacks/test_digits.py``
checks that no other module reads digits on its own.
"""

from __future__ import annotations

from decimal import Decimal

ASCII_DIGITS = frozenset("0123456789")
MAX_ID_DIGITS = 18  # always fits SQLite's signed 64-bit INTEGER


def is_ascii_digits(text: str) -> bool:
    """True when ``text`` is one or more of ``0-9`` and nothing else."""
    return bool(text) and all(ch in ASCII_DIGITS for ch in text)


def parse_int(text: str, *, max_digits: int = MAX_ID_DIGITS) -> int | None:
    """``text`` exactly (no sign, no spaces) as a non-negative int, or None."""
    return int(text) if len(text) <= max_digits and is_ascii_digits(text) else None


def parse_id(text: str) -> int | None:
    """A record id as people type it (``12``, ``#12``, spaces around), or None."""
    return parse_int(text.strip().removeprefix("#"))


def parse_code(text: str, length: int) -> str | None:
    """A one-time code of exactly ``length`` ASCII digits (spaces anywhere ignored), or None."""
    cleaned = "".join(text.split())
    return cleaned if len(cleaned) == length and is_ascii_digits(cleaned) else None


def parse_decimal(text: str, *, max_whole_digits: int) -> Decimal | None:
    """``12``, ``12.5``, ``12,50``, ``.5``, ``12.`` (one dot or comma) → an exact Decimal.

    None for anything else: signs, exponents, spaces inside, ``NaN``/``Infinity``, look-alike
    digits, more than ``max_whole_digits`` before the point. The fraction is not limited here
    (callers refuse too many decimals with their own reason).
    """
    whole, _, fraction = text.strip().replace(",", ".").partition(".")
    if not whole and not fraction:
        return None
    if len(whole) > max_whole_digits:
        return None
    if (whole and not is_ascii_digits(whole)) or (fraction and not is_ascii_digits(fraction)):
        return None
    return Decimal(f"{whole or '0'}.{fraction or '0'}")


def parse_seconds(text: str) -> int | None:
    """A whole number of seconds from a machine (``Retry-After: 30``), or None."""
    return parse_int(text.strip(), max_digits=9)
