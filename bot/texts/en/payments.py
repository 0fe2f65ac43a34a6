"""English: Plans, invoices and payments (users and admins)."""

from __future__ import annotations

from bot.texts.en.payments_funds import *  # noqa: F403 (re-exported with the payment texts)
from bot.texts.en.payments_funds import FUNDS_REASONS, FUNDS_REFUSALS, FUNDS_STATES
from bot.texts.template import Refusals
from core.payments.refusals import (
    Decision,
    InvoiceAlreadyPaid,
    InvoiceExpired,
    InvoiceHasPending,
    InvoiceNotFound,
    InvoiceOpenElsewhere,
    InvoicePaidByAnother,
    InvoicesBusy,
    InvoiceUnusable,
    PaymentDecidedMeanwhile,
    PaymentNotFound,
    PaymentNotOpen,
    PaymentsOff,
    PaymentTampered,
    PlanNotOnSale,
    RejectionReasonMissing,
    TxAlreadySent,
    TxAlreadyUsed,
    TxBeingChecked,
    TxHashMalformed,
    TxRejected,
)

# --- payments (USDT TRC20) -----------------------------------------------------------------
PAYMENTS_OFF = "Payments are not set up yet. Please try again later."
PLANS_HEADER = "<b>Plans</b> — paid in USDT on TRON (TRC20)"
PLAN_LINE = "• <b>{name}</b>: {price} USDT for {days} ({tier} tier)"
PLANS_FOOTER = "Subscribe with /subscribe. Paying again before the end extends your plan."
PLANS_PAYMENTS_OFF = "Payments are not set up yet, so you can't subscribe right now."
SUBSCRIBE_PICK = "Which plan would you like? You get an invoice with the exact amount to send."
PLAN_BUTTON = "{name} — {price} USDT / {days}"
INVOICE = (
    "🧾 <b>Invoice #{id}</b> — {plan} plan, {days}\n\n"
    "Send <b>exactly {amount} USDT</b> (TRC20, on TRON) to:\n<code>{address}</code>\n\n"
    "The exact amount tells your payment apart from others, so please don't round it. Only "
    "USDT on TRON counts: other tokens or networks can't be accepted.\n\n"
    "Pay by {expires} UTC, then send me the transaction hash:\n"
    "<code>/pay {id} TRANSACTION_HASH</code>"
)
PAY_USAGE = (
    "Send <code>/pay INVOICE_ID TRANSACTION_HASH</code>, for example "
    "<code>/pay 12 7f3a…</code> (the 64-character hash your wallet shows for the transfer)."
)
PAY_RECEIVED = (
    "📨 Payment #{id} for invoice #{invoice} received. I'm checking it on the TRON chain now "
    "and will tell you the result."
)
PAY_APPROVED = (
    "✅ <b>Payment #{id} confirmed</b>: {amount} USDT.\n"
    "Your <b>{plan}</b> plan runs from {starts} until {ends} UTC. Thank you!"
)
PAY_STILL_PENDING = (
    "⏳ Payment #{id}: {reason}. I check again every minute until invoice #{invoice} expires "
    "({expires} UTC) and will tell you the result. /payments shows the state."
)
PAY_FAILED = (
    "❌ <b>Payment #{id} can't be accepted</b>: {reason}.\n"
    "If you think this is wrong, contact support with the payment number."
)
PAY_EXPIRED = (
    "⌛ Invoice #{invoice} expired before the transaction of payment #{id} showed up on the "
    "chain. If you did pay, contact support with the payment number; otherwise make a new "
    "invoice with /subscribe."
)
PAY_REJECTED = "❌ Payment #{id} was rejected by an admin: {reason}"
PAY_REASONS = {
    "not_found": "the transaction isn't on the chain yet (it can take a minute to show up)",
    "chain_unavailable": "TronScan isn't answering right now",
    "unexpected_answer": "TronScan's answer about it looks unusual, so nothing is decided yet and "
    "an admin has been asked to look",
    "confirmations": "the transfer is waiting for enough confirmations",
    "tx_failed": "the transaction failed on the chain (for example out of energy), so no USDT "
    "arrived",
    "wrong_token": "the transfer isn't real USDT (TRC20); only the official USDT token counts",
    "wrong_recipient": "the USDT wasn't sent to the invoice's address",
    "no_transfer": "the transaction contains no USDT transfer",
    "amount_mismatch": "the amount doesn't match the invoice",
    "before_invoice": "the transfer was made before the invoice was created",
    "invoice_paid": "the invoice was already paid by another payment",
    "tampered": "it failed an integrity check",
    "expired": "the invoice expired",
    "ok": "all checks passed",
    **FUNDS_REASONS,
}
PAYMENTS_NONE = "You have no invoices or payments yet. See /plans."
PAYMENTS_INVOICES = "<b>Your invoices</b>"
PAYMENTS_PAYMENTS = "<b>Your payments</b>"
INVOICE_LINE = "#{id} {plan} — {amount} USDT — {status}"
INVOICE_OPEN_UNTIL = "open until {expires} UTC"
INVOICE_STATES = {"open": "open", "paid": "✅ paid", "expired": "⌛ expired"}
PAYMENT_LINE = "#{id} for invoice #{invoice} — {status} — <code>{tx}</code>"
PAYMENT_STATES = {
    "pending": "⏳ pending",
    "approved": "✅ approved",
    "failed": "❌ failed",
    "rejected": "❌ rejected",
    "expired": "⌛ expired",
    **FUNDS_STATES,
}
PAYMENT_UNDER_REVIEW = "⚠️ under review"
LICENSE_NONE = "none — see /plans"
LICENSE_ACTIVE = "{plan} until {ends} UTC"
LICENSE_PAID_UNTIL = "{license}, paid until {until} UTC"

# --- payments: admins --------------------------------------------------------------------
ADMIN_PENDING_NONE = "No payments are pending."
ADMIN_PENDING_HEADER = "<b>Pending payments</b> (least recently checked first)"
ADMIN_PENDING_LINE = (
    "#{id} — {email} — invoice #{invoice} {plan} {amount} USDT — {note} ({checks}) — "
    "<code>{tx}</code>"
)
ADMIN_VERIFY_USAGE = "Send <code>/verify PAYMENT_ID</code>."
ADMIN_VERIFY_HEADER = (
    "<b>Payment #{id}</b> — {status}\n"
    "Invoice #{invoice}: {plan}, {amount} USDT, account {email}\n"
    "Transaction <code>{tx}</code>"
)
ADMIN_VERIFY_CHECK = "{mark} {name}: {detail}"
ADMIN_VERIFY_UNAVAILABLE = "⚠️ TronScan gave no usable answer; nothing was decided."
ADMIN_VERIFY_RESULT = "Result: {reason}{decided}"
ADMIN_VERIFY_DECIDED = " — the payment is now {status} and the user was told"
ADMIN_SIGNATURE_OK = "Signature: ✅ valid"
ADMIN_SIGNATURE_BAD = "Signature: 🚨 INVALID — this row is not trusted (reported)"
CHECK_NAMES = {
    "found": "On chain",
    "success": "Transaction succeeded",
    "token": "USDT contract",
    "recipient": "Sent to our address",
    "amount": "Amount",
    "time": "While the invoice was open",
    "confirmations": "Confirmations",
}
ADMIN_APPROVE_USAGE = "Send <code>/approve PAYMENT_ID</code>."
ADMIN_APPROVE_ASK_CODE = (
    "Approve payment #{id} without chain confirmation?\n"
    "Invoice #{invoice}: {plan}, {amount} USDT, account {email}, status {status}.\n\n"
    "Send your 6-digit 2FA code to confirm. (/cancel to stop)"
)
ADMIN_APPROVED = "✅ Payment #{id} approved by you; the license runs until {ends} UTC."
ADMIN_REJECT_USAGE = "Send <code>/reject PAYMENT_ID REASON</code>."
ADMIN_REJECTED = "Payment #{id} is rejected; the user was told."


PAYMENT_DECISIONS = {Decision.APPROVE: "approve", Decision.REJECT: "reject"}


def _payment_not_open(reason: PaymentNotOpen) -> str:
    return (
        f"Payment #{reason.payment_id} is {reason.status}; nothing to "
        f"{PAYMENT_DECISIONS[reason.decision]}."
    )


PAYMENT_REFUSALS: Refusals = {
    TxHashMalformed: (
        "That is not a transaction hash: it has 64 characters, 0-9 and a-f. Copy it from "
        "your wallet or from tronscan.org."
    ),
    PaymentsOff: PAYMENTS_OFF,
    PlanNotOnSale: "That plan is not on sale. See /plans.",
    InvoicesBusy: (
        "All payment amounts for this plan are taken by open invoices right now, so I can't "
        "make you a new one. The admins have been told. Please try again in an hour."
    ),
    InvoiceOpenElsewhere: (
        "You already have an open invoice for this plan on another account. Pay it from that "
        "account (/login), or wait until it expires, then ask again."
    ),
    InvoiceNotFound: (
        "You have no invoice #{invoice_id}. See /payments, or make one with /subscribe."
    ),
    InvoiceAlreadyPaid: "Invoice #{invoice_id} is already paid.",
    InvoiceExpired: "Invoice #{invoice_id} has expired. Make a new one with /subscribe.",
    InvoiceUnusable: "This invoice cannot be used. Please make a new one with /subscribe.",
    InvoiceHasPending: "This invoice already has payments waiting to be checked. See /payments.",
    TxAlreadySent: "You already sent this transaction as payment #{payment_id}. See /payments.",
    TxAlreadyUsed: "This transaction was already used for a payment and cannot be used again.",
    TxRejected: (
        "An admin rejected this transaction for your payment #{payment_id}, so it cannot be sent"
        " again. If you think this is a mistake, please contact the admins."
    ),
    TxBeingChecked: (
        "This transaction is being checked for another invoice. If you made it for this one, "
        "send the same /pay again in a few minutes."
    ),
    PaymentNotFound: "There is no payment #{payment_id}.",
    PaymentNotOpen: _payment_not_open,
    InvoicePaidByAnother: "Invoice #{invoice_id} is already paid by another payment.",
    PaymentTampered: "This payment's records fail their integrity check; it cannot be approved.",
    PaymentDecidedMeanwhile: "Payment #{payment_id} was decided meanwhile; see /pending.",
    RejectionReasonMissing: "Say why: /reject PAYMENT_ID REASON",
    **FUNDS_REFUSALS,
}
