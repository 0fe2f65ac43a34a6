"""English: invite links (/referral, /start ref_CODE) and /sessions."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.accounts.refusals import OwnReferralCode, SessionButtonStale

# --- invite links ---------------------------------------------------------------------------
REFERRAL_LINK = "\n\nYour invite link: {link}\nWhoever opens it gets your code filled in."
SHARE = "📤 Share"
SHARE_TEXT = "Join me on Verzek Guard, the secure front door of the Verzek trading platform."
INVITE_REMEMBERED = (
    "🤝 You were invited with the referral code <code>{code}</code>. Send /register to create "
    "your account: the code is filled in for you (you can still change or skip it)."
)
INVITE_REFUSED = "{reason} Nothing was remembered; you can still /register without it."
INVITE_UNREADABLE = (
    "That link carried something I can't use, so I ignored it. If someone invited you, ask "
    "them for their referral code: you can type it at the last step of /register."
)
REG_ASK_REFERRAL_INVITED = (
    "<b>Step {step} of {total}</b> — you were invited with the referral code "
    "<code>{code}</code>. Press <b>Use {code}</b>, send another code, or press <b>Skip</b>."
)
USE_CODE = "Use {code}"

# --- /sessions ------------------------------------------------------------------------------
SESSIONS_HEADER = "🖥 <b>Your live sessions</b> ({count})"
SESSIONS_LINE = (
    "{number}. Telegram account {account}{this}\n    started {started} UTC, last seen {seen} UTC"
)
SESSIONS_THIS_DEVICE = " — <b>this device</b>"
SESSIONS_ONLY_THIS = "This is your only live session."
SESSIONS_FOOTER = "Ending a session logs that device out at once. To end this one, use /logout."
SESSION_END_BUTTON = "End {number} ({account})"
SESSIONS_END_OTHERS = "End all others"
SESSION_ENDED = "✅ Session {account} was ended; that device has to log in again."
SESSIONS_OTHERS_ENDED = "✅ {count} ended; those devices have to log in again."
SESSIONS_NONE_ENDED = "There were no other sessions to end."
SESSION_ENDED_ELSEWHERE = (
    "🔒 This session of your Verzek account was ended from another of your devices "
    "(/sessions). Log in again with /login if that was you; if it wasn't, change your "
    "password with /password from a device you trust."
)
SESSION_BUTTON_REFUSED = "That button is not for this session, so nothing was ended."


LINK_REFUSALS: Refusals = {
    OwnReferralCode: "That is your own referral code: it is for the people you invite.",
    SessionButtonStale: (
        "That button is out of date or not yours, so nothing was ended. Send /sessions for "
        "a fresh list."
    ),
}
