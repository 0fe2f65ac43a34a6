"""English: buttons instead of typed arguments (bot/pickers.py) and what they answer."""

from __future__ import annotations

PICKER_PAGE = "Page {page} of {pages}."
PICKER_PREV = "‹ Prev"
PICKER_NEXT = "Next ›"
# One answer for a forged, replayed, used or expired button: no oracle for a guesser.
PICKER_EXPIRED = "This button has expired or was already used. Send the command again."
PICKER_NOT_YOURS = "This button was not shown to you, so it does nothing for you."
PICKER_SESSION_GONE = (
    "This button belongs to a session that has ended. Log in and send the command again."
)
PICKER_GONE = "That one is no longer there (it was deleted or decided meanwhile)."

PICK_APIKEY = "Which key do you want to delete? Pick one below (or send /apikey_delete ID)."
PICK_APIKEY_NONE = "You have no API keys to delete. Add one with /apikey_add."
PICK_APPROVE = "Which payment do you want to approve? Pick one below (or send /approve ID)."
PICK_REJECT = "Which payment do you want to reject? Pick one below (or send /reject ID REASON)."
PICK_VERIFY = "Which payment do you want to check on chain? Pick one below (or send /verify ID)."
PICK_PAYMENTS_NONE = "No payments are waiting for a decision."
PICK_RESTORE = "Which backup do you want to restore? Pick one below (or send /restore NAME)."
PICK_RESTORE_NONE = "There are no backups to restore."
PICK_REJECT_TYPE = "To reject payment #{id} here, send <code>/reject {id} REASON</code>."
PICK_REJECT_REASON = (
    "Rejecting payment #{id}. Send the reason the user will read (one message), or /cancel."
)
PICK_WITHDRAWALS_NONE = "No withdrawals are waiting."
PICK_COMPLETE = (
    "Which withdrawal did you pay out? Pick one below (or send /complete_withdrawal ID TX_HASH)."
)
PICK_COMPLETE_TX = (
    "Withdrawal #{id}: send the hash of the transaction that paid it out, or /cancel."
)
PICK_COMPLETE_TYPE = (
    "To record withdrawal #{id} here, send <code>/complete_withdrawal {id} TX_HASH</code>."
)
PICK_REJECT_W = (
    "Which withdrawal do you want to refuse? Pick one below (or send /reject_withdrawal ID REASON)."
)
PICK_REJECT_W_REASON = (
    "Refusing withdrawal #{id}. Send the reason the user will read (one message), or /cancel."
)
PICK_REJECT_W_TYPE = (
    "To refuse withdrawal #{id} here, send <code>/reject_withdrawal {id} REASON</code>."
)

WITHDRAW_ASK_AMOUNT = (
    "How much USDT do you want to withdraw? Send the amount (at least {minimum} USDT), or /cancel."
)
WITHDRAW_ASK_ADDRESS = (
    "Withdrawing <b>{amount} USDT</b>. Send the TRON (TRC20) address to pay it to, or /cancel."
)
WITHDRAW_ASK_ADDRESS_LAST = "Or press the button to use the address you used last time."
WITHDRAW_LAST_ADDRESS_BUTTON = "Use {address}"

# Routine admin-chat notices (silent by default: alerts.routing, core/audit/routing_rules.py).
BACKUP_NIGHTLY_DONE = "✅ Nightly backup <code>{name}</code> written and verified ({size})."
PAYMENT_APPROVED_NOTICE = (
    "✅ Payment #{id} approved: {amount} USDT for invoice #{invoice} (account #{account})."
)
