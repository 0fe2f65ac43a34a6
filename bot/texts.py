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
