"""Texts of payments found at the receive address without a hash (core/payments/watch.py),
and of a payment's final state (its status message, the admins' notice)."""

from __future__ import annotations

PAY_SEEN = (
    "👀 Payment #{id} for invoice #{invoice} seen on the TRON chain: {amount} USDT, "
    "{confirmations}/{needed} confirmations. No need to send /pay: I'll confirm it as soon "
    "as it is final and tell you."
)

# The live status message ("n/19") once the payment is decided: edited in place, so it no
# longer shows an old count (the outcome itself comes as a new message, which notifies).
PAY_STATUS_FINAL = "Payment #{id} for invoice #{invoice}: <b>{state}</b>. Details below."
PAY_REVIEW_UNSURE = (
    "🔎 <b>Payment #{id}</b>: {reason}, so nothing is decided automatically and an admin "
    "looks at it: the plan, or a credit to your /wallet if your USDT arrived. I'll tell you "
    "the decision."
)
# The admins' silent notice (alerts.routing "payment_approved").
ADMIN_PAYMENT_APPROVED = (
    "✅ Payment #{id} approved by {by}: invoice #{invoice} {plan}, {amount} USDT, account "
    "#{account}.{extra}"
)
APPROVED_BY = {"verification": "the chain check", "admin": "an admin"}
# What the admins can do about an alert, shown under its evidence.
RULE_HINTS = {
    "payment_unmatched_transfers": (
        "Nothing was credited for these. A payer who sends <code>/pay INVOICE HASH</code> for "
        "one gets it judged like any payment (partial, over-payment, or review: see /pending); the "
        "others are at the receive address on tronscan.org by amount and time: refund them, "
        "or ask the payer to send /pay and then /approve or /credit it."
    ),
    "payment_needs_review": "See /pending: /approve ID for the plan, /credit ID for the wallet.",
}
