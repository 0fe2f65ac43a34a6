"""English: The wallet, referrals and withdrawals (users and admins)."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.money import format_usdt
from core.withdrawals.refusals import (
    AddressInvalid,
    AmountBelowMinimum,
    AmountNotNumber,
    AmountTooPrecise,
    Decision,
    InsufficientBalance,
    OwnPaymentAddress,
    TxCompletedAnother,
    TxCompletedWithdrawal,
    WalletUnderReview,
    WithdrawalAlreadyCompleted,
    WithdrawalAlreadyRejected,
    WithdrawalDecidedMeanwhile,
    WithdrawalNotFound,
    WithdrawalRejectionReasonMissing,
    WithdrawalsNeedTwoFactor,
    WithdrawalTampered,
)

# --- wallet, referrals and withdrawals ---------------------------------------------------
WALLET = (
    "👛 <b>Your wallet</b>\n"
    "Available: <b>{available} USDT</b>\n"
    "Held for pending withdrawals: {held} USDT\n"
    "Withdrawn so far: {withdrawn} USDT\n"
    "Referral earnings (total): {referral} USDT"
)
WALLET_FOOTER = (
    "Withdraw with <code>/withdraw AMOUNT ADDRESS</code> (USDT TRC20, at least {minimum} USDT, "
    "confirmed with your 2FA code). Earn with /referral."
)
WALLET_UNDER_REVIEW = (
    "⚠️ Your wallet is under review after an integrity check, so withdrawals are paused for "
    "your account. The admins have been alerted; please contact support."
)
WALLET_RECENT = "<b>Your recent withdrawals</b>"
WITHDRAWAL_LINE = "#{id} · {amount} USDT to <code>{address}</code> · {status}"
WITHDRAWAL_STATES = {
    "requested": "⏳ waiting to be sent",
    "completed": "✅ sent",
    "rejected": "❌ rejected",
}
WITHDRAWAL_LINE_TX = " · tx <code>{tx}</code>"
WITHDRAWAL_LINE_REASON = ": {reason}"
REFERRAL = (
    "🤝 <b>Your referral code</b>: <code>{code}</code>\n\n"
    "Accounts that signed up with it: {referred}\n"
    "Earned so far: {earnings} USDT\n\n"
    "Share the code: whoever registers with it earns you {percent}% of every plan they pay "
    "for, credited to your /wallet."
)
WITHDRAW_USAGE = (
    "Send <code>/withdraw AMOUNT ADDRESS</code>: the amount in USDT and your own TRON (TRC20) "
    "address, e.g. <code>/withdraw 25 YOUR_TRON_ADDRESS</code>. The minimum is {minimum} USDT."
)
WITHDRAW_ASK_CODE = (
    "💸 Withdraw <b>{amount} USDT</b> (USDT TRC20, on TRON) to\n<code>{address}</code>?\n\n"
    "Check the address character by character: a sent transfer can't be undone.\n\n"
    "Send the 6-digit code from your authenticator app (or a backup code) to confirm. "
    "(/cancel to stop)"
)
WITHDRAW_REQUESTED = (
    "✅ <b>Withdrawal #{id} requested</b>: {amount} USDT to <code>{address}</code>.\n"
    "The amount is held from your balance until an admin sends it; I'll tell you when it's on "
    "its way. /wallet shows your balance."
)
WITHDRAWAL_SENT_USER = (
    "✅ <b>Withdrawal #{id} sent</b>: {amount} USDT to <code>{address}</code>.\n"
    "Transaction: <code>{tx}</code>"
)
WITHDRAWAL_REJECTED_USER = (
    "❌ Withdrawal #{id} ({amount} USDT) was rejected by an admin: {reason}\n"
    "The amount is back in your available balance (/wallet)."
)

# --- withdrawals: admins -----------------------------------------------------------------
ADMIN_WITHDRAWALS_NONE = "No withdrawals are waiting."
ADMIN_WITHDRAWALS_CHAT_ONLY = (
    "For privacy I handle withdrawals only in a private chat with an admin or in the admin chat."
)
ADMIN_WITHDRAWALS_HEADER = "<b>Withdrawals waiting to be sent</b> (oldest first, UTC)"
ADMIN_WITHDRAWALS_KILLSWITCH = "⛔ The kill switch is on: send no payouts until it is off."
ADMIN_WITHDRAWAL_LINE = (
    "#{id} — {email} (account #{account}) — <b>{amount} USDT</b> to <code>{address}</code> — "
    "requested {at}{flag}"
)
ADMIN_WITHDRAWAL_TAMPERED = " — 🚨 fails its integrity check: do NOT pay"
ADMIN_WITHDRAWALS_FOOTER = (
    "After sending: <code>/complete_withdrawal ID TX_HASH</code>. To refuse: "
    "<code>/reject_withdrawal ID REASON</code>."
)
ADMIN_COMPLETE_USAGE = (
    "Send <code>/complete_withdrawal ID TX_HASH</code> once you have sent the USDT."
)
ADMIN_WITHDRAWAL_COMPLETED = (
    "✅ Withdrawal #{id} is completed: {amount} USDT, transaction <code>{tx}</code>. {told}"
)
ADMIN_REJECT_WITHDRAWAL_USAGE = "Send <code>/reject_withdrawal ID REASON</code>."
ADMIN_WITHDRAWAL_REJECTED = "Withdrawal #{id} is rejected and {amount} USDT released. {told}"
ADMIN_USER_TOLD = "The user was told."
ADMIN_USER_NOT_TOLD = "⚠️ I couldn't reach the user on Telegram: please tell them another way."


WITHDRAWAL_DECISIONS = {Decision.COMPLETE: "complete", Decision.REJECT: "reject"}


def _below_minimum(reason: AmountBelowMinimum) -> str:
    text = f"The smallest withdrawal is {format_usdt(reason.minimum_micro)} USDT"
    return text + (", so a transfer fee never eats most of it." if reason.explain else ".")


def _address_invalid(reason: AddressInvalid) -> str:
    if not reason.explain:
        return "That isn't a valid TRON address."
    return (
        "That isn't a valid TRON address. It starts with <b>T</b>, has 34 characters and "
        "a built-in checksum, so one wrong character is caught. Copy it from your wallet's "
        "<b>USDT TRC20</b> receive screen."
    )


def _insufficient(reason: InsufficientBalance) -> str:
    return (
        f"You can withdraw at most {format_usdt(reason.available_micro)} USDT right now (asked: "
        f"{format_usdt(reason.amount_micro)} USDT). /wallet shows your balance."
    )


def _already_completed(reason: WithdrawalAlreadyCompleted) -> str:
    return (
        f"Withdrawal #{reason.withdrawal_id} is already completed (transaction "
        f"<code>{reason.tx_hash}</code>); there is nothing to "
        f"{WITHDRAWAL_DECISIONS[reason.decision]}."
    )


def _already_rejected(reason: WithdrawalAlreadyRejected) -> str:
    return (
        f"Withdrawal #{reason.withdrawal_id} was already rejected and its amount released; "
        f"there is nothing to {WITHDRAWAL_DECISIONS[reason.decision]}."
    )


WITHDRAWAL_REFUSALS: Refusals = {
    AmountNotNumber: (
        "That amount isn't a number I can use. Write it like <code>25</code> or "
        "<code>12.50</code> (USDT, a dot for decimals)."
    ),
    AmountTooPrecise: (
        "USDT has at most 6 decimals, e.g. <code>12.345678</code>. Please round the amount."
    ),
    AmountBelowMinimum: _below_minimum,
    AddressInvalid: _address_invalid,
    OwnPaymentAddress: (
        "That is Verzek's own payment address. Send your withdrawal to an address of your own "
        "wallet."
    ),
    InsufficientBalance: _insufficient,
    WithdrawalsNeedTwoFactor: (
        "🛡 Withdrawals need two-factor authentication, so a stolen password alone can't "
        "move your money. Turn it on with /2fa_enroll, then send /withdraw again."
    ),
    WalletUnderReview: (
        "⚠️ Your wallet is under review after an integrity check, so withdrawals are paused "
        "for your account. The admins have been alerted; please contact support."
    ),
    WithdrawalRejectionReasonMissing: "Say why: /reject_withdrawal ID REASON",
    WithdrawalNotFound: "There is no withdrawal #{withdrawal_id}. See /withdrawals.",
    WithdrawalAlreadyCompleted: _already_completed,
    WithdrawalAlreadyRejected: _already_rejected,
    WithdrawalTampered: (
        "Withdrawal #{withdrawal_id} fails its integrity check (amount or address may have "
        "been changed), so it can't be decided here. It was reported; look at it in the "
        "database before paying anything."
    ),
    TxCompletedWithdrawal: (
        "That transaction already completed withdrawal #{withdrawal_id}. Check the hash."
    ),
    TxCompletedAnother: "That transaction already completed another withdrawal.",
    WithdrawalDecidedMeanwhile: "Withdrawal #{withdrawal_id} was decided meanwhile.",
}
