"""English: welcome, help, errors, flows, captcha, and secrets that must not stay behind."""

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
    "For privacy I answer admin commands only in a private chat with an admin or in the admin chat."
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

# --- commands: forwarded and edited messages, admin rights -------------------------------------
FORWARDED_IGNORED = (
    "I don't act on forwarded messages or messages sent via a bot: please type it yourself."
)
FORWARDED_SECRET_DELETED = (
    "🔒 I deleted that forwarded message: I'm asking you for a password, code or key, and I "
    "never take a forwarded message as the answer. Please type it yourself."
)
FORWARDED_SECRET_NOT_DELETED = (
    "⚠️ I never take a forwarded message as the answer, and I couldn't delete that one: if it "
    "holds a password, code or key, please delete it yourself. Then type the answer yourself."
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
