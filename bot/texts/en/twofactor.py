"""English: Two-factor authentication: enrolment, codes, backup codes, disabling."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.twofactor.refusals import (
    CodeEntryPaused,
    CodeReplayed,
    CodeWrong,
    EnrolFirst,
    FirstCodeMismatch,
    TwoFactorAlreadyOn,
    TwoFactorNotOn,
)

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


def code_entry_paused(reason: CodeEntryPaused) -> str:
    """Shown while code entry is paused."""
    minutes = max(1, (reason.seconds + 59) // 60)
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"Too many wrong codes. For your safety, code entry is paused for about {minutes} "
        f"{unit}. Please try again later."
    )


def _already_on(reason: TwoFactorAlreadyOn) -> str:
    return MFA_ALREADY_ON if reason.see_status else "Two-factor authentication is already on."


TWOFACTOR_REFUSALS: Refusals = {
    TwoFactorAlreadyOn: _already_on,
    EnrolFirst: "Start with /2fa_enroll first.",
    FirstCodeMismatch: (
        "That code didn't match. Send the 6-digit code your app shows now (if it keeps "
        "failing, check that your phone's clock is set automatically)."
    ),
    TwoFactorNotOn: "Two-factor authentication is not on for this account.",
    CodeEntryPaused: code_entry_paused,
    CodeReplayed: (
        "That code was already used. Wait for the next code in your app and send that one."
    ),
    CodeWrong: (
        "That code didn't work. Send the 6-digit code from your app, or one of your backup codes."
    ),
}
