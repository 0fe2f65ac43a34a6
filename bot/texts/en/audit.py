"""English: Activity, the audit trail, security alerts and notices."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.audit.activity import NoAccountWithEmail

# --- activity, audit trail, alerts (admin) and security notices ---------------------------
ACTIVITY_HEADER = "<b>Your account activity</b> (newest first, times in UTC)"
ACTIVITY_EMPTY = "Nothing has been recorded for your account yet."
PAGE_OLDER = "Older ▶"
PAGE_NEWER = "◀ Newer"
FROM_THIS_TELEGRAM = "this Telegram account"
FROM_OTHER_TELEGRAM = "another Telegram account"
NOT_YOUR_BUTTON = "This button isn't yours. Send /activity to see your own activity."

ADMIN_DATA_CHAT_ONLY = (
    "For privacy I show security data only in a private chat with an admin or in the admin chat."
)
AUDIT_USAGE = (
    "Usage: <code>/audit EMAIL</code>, <code>/audit ACCOUNT_ID</code> or "
    "<code>/audit tg:TELEGRAM_USER_ID</code>."
)
AUDIT_HEADER_ACCOUNT = "<b>Audit trail of account #{id}</b> ({email}), newest first, UTC"
AUDIT_HEADER_TELEGRAM = "<b>Audit trail of Telegram user {id}</b>, newest first, UTC"
AUDIT_EMPTY = "No events recorded."

ALERTS_HEADER = "<b>Recent security alerts</b> (newest first, UTC)"
ALERTS_EMPTY = "No security alerts so far."
ALERT_PENDING = "⏳ not delivered yet (attempt {attempts})"
SUSPICIOUS_HEADER = "<b>Suspicious activity in the last 24 hours</b>"
SUSPICIOUS_EMPTY = "Nothing suspicious in the last 24 hours."
SUSPICIOUS_LINE = "• <b>{rule}</b>: {hits} from {subjects}; alerts sent: {sent}, pending: {pending}"

ALERT_TITLE = "{icon} <b>Security alert: {rule}</b>"
ALERT_WHO = "Who: {who}"
ALERT_WHEN = "When: {when} UTC"
ALERT_EVIDENCE = "Evidence: {evidence}"
ALERT_FOLDED = "Folded in: {count} of this rule for this subject since the last alert"
ALERT_MORE = "More: {audit} · event #{event_id}"

SEVERITY_ICONS = {"critical": "🚨", "warning": "⚠️", "info": "ℹ️"}
RULE_LABELS = {
    "audit_chain_key": "The audit chain's key changed (verzek rotate-key, or the first start "
    "after the chain was keyed)",
    "failed_logins": "Repeated failed logins",
    "failed_2fa": "Repeated wrong 2FA codes",
    "totp_replay": "Reused 2FA code",
    "api_key_changes": "Many API-key changes",
    "large_withdrawal": "Large withdrawal",
    "new_telegram_account": "Login from a new Telegram account",
    "admin_command_denied": "Admin command by a non-admin",
    "killswitch": "Kill switch changed",
    "payment_hash_reuse": "Transaction hash used again",
    "payment_wrong_token": "Payment with a token that is not USDT",
    "payment_failed_verifications": "Repeated failed payment checks",
    "payment_unexpected_answer": "TronScan answered a payment check in an unknown shape",
    "invoice_slots_exhausted": "No free invoice amount left for a plan",
    "payment_unmatched_transfers": "Transfers to the receive address that pay no invoice",
    "signature_invalid": "Signed record fails its signature (tampering?)",
    "wallet_ledger_mismatch": "Wallet ledger disagrees with its withdrawals",
    "payment_needs_review": "A payment waits for an admin (late, partial, over or unclear)",
    "payment_hash_disputed": "Two accounts claim the same transfer",
}
# What a user reads in /activity for each event type.
EVENT_LABELS = {
    "LOGIN_SUCCESS": "Logged in",
    "LOGIN_FAILED": "Failed login attempt",
    "LOGOUT": "Logged out",
    "MFA_ENABLED": "Two-factor authentication turned on",
    "MFA_DISABLED": "Two-factor authentication turned off",
    "MFA_VERIFIED": "2FA code accepted",
    "MFA_FAILED": "Wrong 2FA code",
    "API_KEY_ADDED": "API key added",
    "API_KEY_UPDATED": "API key updated",
    "API_KEY_DELETED": "API key deleted",
    "PASSWORD_CHANGED": "Password changed",
    "EMAIL_CHANGED": "Email changed",
    "PAYMENT_SUBMITTED": "Payment submitted",
    "PAYMENT_APPROVED": "Payment approved",
    "PAYMENT_REJECTED": "Payment rejected",
    "SUBSCRIPTION_STARTED": "Subscription started",
    "SUBSCRIPTION_CANCELLED": "Subscription cancelled",
    "TRADE_EXECUTED": "Trade executed",
    "POSITION_CLOSED": "Position closed",
    "WITHDRAWAL_REQUESTED": "Withdrawal requested",
    "WITHDRAWAL_COMPLETED": "Withdrawal completed",
    "ADMIN_ACTION": "Admin action",
    "SETTINGS_CHANGED": "Settings changed",
    "SUSPICIOUS_ACTIVITY": "⚠️ Security alert",
    "RATE_LIMIT_EXCEEDED": "Too many requests",
    "REGISTERED": "Account created",
    "BACKUP_CREATED": "Backup created",
    "BACKUP_RESTORED": "Backup restored",
    "BACKUP_DRILL": "Restore drill",
    "ACCOUNT_DELETED": "Account deleted",
    "AUDIT_CHAIN_KEYED": "Audit chain keyed",
    "AUDIT_KEY_ROTATED": "Audit chain key rotated",
}

# The audit chain's anchor (bot/jobs/anchors.py reads "row N" and "link HEX" back from the
# pinned copy: keep both in this form).
AUDIT_ANCHOR = (
    "🔗 <b>Audit anchor</b> #{anchor_id} ({reason})\n"
    "row {row}\n"
    "link <code>{link}</code>\n"
    "Compare with the last anchor <code>verzek audit verify</code> prints."
)
AUDIT_ANCHOR_REASONS = {"hourly": "hourly", "backup": "after a backup", "startup": "at start-up"}
AUDIT_CHAIN_BROKEN_ALERT = (
    "🚨 <b>The audit log was tampered with</b>: its chain breaks at row {row}: {reason}. "
    "No new anchor is posted until this is resolved: investigate with "
    "<code>verzek audit verify</code>."
)
AUDIT_ROLLBACK_ALERT = (
    "🚨 <b>The audit log was rolled back or cut</b>: the anchor pinned here names row {row} "
    "(link <code>{link_prefix}…</code>, posted {posted} UTC), which this database does not "
    "hold; its newest row is {head_row}. Someone may have put back an older copy of the "
    "database or deleted its newest rows. No new anchor is pinned until this is resolved: "
    "investigate, run <code>verzek audit verify</code>, then unpin that anchor if the "
    "change was yours."
)

NOTICE_EMAIL_CHANGED = (
    "⚠️ The email address of your Verzek account was changed from {old} to {new}. "
    "If that wasn't you, log in and change your password with /password right away, and "
    "contact support."
)
NOTICE_API_KEY_ADDED = (
    "🔑 An API key for {exchange} (<b>{label}</b>, <code>{masked}</code>) was added to your "
    "Verzek account. If that wasn't you, log in, delete it with /apikeys and change your "
    "password with /password right away."
)
NOTICE_API_KEY_DELETED = (
    "🗑 The API key for {exchange} (<b>{label}</b>, <code>{masked}</code>) was deleted from "
    "your Verzek account. If that wasn't you, log in and change your password with /password "
    "right away."
)
NOTICE_GENERIC = (
    "⚠️ Security change on your Verzek account: {what}. If that wasn't you, log in and change "
    "your password with /password right away."
)

AUDIT_REFUSALS: Refusals = {NoAccountWithEmail: "There is no account with that email."}
