"""English: The kill switch (admins)."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.safety.service import (
    Action,
    KillSwitchAlreadySet,
    KillSwitchHalts,
    KillSwitchReasonMissing,
)

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

HALTED = {
    Action.API_KEYS: (
        "⛔ Changes to API keys are paused platform-wide right now for safety, so nothing was "
        "changed. Please try again later. If you think a key is exposed, revoke it on the "
        "exchange's website: that works at once."
    ),
    Action.WITHDRAWALS: (
        "⛔ Withdrawals are paused platform-wide right now for safety, so nothing was "
        "changed. Please try again later; your balance is safe."
    ),
}


def killswitch_already_set(reason: KillSwitchAlreadySet) -> str:
    """The refusal when the switch is already where the admin wants it."""
    if reason.active:
        return "The kill switch is already <b>on</b>. Nothing was changed."
    return "The kill switch is already <b>off</b>. Nothing was changed."


SAFETY_REFUSALS: Refusals = {
    KillSwitchHalts: lambda reason: HALTED[reason.action],
    KillSwitchAlreadySet: killswitch_already_set,
    KillSwitchReasonMissing: (
        "Please give a reason (a few words), e.g. <code>/killswitch on exchange outage</code>."
    ),
}
