"""English: money that does not fit an invoice exactly (partial, over, late, review, credit)."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.payments.refusals import PaymentAmountUnknown, PaymentNotCreditable, TxClaimed

PAY_PARTIAL = (
    "🧩 <b>Payment #{id}: {paid} USDT arrived</b> for invoice #{invoice} — {received} of "
    "{amount} USDT so far.\n"
    "Send the missing <b>{missing} USDT</b> to <code>{address}</code> by {expires} UTC, then "
    "<code>/pay {invoice} TRANSACTION_HASH</code> for that transfer: both count together."
)
PAY_OVERPAID_EXTRA = (
    "\nYou sent {excess} USDT more than the invoice: it is credited to your /wallet."
)
PAY_REVIEW = (
    "🔎 <b>Payment #{id}: your USDT arrived</b>, but {reason}, so an admin decides: the plan, "
    "or a credit to your /wallet. Nothing is lost; I'll tell you the decision."
)
PAY_CREDITED = (
    "💰 <b>{amount} USDT credited to your wallet</b> for invoice #{invoice} (payment #{id}) by "
    "an admin. See /wallet."
)
FUNDS_REASONS = {
    "underpaid": "less than the invoice has arrived so far",
    "overpaid": "more than the invoice arrived",
    "paid_late": "the transfer was made after the invoice expired",
    "ambiguous": "the amount isn't the invoice's exact amount while other invoices were open",
    "amount_unreadable": "TronScan's amount for it can't be read with certainty",
    "large_overpayment": "far more than the invoice arrived",
    "partial_expired": "the rest of the invoice wasn't sent in time",
    "disputed": "another account sent the same transaction for its own invoice",
    "credited": "credited to the wallet",
    "sources_disagree": "TronScan and TronGrid tell different stories about the transaction",
}
FUNDS_STATES = {"partial": "🧩 partly paid", "review": "🔎 with an admin"}
PAYMENT_CREDITED_STATE = "💰 credited to your wallet"

# --- admins -------------------------------------------------------------------------------
ADMIN_REVIEW_HEADER = (
    "<b>Waiting for an admin</b> (/approve ID for the plan, /credit ID for the wallet)"
)
ADMIN_REVIEW_LINE = (
    "#{id} — {email} — invoice #{invoice} {plan} {amount} USDT — {paid} USDT arrived — {note} — "
    "<code>{tx}</code>"
)
ADMIN_CREDIT_USAGE = "Send <code>/credit PAYMENT_ID</code>."
ADMIN_CREDIT_ASK_CODE = (
    "Credit payment #{id} ({paid} USDT arrived) to the payer's wallet instead of a license?\n"
    "Invoice #{invoice}: {plan}, {amount} USDT, account {email}, status {status}. The invoice "
    "is closed and its other partial transfers are credited with it.\n\n"
    "Send your 6-digit 2FA code to confirm. (/cancel to stop)"
)
ADMIN_CREDITED = (
    "💰 Payment #{id}: {amount} USDT credited to the payer's wallet; invoice #{invoice} is "
    "closed and the user was told."
)
ADMIN_APPROVED_EXTRA = " {excess} USDT beyond the invoice went to the payer's wallet."

FUNDS_REFUSALS: Refusals = {
    TxClaimed: (
        "This transaction already counts for another invoice. The admins have been told and "
        "will sort out whose it is; if it is yours, write to them with /paysupport."
    ),
    PaymentNotCreditable: (
        "Payment #{payment_id} is {status}; only partly paid payments of an unpaid invoice and "
        "payments under review can be credited."
    ),
    PaymentAmountUnknown: (
        "Payment #{payment_id} has no amount that can be read, so it can't be credited. Check "
        "it on tronscan.org, then /approve or /reject it."
    ),
}
