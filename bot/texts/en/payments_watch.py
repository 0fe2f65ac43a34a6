"""Texts of payments found at the receive address without a hash (core/payments/watch.py)."""

from __future__ import annotations

PAY_SEEN = (
    "👀 Payment #{id} for invoice #{invoice} seen on the TRON chain: {amount} USDT, "
    "{confirmations}/{needed} confirmations. No need to send /pay: I'll confirm it as soon "
    "as it is final and tell you."
)
