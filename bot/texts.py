"""Every text the bot shows, in one place (tone review, translation). HTML parse mode."""

from __future__ import annotations

from html import escape

WELCOME = (
    "👋 <b>Welcome to Verzek Guard</b>, the secure front door of the Verzek trading platform.\n\n"
    "{next_step}\n\n"
    "Send /help to see everything I can do."
)
WELCOME_NEXT_STEP = (
    "New here? Create an account with /register. Already have one? Log in with /login."
)

HELP_HEADER = "<b>Commands</b>"
HELP_ADMIN_HEADER = "<b>Admin commands</b>"

NOT_ALLOWED = "Sorry, that command is not available."
ADMIN_PRIVATE_CHAT_ONLY = (
    "For privacy I answer admin commands only in a private chat with an admin or in the admin "
    "chat."
)
PRIVATE_CHAT_ONLY = (
    "For your safety I only talk about accounts in a private chat. Message me directly."
)
UNKNOWN_INPUT = "I didn't understand that. Send /help to see what I can do."
STALE_BUTTON = "This button is no longer active. Send the command again."
INTERNAL_ERROR = (
    "Sorry, something went wrong on our side and nothing was changed. Please try again in a "
    "moment; if it keeps happening, contact support."
)
RATE_LIMITED = "Too many requests — try again in {seconds} s"


def help_text(user_lines: list[tuple[str, str]], admin_lines: list[tuple[str, str]]) -> str:
    """The /help reply: user commands, then admin commands for admins."""
    parts = [HELP_HEADER, *(f"/{name} — {escape(text)}" for name, text in user_lines)]
    if admin_lines:
        parts += [
            "",
            HELP_ADMIN_HEADER,
            *(f"/{name} — {escape(text)}" for name, text in admin_lines),
        ]
    return "\n".join(parts)


# --- shared flow texts ---------------------------------------------------------------------
CANCELLED = "Cancelled. Nothing was saved."
NOTHING_TO_CANCEL = "There is nothing to cancel."
FLOW_TIMEOUT = "⌛ That took longer than 5 minutes, so I stopped. Nothing was saved. {restart}"
FLOW_BUSY = "You're in the middle of something. Finish this step, or send /cancel to stop."
TEXT_EXPECTED = "Please send this as a text message."
SECRET_DELETED = "🔒 I deleted your message so your {what} doesn't stay in this chat."
SECRET_NOT_DELETED = (
    "⚠️ I couldn't delete your message. Please delete it yourself so your {what} doesn't stay "
    "in this chat."
)
LOGIN_FIRST = "Please /login first."
ADMIN_NEEDS_2FA = (
    "This admin action needs your own account logged in with two-factor authentication on. "
    "Turn it on with /2fa_enroll."
)
CAPTCHA_PROMPT = (
    "Type the characters in the picture. They are letters and digits, never {left_out}; "
    "small or capital letters both work. ({tries_left})"
)
CAPTCHA_TRIES_LEFT = "{tries} left"
CAPTCHA_WRONG = "That didn't match. Look at the same picture again ({tries_left})."
CAPTCHA_NEW_PICTURE = "That didn't match three times, so here is a new picture."
CAPTCHA_RESTART = (
    "That didn't match on several pictures, so I stopped here. Nothing was saved. {restart}"
)
SKIP = "Skip"

# --- register ------------------------------------------------------------------------------
REG_ASK_EMAIL = (
    "Let's create your Verzek account.\n\n<b>Step 1 of {total}</b> — send your email address. "
    "(/cancel to stop)"
)
REG_ASK_PASSWORD = (
    "<b>Step 2 of {total}</b> — choose a password: 12 to 128 characters, anything you like. A few "
    "unrelated words make a strong one. I'll delete your message right after reading it."
)
REG_TRY_ANOTHER_PASSWORD = "Please send another password."
REG_CAPTCHA = "<b>Step 3 of {total}</b> — prove you're human."
REG_ASK_REFERRAL = (
    "<b>Step {step} of {total}</b> — do you have a referral code? Send it, or press <b>Skip</b>."
)
REG_UNKNOWN_REFERRAL = "I don't know that referral code. Send another one, or press Skip."
REG_DONE = (
    "✅ Your account <b>{email}</b> is ready, and you're logged in.\n\n{referred}"
    "Your own referral code: <code>{code}</code>\n\n{session}\n\n"
    "Next: protect your account with two-factor authentication (/2fa_enroll)."
)

# --- login ---------------------------------------------------------------------------------
LOGIN_ASK_EMAIL = "Log in to Verzek.\n\nSend your email address. (/cancel to stop)"
LOGIN_ASK_PASSWORD = "Now send your password. I'll delete your message right after reading it."
LOGIN_CAPTCHA = "One more step — prove you're human."
# The one verdict for a wrong password and an unknown email; a hint follows it.
LOGIN_FAILED = "The email or password is not correct."
LOGIN_FAILED_START_OVER = "Start again with /login."
LOGIN_DONE = "✅ You're logged in as <b>{email}</b>.\n\n{session}"
LOGIN_ELSEWHERE = (
    "⚠️ Your Verzek account <b>{email}</b> was just logged in from another Telegram account. "
    "If that wasn't you, log in here and change your password with /password right away."
)
LOGOUT_DONE = "You're logged out. See you soon."
LOGOUT_NONE = "You're not logged in."

# --- account -------------------------------------------------------------------------------
ME = (
    "<b>Your account</b>\n"
    "Email: {email}\n"
    "Tier: {tier}\n"
    "License: {license}\n"
    "Two-factor authentication: {mfa}\n\n"
    "{session}"
)
PW_ASK_CURRENT = "Change your password.\n\nSend your <b>current</b> password. (/cancel to stop)"
PW_ASK_NEW = (
    "Now send the <b>new</b> password (12 to 128 characters). I'll delete your message right "
    "after reading it."
)
PW_DONE = "✅ Your password was changed. {others}"
PW_OTHERS_ENDED = "I logged out your {count}."
PW_NO_OTHERS = "No other sessions were open."
PW_CHANGED_ELSEWHERE = (
    "⚠️ The password of your Verzek account was changed, so this session was logged out. "
    "If that wasn't you, contact support right away."
)
EMAIL_ASK_PASSWORD = "Change your email.\n\nFirst send your password. (/cancel to stop)"
EMAIL_ASK_NEW = "Now send the new email address."
EMAIL_DONE = "✅ Your email is now <b>{email}</b>."

# --- two-factor authentication --------------------------------------------------------------
MFA_STATUS_ON = (
    "🛡 <b>Two-factor authentication is on</b> (since {since} UTC).\n"
    "Backup codes left: {left} of 10."
)
MFA_STATUS_OFF = (
    "⚠️ <b>Two-factor authentication is off.</b>\n"
    "Turn it on so a stolen password alone can't open your account."
)
MFA_BUTTON_ENROLL = "Turn on"
MFA_BUTTON_CODES = "New backup codes"
MFA_BUTTON_DISABLE = "Turn off"
MFA_ALREADY_ON = "Two-factor authentication is already on. See /2fa."
MFA_NOT_ON = "Two-factor authentication is not on. Turn it on with /2fa_enroll."
MFA_SCAN = (
    "Scan this QR code with your authenticator app (Google Authenticator, Authy, 1Password…)."
)
MFA_MANUAL = "Can't scan it? Add the account by hand with this key:\n<code>{secret}</code>"
MFA_ASK_FIRST_CODE = (
    "Then send the 6-digit code the app shows, to confirm. I'll delete the QR code and the key "
    "from this chat once you're done. (/cancel to stop)"
)
MFA_ENABLED = (
    "✅ <b>Two-factor authentication is on.</b>\n\n"
    "Your backup codes — each works once, and I show them only now. Save them somewhere safe "
    "and offline, then delete this message:\n\n{codes}"
)
MFA_NEW_CODES = (
    "✅ Here are your new backup codes; the old ones no longer work. Save them somewhere safe "
    "and offline, then delete this message:\n\n{codes}"
)
MFA_ASK_CODE = "Send the 6-digit code from your authenticator app. (/cancel to stop)"
MFA_ASK_CODE_OR_BACKUP = (
    "🛡 Two-factor authentication is on for this account. Send the 6-digit code from your "
    "app, or one of your backup codes."
)
MFA_DISABLE_ASK_PASSWORD = (
    "Turn off two-factor authentication.\n\nFirst send your password. (/cancel to stop)"
)
MFA_DISABLED = (
    "Two-factor authentication is now <b>off</b>. {others} Turn it back on any time with "
    "/2fa_enroll."
)
MFA_DISABLED_ELSEWHERE = (
    "⚠️ Two-factor authentication was turned off for your Verzek account, so this session was "
    "logged out. If that wasn't you, contact support right away."
)

# --- exchange API keys ---------------------------------------------------------------------
APIKEYS_NONE = "You have no exchange API keys yet. Add one with /apikey_add."
APIKEYS_HEADER = "<b>Your exchange API keys</b>"
APIKEYS_LINE = (
    "<b>#{id}</b> · {exchange} · {label} · <code>{masked}</code> · added {added} UTC{replaced}"
)
APIKEYS_REPLACED = ", replaced {at} UTC"
APIKEYS_FOOTER = (
    "Add or replace a key with /apikey_add; delete one with <code>/apikey_delete ID</code>."
)
APIKEY_BUTTON_ADD = "Add a key"
APIKEY_ASK_EXCHANGE = (
    "Add an exchange API key.\n\n<b>Step 1</b> — which exchange is it for? (/cancel to stop)"
)
APIKEY_PICK_EXCHANGE = "Please choose the exchange with one of the buttons above."
APIKEY_ASK_LABEL = (
    "<b>{exchange}</b> it is.\n\n<b>Step 2</b> — send a short label for this key, e.g. "
    "<code>main</code> (1 to 32 characters). Using a label you already have for {exchange} "
    "replaces that key."
)
APIKEY_LABEL_DELETED = "🔒 I deleted your message in case it was a key."
APIKEY_ASK_KEY = (
    "<b>Step 3</b> — send the <b>API key</b>. I'll delete your message right after reading "
    "it.\n\nTip: give the key trading rights only, never withdrawal rights."
)
APIKEY_WILL_REPLACE = (
    "ℹ️ You already have a {exchange} key labelled <b>{label}</b> (<code>{masked}</code>); "
    "finishing this replaces it."
)
APIKEY_ASK_SECRET = "<b>Step 4</b> — now send the <b>API secret</b>."
APIKEY_ASK_PASSPHRASE = "<b>Step 5</b> — {exchange} keys have a <b>passphrase</b>: send it."
APIKEY_ASK_CODE = (
    "Last step — confirm with the 6-digit code from your authenticator app (or a backup "
    "code)."
)
APIKEY_ASK_PASSWORD = (
    "Last step — confirm with your account password. (With /2fa_enroll you would confirm "
    "with a code from your phone instead.)"
)
APIKEY_ADDED = (
    "✅ Your {exchange} key <b>{label}</b> (<code>{masked}</code>) is saved, encrypted, as "
    "<b>#{id}</b>. See /apikeys."
)
APIKEY_REPLACED = (
    "✅ Your {exchange} key <b>{label}</b> was replaced; it is now <code>{masked}</code> "
    "(<b>#{id}</b>). See /apikeys."
)
APIKEY_DELETE_USAGE = (
    "Send <code>/apikey_delete ID</code> with the ID from /apikeys, e.g. "
    "<code>/apikey_delete 3</code>."
)
APIKEY_DELETE_CONFIRM = (
    "Delete your {exchange} key <b>{label}</b> (<code>{masked}</code>, #{id})? Trading with "
    "it stops. This can't be undone."
)
APIKEY_BUTTON_DELETE = "Delete"
APIKEY_BUTTON_KEEP = "Keep it"
APIKEY_DELETE_ASK_CODE = (
    "Send the 6-digit code from your authenticator app (or a backup code) to confirm. "
    "(/cancel to stop)"
)
APIKEY_DELETED = (
    "🗑 Your {exchange} key <b>{label}</b> (<code>{masked}</code>) was deleted. Revoke it on "
    "the exchange's website too, so it can't be used anywhere else."
)
APIKEY_KEPT = "OK, I kept the key. Nothing was changed."

# --- kill switch (admin) -------------------------------------------------------------------
KS_USAGE = (
    "Usage: <code>/killswitch on REASON</code> or <code>/killswitch off REASON</code>.\n"
    "While it is on, API-key changes and withdrawals are refused platform-wide."
)
KS_STATUS_ON = "⛔ The kill switch is <b>on</b> (since {since} UTC).\nReason: {reason}"
KS_STATUS_OFF = "✅ The kill switch is <b>off</b>."
KS_PRIVATE_ONLY = (
    "Please change the kill switch in a private chat with me: it asks for your 2FA code."
)
KS_ASK_CODE = (
    "Turn the kill switch <b>{state}</b>?\nReason: {reason}\n\n"
    "Send the 6-digit code from your authenticator app to confirm. (/cancel to stop)"
)
KS_DONE_ON = (
    "⛔ The kill switch is now <b>on</b>: API-key changes and withdrawals are refused "
    "platform-wide. The admin chat is being alerted. Turn it off with "
    "<code>/killswitch off REASON</code>."
)
KS_DONE_OFF = (
    "✅ The kill switch is now <b>off</b>: API-key changes and withdrawals work again. The "
    "admin chat is being alerted."
)

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
SUSPICIOUS_LINE = (
    "• <b>{rule}</b>: {hits} from {subjects}; alerts sent: {sent}, pending: {pending}"
)

ALERT_TITLE = "{icon} <b>Security alert: {rule}</b>"
ALERT_WHO = "Who: {who}"
ALERT_WHEN = "When: {when} UTC"
ALERT_EVIDENCE = "Evidence: {evidence}"
ALERT_FOLDED = "Folded in: {count} of this rule for this subject since the last alert"
ALERT_MORE = "More: {audit} · event #{event_id}"

SEVERITY_ICONS = {"critical": "🚨", "warning": "⚠️", "info": "ℹ️"}
RULE_LABELS = {
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
    "signature_invalid": "Signed record fails its signature (tampering?)",
    "wallet_ledger_mismatch": "Wallet ledger disagrees with its withdrawals",
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
}

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

# --- backups (admin) -------------------------------------------------------------------------
BACKUP_STARTED = "⏳ Backing up the database… I'll answer once the archive is written and verified."
BACKUP_DONE = (
    "✅ Backup <code>{name}</code> written and verified.\n"
    "{size} · schema {schema} · {rows} in {tables}."
)
BACKUP_FAILED = "❌ The backup failed: {reason}\nThe admin chat was alerted."
BACKUP_ALERT = (
    "🚨 <b>{what} failed</b>: {reason}\n"
    "Earlier archives are untouched. Fix the cause, then run /backup to make a fresh one."
)
BACKUP_ALERT_NIGHTLY = "Nightly backup"
BACKUP_ALERT_MANUAL = "Backup requested by admin {admin}"
BACKUP_ALERT_PRUNE = "Removing old backups"
BACKUPS_EMPTY = "No backups yet. /backup makes one now."
BACKUPS_HEADER = "<b>Backups</b> (newest first, times in UTC)"
BACKUPS_ITEM = "{mark} <code>{name}</code>\n{time} · {size} · schema {schema} · {status}\n{counts}"
BACKUPS_VERIFIES = "verifies"
BACKUPS_FAILS = "does NOT verify: {problem}"
BACKUPS_FOOTER = "Restore one with <code>/restore NAME</code>."
RESTORE_USAGE = "Send <code>/restore NAME</code> with the name of an archive from /backups."
RESTORE_PRIVATE_ONLY = (
    "For your safety, restore backups in a private chat with me: it asks for your 2FA code."
)
RESTORE_CONFIRM = (
    "♻️ <b>Restore {name}?</b>\n"
    "Taken {time} UTC · schema {schema} · {rows}.\n\n"
    "This replaces <b>all</b> current data with the backup's: whatever changed since then "
    "(accounts, passwords, 2FA, payments, audit events) leaves the live database and is kept "
    "only in a safety backup I take first. Every session ends, so everyone — you included — "
    "logs in again. The bot pauses while the file is swapped."
)
RESTORE_BUTTON = "Restore"
RESTORE_CANCEL_BUTTON = "Cancel"
RESTORE_ASK_CODE = (
    "Send the 6-digit code from your authenticator app to confirm the restore. (/cancel to stop)"
)
RESTORE_CANCELLED = "Cancelled. Nothing was changed."
RESTORE_RUNNING = (
    "⏳ Verifying the archive, taking a safety backup and swapping the database… this can take "
    "a while for a large database."
)
RESTORE_REFUSED = "❌ Restore refused: {reason}\nThe current database was not changed."
RESTORE_FAILED = "❌ Restore failed: {reason}"
RESTORE_DONE = (
    "✅ <b>Restored {name}</b> (taken {time} UTC).\n"
    "Safety backup of the replaced data: {safety}.\n\n"
    "{sessions} ended, yours included: please /login again, with the password and 2FA your "
    "account had when the backup was taken."
)
RESTORE_NO_SAFETY = "none (there was no database file)"
RESTORE_ADMIN_NOTICE = (
    "♻️ <b>Database restored</b> from <code>{name}</code> (taken {time} UTC) by admin {admin}. "
    "Safety backup of the replaced data: {safety}. Every session was ended."
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
    "time": "After the invoice",
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

# --- admin: /stats -----------------------------------------------------------------------------
STATS = (
    "<b>Verzek at a glance</b>\n"
    "Users: {users}\n"
    "Active licenses: {licenses}\n"
    "Payments waiting: {pending}\n"
    "Security alerts today (UTC): {alerts}"
)


# --- first day (operator side) ---
IDS_PRIVATE = (
    "🪪 Your Telegram user id: <code>{user_id}</code>\n\n"
    "For the bot's configuration: admins' user ids go in <code>VERZEK_ADMINS</code> (a comma "
    "list). For <code>ADMIN_CHAT_ID</code>, add the bot to the admin group and send "
    "<code>/id@{bot}</code> there."
)
IDS_GROUP = (
    "🪪 Your Telegram user id: <code>{user_id}</code>\n"
    "This chat's id: <code>{chat_id}</code>\n\n"
    "For the bot's configuration: this chat's id goes in <code>ADMIN_CHAT_ID</code> if alerts "
    "should come here; admins' user ids go in <code>VERZEK_ADMINS</code>."
)
IDS_IS_ADMIN_CHAT = "✅ This chat is the configured admin chat: alerts come here."
IDS_IS_ADMIN = "✅ You are a configured admin."
ADMIN_NEEDS_ACCOUNT = (
    "🔐 Admin actions need your own account with 2FA: /register (once), /login, then "
    "/2fa_enroll. Then send this command again."
)

# --- sessions: flows that outlive their session, cool-down, owner notices ----------------------
FLOW_ENDED = "⏹ This step ended because {reason}, so nothing was changed. {restart}"
FLOW_ENDED_LOG_IN = "Log in again with /login first."
FLOW_ENDED_DELETED = "🔒 I deleted your message, in case it held a secret."
# Why a flow ended, by core.sessions.EndReason value ("This step ended because …").
FLOW_END_REASONS = {
    "logout": "you logged out (here or on another device)",
    "expired": "your session reached its 12-hour limit",
    "idle": "your session expired after a while without activity",
    "replaced": "this Telegram account logged in again",
    "password_changed": "the account's password was changed",
    "email_changed": "the account's email address was changed",
    "mfa_enabled": "two-factor authentication was turned on",
    "mfa_disabled": "two-factor authentication was turned off",
    "restored": "the data was restored from a backup",
    "proof_expired": "your password or code was confirmed more than 5 minutes ago",
    "ended": "your session ended",
}
MFA_ENROLL_ASK_PASSWORD = (
    "Set up two-factor authentication.\n\nFirst confirm it's you: send your password. "
    "(/cancel to stop)"
)
WITHDRAW_COOLDOWN = (
    "⏳ Withdrawals are paused until <b>{until} UTC</b> because {what} recently. After a "
    "security change, withdrawals wait {hours} hours, so you have time to react if it wasn't "
    "you. Nothing was held."
)
WITHDRAW_COOLDOWN_CHANGES = {
    "password_changed": "your password was changed",
    "email_changed": "your email address was changed",
    "mfa_enabled": "two-factor authentication was turned on",
    "mfa_disabled": "two-factor authentication was turned off",
    "backup_codes": "new backup codes were made",
}
NOTICE_MFA_ENABLED = (
    "🛡 Two-factor authentication was turned on for your Verzek account. If that wasn't you, "
    "someone else's app now holds your second factor: log in, turn it off with /2fa_disable, "
    "change your password with /password and contact support right away."
)
NOTICE_MFA_DISABLED = (
    "⚠️ Two-factor authentication was turned off for your Verzek account, and its other "
    "sessions were logged out. If that wasn't you, change your password with /password and "
    "contact support right away."
)
NOTICE_BACKUP_CODES = (
    "🔑 New backup codes were made for your Verzek account; the old ones no longer work. If "
    "that wasn't you, log in, make new ones with /backup_codes and change your password with "
    "/password right away."
)
NOTICE_WITHDRAWAL = (
    "💸 A withdrawal of {amount} USDT to <code>{address}</code> was requested from your "
    "Verzek account (#{id}). If that wasn't you, contact support right away: it is paid out "
    "only after an admin checks it."
)

# --- commands: forwarded and edited messages, admin rights -------------------------------------
FORWARDED_IGNORED = (
    "I don't act on forwarded messages or messages sent via a bot: please type it yourself."
)
EDITED_IGNORED = "I don't act on edited messages: please send it again as a new message."
# --- secrets never stay behind ----------------------------------------------------------------
SECRET_FLOW_PRIVATE_ONLY = (
    "🔒 This asks for a password or a code, so let's continue in a private chat with me: "
    "send the command there."
)
SECRET_LEFT_GENERIC_HINT = "Send /help to see the commands."
SECRET_LEFT_DELETED = (
    "🔒 That looked like it might be a password or code, so I deleted it: the step that "
    "asked for it had already ended. {restart}"
)
SECRET_LEFT_NOT_DELETED = (
    "⚠️ That looked like it might be a password or code, and the step that asked for it had "
    "already ended. I couldn't delete it: please delete it yourself. {restart}"
)
FLOW_LOST = (
    "⚠️ I couldn't pick up where we were (I restarted and that step was lost), so I stopped. "
    "Nothing was saved. {restart}"
)
BACKUP_CODES_SAVED_BUTTON = "✅ I saved them"
BACKUP_CODES_AUTO_DELETE = "I'll delete this message when you press the button, or in 10 minutes."
BACKUP_CODES_GONE = "🔒 I deleted the message with your backup codes."
FLOOD_DROPPED = (
    "⏳ You're sending messages faster than I can answer, so I skipped some of them (and "
    "deleted the texts, in case one held a secret). Wait for my replies, then send again."
)


# --- sign-in, session times and notices people expect ---------------------------------------
REG_CONFIRM_PASSWORD = (
    "<b>Step 2 of {total}</b> — send the same password once more, so a typo can't lock you "
    "out."
)
PASSWORDS_DIFFER = "The two passwords weren't the same, so I kept neither."
REG_REFERRED = "You were referred by code <code>{code}</code>.\n\n"
LOGIN_FAILED_TRY_AGAIN = (
    "Send the password again, or start over with /login if the email was wrong."
)
SESSION_LIMITS = (
    "Your session ends after {idle} without activity (at {idle_end} UTC if you do nothing "
    "more), and at {absolute_end} UTC at the latest, however active you are. /logout ends it "
    "now."
)
ME_MFA_ON = "on (since {since}, {left} left)"
ME_MFA_OFF = "off — turn it on with /2fa_enroll"
PW_CONFIRM_NEW = "Send the new password once more, so a typo can't lock you out."
LOGIN_BACKUP_CODE_USED = "🛡 You used a backup code, so it won't work again: {left} left."
LOGIN_FEW_BACKUP_CODES = "Make a new set soon with /backup_codes."
LOGIN_LAST_BACKUP_CODE = (
    "⚠️ That was your last backup code. Make a new set now with /backup_codes, so losing your "
    "phone can't lock you out."
)
NOTICE_REFERRAL_CREDITED = (
    "🤝 <b>{amount} USDT</b> referral commission was credited to your /wallet: someone who "
    "signed up with your code paid for a plan."
)
RESTORE_LOGGED_OUT = (
    "♻️ An admin restored the Verzek database from a backup taken {time} UTC, so every "
    "session ended, yours included. Please /login again, with the password and 2FA your "
    "account had then. If you registered after that time, your account is not in the backup: "
    "please contact support."
)
