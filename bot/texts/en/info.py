"""English: the global commands /terms, /privacy and /paysupport (SPEC §11)."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.audit.support import SupportMessageEmpty, SupportMessageTooLong, SupportRequestsTooMany

# Shown when texts.terms_file is not set (or cannot be read). Plain text: escaped when sent.
TERMS_DEFAULT = "\n\n".join(
    (
        "Terms of service",
        "1. Verzek Guard is provided as is. The operator of this bot runs it; contact them with "
        "/paysupport.\n"
        "2. You are responsible for your account: keep your password and two-factor codes to "
        "yourself.\n"
        "3. Subscriptions are paid in advance in USDT (TRC20) for the period of the plan you "
        "chose (/plans). A payment counts once it is confirmed on chain or approved by an admin.\n"
        "4. Withdrawals of your wallet balance are paid out by an admin after a security "
        "cool-down; transfers on chain cannot be reversed, so check the address you give.\n"
        "5. The operator may suspend features (for example with the kill switch) to protect "
        "accounts and funds.\n"
        "6. Refunds and disputes: write to the operator with /paysupport, quoting your invoice or"
        " payment id.\n"
        "7. See /privacy for what is stored about you.",
    )
)

# Shown when texts.privacy_file is not set (or cannot be read). Plain text: escaped when sent.
# Written from what storage/migrations actually keep; change it with the schema.
PRIVACY_DEFAULT = "\n\n".join(
    (
        "Privacy: what this bot stores, for how long, and how to delete it",
        "Your account: your email address (lowercased), your password as an argon2id hash (never "
        "the password itself), your referral code and who referred you, when the account was "
        "made, and the Telegram user id and time of your last login. Kept while the account "
        "exists.",
        "Sessions: each login is a row with your Telegram user id, when it started, was last used"
        " and ended. Ended sessions are kept as history.",
        "Two-factor authentication: the TOTP secret, encrypted; backup codes only as hashes. "
        "Turning 2FA off deletes both.",
        "Exchange API keys: key, secret and passphrase are stored encrypted, bound to your "
        "account; lists show only the last 4 characters. /apikey_delete removes a key for good.",
        "Payments and wallet: invoices, reported transaction hashes, licenses and wallet entries "
        "(credits, commissions, withdrawals with their payout address). These are money records: "
        "they are never deleted, as accounting requires.",
        "Security log: logins, failed attempts, changes to your password, email, 2FA and API "
        "keys, payments and withdrawals are written to a tamper-evident audit log with your "
        "account number and Telegram user id. It is append-only and kept for good; it never holds"
        " passwords, codes or keys. Security notices sent to you (new login, 2FA turned off, "
        "...) are kept with a copy of the event. Failed login attempts (the email typed, the "
        "Telegram user id, the time) are kept for throttling; a successful login clears those of "
        "that Telegram account.",
        "Support requests (/paysupport): your message, email, Telegram id and last invoice and "
        "payment ids are sent to the operator's admin chat and kept with its alerts.",
        "Conversations in progress are kept encrypted until they end or time out; message texts "
        "you send are not stored otherwise.",
        "Backups: the whole database is copied into encrypted archives every night; archives "
        "older than the configured retention ({retention} here) are deleted, so "
        "anything removed from the database disappears from backups after that time.",
        "Notice choices (/settings): which kinds of notices you turned on or off. Kept while "
        "the account exists.",
        "To delete: API keys with /apikey_delete, 2FA data with /2fa_disable, sessions with "
        "/logout or /sessions. /delete_account (your password, and a 2FA code when it is on) "
        "closes the account for good: every session ends, your email address is replaced by a "
        "placeholder (so it is no longer stored and can be used for a new account), the "
        "password hash is made unusable, and the 2FA secret, backup codes, API keys and notice "
        "choices are deleted. Kept, because accounting and the audit log require it: the "
        "account's number, referral code and dates, its invoices, payments, licenses, wallet "
        "and withdrawal records, and the security log (emails in it are masked). While a "
        "withdrawal waits for an admin, deletion waits too.",
    )
)

# Shown when texts.paysupport_file is not set (or cannot be read).
PAYSUPPORT_INTRO = (
    "<b>Help with a payment</b>\n\n"
    "• Paid but the invoice is still open? Check /payments: a transfer counts after its "
    "confirmations on chain, or once an admin approves it.\n"
    "• Sent the wrong amount or to the wrong address, or want a refund? Tell the operator "
    "below, with your invoice id and transaction hash.\n"
    "• Paid in Telegram Stars? /subscription shows your Stars subscription and cancels its "
    "renewal; for a refund, tell the operator below (the date, and the plan you bought). "
    "Telegram's own support cannot refund a bot's Stars payments: only the operator can.\n\n"
    "Write your message now (plain text, at most {limit} characters), or /cancel to stop."
)
# Sent after the text of texts.paysupport_file, when one is configured (the file is plain).
PAYSUPPORT_ASK = (
    "Write your message now (plain text, at most {limit} characters), or /cancel to stop."
)
PAYSUPPORT_SENT = (
    "✅ Your message reached the operator (request #{reference}). They will answer you here "
    "in Telegram."
)
PAYSUPPORT_RESTART = "/paysupport"
SUPPORT_ALERT_TITLE = "🆘 <b>Support request</b> #{reference}"
SUPPORT_ALERT_WHO = "From: {who}"
SUPPORT_ALERT_EMAIL = "Email: <code>{email}</code>"
SUPPORT_ALERT_NOT_LOGGED_IN = "Email: not logged in"
SUPPORT_ALERT_LAST = "Last invoice: {invoice} · last payment: {payment}"
SUPPORT_ALERT_MESSAGE = "Message:\n{message}"
SUPPORT_ALERT_REPLY = "Reply to them: tg://user?id={telegram_user_id}"

INFO_REFUSALS: Refusals = {
    SupportMessageEmpty: "Your message is empty. Write what went wrong, or /cancel.",
    SupportMessageTooLong: (
        "That message is {length} characters; the limit is {limit}. Nothing was sent: please "
        "shorten it and send it again, or /cancel."
    ),
    SupportRequestsTooMany: (
        "You already sent {limit} support requests in the last {minutes} minutes. Nothing was "
        "sent: the operator has your messages and will answer; please wait before writing again."
    ),
}
