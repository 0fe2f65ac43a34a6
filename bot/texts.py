"""Every text the bot shows, in one place (tone review, translation). HTML parse mode."""

from __future__ import annotations

from html import escape

WELCOME = (
    "👋 <b>Welcome to Verzek Guard</b>, the secure front door of the Verzek trading platform.\n\n"
    "{next_step}\n\n"
    "Send /help to see everything I can do."
)
WELCOME_NEXT_STEP = "New here? Create an account with /register. Already have one? /login."

HELP_HEADER = "<b>Commands</b>"
HELP_ADMIN_HEADER = "<b>Admin commands</b>"

NOT_ALLOWED = "Sorry, that command is not available."
PRIVATE_CHAT_ONLY = (
    "For your safety I only talk about accounts in a private chat. Message me directly."
)
UNKNOWN_INPUT = "I didn't understand that. Send /help to see what I can do."
STALE_BUTTON = "This button is no longer active. Send the command again."
INTERNAL_ERROR = (
    "Sorry, something went wrong on our side and nothing was changed. Please try again in a "
    "moment; if it keeps happening, contact support."
)


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
FLOW_BUSY = "You are in the middle of something. Finish this step, or send /cancel to stop."
TEXT_EXPECTED = "Please send this as a text message."
SECRET_DELETED = "🔒 I deleted your message so your {what} doesn't stay in this chat."
SECRET_NOT_DELETED = (
    "⚠️ I couldn't delete your message. Please delete it yourself so your {what} doesn't stay "
    "in this chat."
)
LOGIN_FIRST = "Please /login first."
CAPTCHA_PROMPT = "Type the characters you see in the picture (letters and digits, {left} left)."
CAPTCHA_WRONG = "That didn't match. Here is a new picture."
CAPTCHA_RESTART = "That didn't match three times, so let's start over."
SKIP = "Skip"

# --- register ------------------------------------------------------------------------------
REG_ASK_EMAIL = (
    "Let's create your Verzek account.\n\n<b>Step 1 of 4</b> — send your email address.\n"
    "(Send /cancel at any time to stop.)"
)
REG_ASK_PASSWORD = (
    "<b>Step 2 of 4</b> — choose a password: 12 to 128 characters, anything you like. A few "
    "unrelated words make a strong one. I'll delete your message right after reading it."
)
REG_TRY_ANOTHER_PASSWORD = "Please send another password."
REG_CAPTCHA = "<b>Step 3 of 4</b> — prove you're human."
REG_ASK_REFERRAL = (
    "<b>Step 4 of 4</b> — do you have a referral code? Send it, or press <b>Skip</b>."
)
REG_UNKNOWN_REFERRAL = "I don't know that referral code. Send another one, or press Skip."
REG_DONE = (
    "✅ Your account <b>{email}</b> is ready.\n\nYour referral code: <code>{code}</code>\n\n"
    "Next: log in with /login, then protect your account with two-factor authentication."
)

# --- login ---------------------------------------------------------------------------------
LOGIN_ASK_EMAIL = "Log in to Verzek.\n\nSend your email address. (/cancel to stop)"
LOGIN_ASK_PASSWORD = "Now send your password. I'll delete your message right after reading it."
LOGIN_CAPTCHA = "One more step — prove you're human."
LOGIN_FAILED = "The email or password is not correct. Try again with /login."
LOGIN_DONE = (
    "✅ You're logged in as <b>{email}</b>.\n\nYour session ends after {idle} minutes without "
    "activity, or at the latest at {expires} UTC. /logout ends it now."
)
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
    "Two-factor authentication: {mfa}\n"
    "Session ends: {session_expires} UTC (after {idle} minutes without activity)"
)
PW_ASK_CURRENT = "Change your password.\n\nSend your <b>current</b> password. (/cancel to stop)"
PW_ASK_NEW = "Now send the <b>new</b> password (12 to 128 characters)."
PW_DONE = "✅ Your password was changed. {others}"
PW_OTHERS_ENDED = "Your other sessions ({count}) were logged out."
PW_NO_OTHERS = "No other sessions were open."
PW_CHANGED_ELSEWHERE = (
    "⚠️ The password of your Verzek account was changed, so this session was logged out. "
    "If that wasn't you, contact support right away."
)
EMAIL_ASK_PASSWORD = "Change your email.\n\nFirst send your password. (/cancel to stop)"
EMAIL_ASK_NEW = "Now send the new email address."
EMAIL_DONE = "✅ Your email is now <b>{email}</b>."
