"""Money as integer micro-USDT (6 decimals, like the TRC20 token itself). No floats anywhere."""

from __future__ import annotations

from decimal import Decimal

MICRO = 1_000_000


def to_micro(amount: Decimal | int | str) -> int:
    """Convert a USDT amount to integer micro-USDT; refuse more than 6 decimals."""
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    if not value.is_finite():
        raise ValueError("must be a finite amount")
    scaled = value * MICRO
    if scaled != scaled.to_integral_value():
        raise ValueError("has more than 6 decimals")
    return int(scaled)


def format_usdt(micro: int) -> str:
    """Show an amount the way people read prices: at least 2 decimals, exact, no float."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    frac_text = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{frac_text}"
