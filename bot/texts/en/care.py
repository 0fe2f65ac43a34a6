"""English: /settings, /security, /delete_account and the bot's profile (SPEC §11)."""

from __future__ import annotations

from bot.texts.template import Refusals
from bot.wording import count
from core.accounts.refusals import (
    DeletionButtonStale,
    DeletionWaitsForWithdrawals,
    NoticeKindUnknown,
)

# --- the bot's profile, set at start-up (Telegram: description ≤ 512, short ≤ 120) ----------
BOT_DESCRIPTION = (
    "Verzek Guard is the front door of the Verzek auto-trading platform. Register and log in, "
    "protect your account with two-factor authentication, store your exchange API keys "
    "encrypted, and pay your subscription in USDT (TRC20), checked on chain. Every message "
    "carrying a password, code or key is deleted as soon as it is read. Press Start, then "
    "/register or /login."
)
BOT_SHORT_DESCRIPTION = (
    "Your Verzek account: 2FA, encrypted exchange keys, USDT subscriptions. Secrets are "
    "deleted once read."
)

# --- /settings --------------------------------------------------------------------------------
SETTINGS_HEADER = (
    "⚙️ <b>Notices</b>\n\nWhich messages I send you about your account. Press a button to "
    "turn a kind on or off. 🔒 ones always stay on: they are how you find out that someone "
    "else is in your account."
)
SETTINGS_KIND_LINE = "\n{mark} <b>{kind}</b>: {state}"
SETTINGS_OPTIONAL_LINE = "   • {topic}"
SETTINGS_LOCKED_LINE = "   🔒 {topic}"
SETTINGS_ON = "on"
SETTINGS_OFF = "off"
SETTINGS_BUTTON = "{kind}: {state}"
SETTINGS_BUTTON_ON = "✅ on"
SETTINGS_BUTTON_OFF = "⬜ off"
SETTINGS_SAVED = "Saved: {kind} {state}."
NOTICE_KIND_LABELS = {
    "logins": "Logins",
    "factors": "Security changes",
    "payments": "Payments",
    "reminders": "Reminders",
}
NOTICE_TOPIC_LABELS = {
    "new_telegram_login": "a login from a new Telegram account",
    "login": "every login, told to your other Telegram accounts",
    "password_changed": "password changed",
    "email_changed": "email address changed",
    "mfa_enabled": "two-factor authentication turned on",
    "mfa_disabled": "two-factor authentication turned off",
    "account_deleted": "the account deleted",
    "backup_codes": "new backup codes made",
    "api_keys": "exchange API keys added or deleted",
    "withdrawal": "a withdrawal requested",
    "referral_credit": "referral commissions credited",
    "payment_news": "news of a payment after /pay was answered: found, approved, held, rejected",
    "reminder": "renewal reminders before your plan ends",
}

# --- /security --------------------------------------------------------------------------------
SECURITY_HEADER = "🛡 <b>Security check-up</b>\n"
SECURITY_MFA_ON = "✅ Two-factor authentication is on."
SECURITY_MFA_OFF = "⚠️ Two-factor authentication is off: your password alone opens the account."
SECURITY_CODES_OK = "✅ {left} backup codes left."
SECURITY_CODES_FEW = "⚠️ Only {left} backup codes left."
SECURITY_SESSIONS_ONE = "✅ 1 live session: this one."
SECURITY_SESSIONS_MANY = "⚠️ {count} live sessions: check that each one is yours."
SECURITY_KEYS = "ℹ️ Exchange API keys stored: {count}."
SECURITY_NO_NEW_LOGIN = "✅ No login from a new Telegram account on record."
SECURITY_NEW_LOGIN = (
    "ℹ️ Last login from a new Telegram account: <code>{when} UTC</code> ({account})."
)
SECURITY_NO_WITHDRAWALS = "✅ No withdrawal waiting."
SECURITY_WITHDRAWALS = "⚠️ Withdrawals waiting for an admin: {count}. Not yours? /paysupport now."
SECURITY_BUTTON_ENROLL = "Enrol 2FA"
SECURITY_BUTTON_CODES = "New backup codes"
SECURITY_BUTTON_SESSIONS = "Sessions"
SECURITY_BUTTON_KEYS = "Keys"
SECURITY_BUTTON_ACTIVITY = "Activity"
SECURITY_BUTTON_WALLET = "Wallet"

# --- /delete_account --------------------------------------------------------------------------
DELETE_INTRO = (
    "⚠️ <b>Delete your Verzek account</b>\n\n"
    "This closes it for good: every session ends, nobody can log in to it again, your email "
    "address is removed (you may use it for a new account later), and your 2FA data, backup "
    "codes and exchange API keys are deleted. A wallet balance can no longer be withdrawn."
    "{balance}\n\n"
    "Kept, because the law and the audit log require it: invoices, payments, licenses, "
    "wallet and withdrawal records, and the security log (with your email masked).\n\n"
    "To go on, send your password. (/cancel to stop)"
)
DELETE_BALANCE = (
    "\n\n💰 Your wallet holds <b>{amount} USDT</b>: withdraw it first with /withdraw if you "
    "want it."
)
DELETE_ASK_CODE = (
    "Now send a current code from your authenticator app (or a backup code). (/cancel to stop)"
)
DELETE_CONFIRM = (
    "Last step. Press <b>Delete my account</b> to delete it now; this cannot be undone. "
    "Anything else keeps it."
)
DELETE_BUTTON = "🗑 Delete my account"
DELETE_KEEP_BUTTON = "Keep my account"
DELETE_PRESS_A_BUTTON = "Press one of the buttons above, or /cancel."
DELETE_KEPT = "Your account stays as it is. Nothing was deleted."
DELETE_DONE = (
    "🗑 Your Verzek account is deleted. Every session ended{others}; your other Telegram "
    "accounts are told. /register makes a new account if you ever want one."
)
DELETE_OTHERS_ENDED = " (also {count} on other devices)"
DELETE_BUTTON_STALE = "This is not a deletion you are confirming right now. Nothing was deleted."
DELETE_RESTART = "Start again with /delete_account."

NOTICE_ACCOUNT_DELETED = (
    "🗑 Your Verzek account was deleted from another of your Telegram accounts, and every "
    "session of it ended. If that wasn't you, write to the operator with /paysupport right away."
)
NOTICE_LOGIN = (
    "🔑 Someone logged in to your Verzek account from another of your Telegram accounts. If "
    "that wasn't you, change your password with /password and end that session in /sessions."
)

CARE_REFUSALS: Refusals = {
    NoticeKindUnknown: "That setting does not exist or cannot be turned off. Nothing changed.",
    DeletionWaitsForWithdrawals: lambda reason: (
        f"You have {count(reason.count, 'withdrawal')} waiting for an admin. The account can "
        "be deleted once they are paid out or refused (/wallet). Nothing was deleted."
    ),
    DeletionButtonStale: DELETE_BUTTON_STALE,
}
