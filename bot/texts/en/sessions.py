"""English: Flows that outlive their session, the withdrawal cool-down, owner notices."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.accounts.cooldown import WithdrawalsCoolingDown

# --- sessions: flows that outlive their session, cool-down, owner notices ----------------------
FLOW_ENDED = "⏹ This step ended because {reason}, so nothing was changed. {restart}"
FLOW_ENDED_LOG_IN = "Log in again with /login first."
FLOW_ENDED_DELETED = "🔒 I deleted your message, in case it held a secret."
# Why a flow ended, by core.accounts.sessions.EndReason value ("This step ended because …").
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
    "ended_elsewhere": "this session was ended from another of your devices (/sessions)",
    "account_deleted": "the account was deleted",
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


def withdrawals_cooling_down(reason: WithdrawalsCoolingDown) -> str:
    """The plain cool-down refusal (the wallet step says more with WITHDRAW_COOLDOWN)."""
    return (
        f"Withdrawals are paused until {reason.until:%Y-%m-%d %H:%M} UTC after a recent "
        "security change. Nothing was held."
    )


SESSION_REFUSALS: Refusals = {WithdrawalsCoolingDown: withdrawals_cooling_down}
