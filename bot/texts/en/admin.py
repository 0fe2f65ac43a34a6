"""English: Admin-only views: /stats and the first-day operator checks."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.authz import AdminNeedsTwoFactor, NoteNotPlain, NoteTooLong

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

ADMIN_REFUSALS: Refusals = {
    AdminNeedsTwoFactor: (
        "This admin action needs your own account logged in with two-factor "
        "authentication on. Turn it on with /2fa_enroll."
    ),
    NoteNotPlain: "The reason may only contain ordinary text.",
    NoteTooLong: "Please keep the reason under {maximum} characters.",
}
