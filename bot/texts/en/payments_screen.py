"""The payment screen's words: the invoice's QR and copy buttons, the live status, the
receipt's link, the bare /pay picker and the renewal reminders."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.payments.reminders import RenewButtonStale

__all__ = [
    "COPY_ADDRESS_BUTTON",
    "COPY_AMOUNT_BUTTON",
    "PAYMENT_SCREEN_REFUSALS",
    "PAY_ASK_HASH",
    "PAY_CONFIRMING",
    "PAY_PICK_BUTTON",
    "PAY_PICK_INVOICE",
    "PAY_PICK_NONE",
    "PAY_PICK_STALE",
    "PAY_RECEIPT_LINK",
    "PAY_RESTART_HINT",
    "RENEW_BUTTON",
    "RENEW_LEFT",
    "RENEW_LOGIN_FIRST",
    "RENEW_REMINDER",
]

COPY_ADDRESS_BUTTON = "📋 Copy address"
COPY_AMOUNT_BUTTON = "📋 Copy amount {amount}"
PAY_CONFIRMING = (
    "⏳ Payment #{id}: the transfer is on the TRON chain and waiting for enough "
    "confirmations: <b>{count}/{needed}</b>. This message updates as they grow, and I'll tell "
    "you once it is confirmed (invoice #{invoice} stays open until {expires} UTC)."
)
PAY_RECEIPT_LINK = '<a href="{url}">See the transaction on tronscan.org</a>'
PAY_PICK_INVOICE = (
    "Which invoice did you pay? Pick it below, then send the transaction hash (or /cancel)."
)
PAY_PICK_NONE = "You have no open invoice to pay. Make one with /subscribe."
PAY_PICK_BUTTON = "#{id} {plan} — {amount} USDT"
PAY_ASK_HASH = (
    "Invoice #{id}: send me the transaction hash (64 characters, 0-9 and a-f), or paste the "
    "tronscan.org link of the transaction. /cancel stops."
)
PAY_PICK_STALE = (
    "This button isn't valid for you any more. Send /pay again to pick one of your invoices."
)
PAY_RESTART_HINT = "Start again with /pay."
RENEW_REMINDER = (
    "🔔 Your <b>{plan}</b> plan ends on {ends} UTC ({left}). Renew now to keep it without a "
    "break: the new period starts where this one ends."
)
RENEW_BUTTON = "🔄 Renew {plan}"
RENEW_LEFT = "about {days} left"
RENEW_LOGIN_FIRST = "Please log in first (/login), then press Renew again."

PAYMENT_SCREEN_REFUSALS: Refusals = {
    RenewButtonStale: (
        "This Renew button isn't for the account you are logged in to. Log in to the account "
        "whose plan it renews, or use /subscribe."
    ),
}
