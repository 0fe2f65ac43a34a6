"""Money as integer micro-USDT (6 decimals, like the TRC20 token itself). No floats anywhere."""

from __future__ import annotations

from decimal import Decimal

from core import digits

MICRO = 1_000_000
DECIMALS = 6
MAX_WHOLE_DIGITS = 30  # far beyond any amount; keeps the arithmetic small


def to_micro(amount: Decimal | int | str) -> int:
    """Convert a USDT amount to integer micro-USDT; refuse more than 6 decimals.

    Text must be ASCII (``12``, ``-0.5``; see :mod:`core.digits`); the conversion is exact
    whatever the Decimal context's precision, and absurd magnitudes are refused before any
    arithmetic.
    """
    if isinstance(amount, str):
        text = amount.strip()
        negative = text.startswith("-")
        parsed = digits.parse_decimal(text.removeprefix("-"), max_whole_digits=MAX_WHOLE_DIGITS)
        if parsed is None:
            raise ValueError("must be an amount written with the digits 0-9")
        value = -parsed if negative else parsed
    else:
        value = Decimal(amount) if isinstance(amount, int) else amount
    if not value.is_finite():
        raise ValueError("must be a finite amount")
    sign, coefficient, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if not any(coefficient):
        return 0
    figures = list(coefficient)
    while len(figures) > 1 and figures[-1] == 0 and exponent < 0:
        figures.pop()
        exponent += 1
    if exponent < -DECIMALS:
        raise ValueError("has more than 6 decimals")
    if len(figures) + exponent > MAX_WHOLE_DIGITS + DECIMALS:
        raise ValueError("is far too large")
    micro = 0
    for figure in figures:
        micro = micro * 10 + figure
    micro *= int(10 ** (exponent + DECIMALS))  # int(): typeshed's int ** int is Any
    return -micro if sign else micro


def format_usdt(micro: int) -> str:
    """Show an amount the way people read prices: at least 2 decimals, exact, no float."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    frac_text = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{frac_text}"
