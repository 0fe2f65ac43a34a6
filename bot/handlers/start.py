"""/start (with an invite link's payload), /help and the fallback for anything not understood.

An invite link ``t.me/<bot>?start=ref_CODE`` opens the private chat with the text
``/start ref_CODE`` (Telegram's payload rule: at most 64 characters of ``A-Za-z0-9_-``). The
code is checked like a typed one and remembered (:class:`bot.flow_state.Invitation`) for
/register's referral step. Anything else after /start (too long, other characters, look-alike
letters, more words) is no payload: the user is told, and nothing is remembered.
"""

from __future__ import annotations

import re
from html import escape

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import texts
from bot.commands import ADMIN_COMMANDS, USER_COMMANDS
from bot.context import Context, VerzekApplication
from bot.flow_state import INVITATION, Invitation
from bot.gate import is_admin
from bot.invite_links import REFERRAL_PREFIX
from core.errors import Refusal

# Telegram's rule for a start payload; ASCII only (no \w: it would take look-alike letters).
PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def start_payload(message: Message) -> str | None:
    """What follows ``/start `` exactly as Telegram sends an opened link (one space, one
    word of the payload alphabet); ``None`` when nothing follows; ``""`` when something
    that is not a payload does."""
    text = message.text or ""
    command = next((e for e in message.entities if e.type == "bot_command" and e.offset == 0), None)
    rest = text[command.length :] if command is not None else ""
    if not rest.strip():
        return None
    payload = rest[1:] if rest.startswith(" ") else ""
    return payload if PAYLOAD.fullmatch(payload) else ""


async def start(update: Update, context: Context) -> None:
    """Greet the user and point at the next step; take an invite link's referral code."""
    message, chat = update.effective_message, update.effective_chat
    if message is None:
        return
    payload = start_payload(message) if chat is not None and chat.type == ChatType.PRIVATE else None
    if payload is None:
        await message.reply_text(texts.WELCOME.format(next_step=texts.WELCOME_NEXT_STEP))
        return
    if not payload.startswith(REFERRAL_PREFIX) or payload == REFERRAL_PREFIX:
        await message.reply_text(texts.WELCOME.format(next_step=texts.INVITE_UNREADABLE))
        return
    await take_invitation(update, context, message, payload.removeprefix(REFERRAL_PREFIX))


async def take_invitation(update: Update, context: Context, message: Message, code: str) -> None:
    """Remember the invite's code when it is a known one and not the caller's own (a second
    link replaces the first; the same one twice keeps one); otherwise say why, keep nothing."""
    user = update.effective_user
    assert user is not None and context.user_data is not None
    try:
        cleaned = await context.bot_data.services.accounts.invited_by(code, user.id)
    except Refusal as exc:
        await message.reply_text(texts.INVITE_REFUSED.format(reason=texts.render(exc)))
        return
    context.user_data[INVITATION] = Invitation(cleaned)
    await message.reply_text(texts.INVITE_REMEMBERED.format(code=escape(cleaned)))


async def show_help(update: Update, context: Context) -> None:
    """List the commands for the caller's role."""
    admin_lines = (
        [(c.name, c.description) for c in ADMIN_COMMANDS] if is_admin(update, context) else []
    )
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            texts.help_text([(c.name, c.description) for c in USER_COMMANDS], admin_lines)
        )


async def show_ids(update: Update, context: Context) -> None:
    """/id: the caller's Telegram user id and this chat's id, for ``VERZEK_ADMINS`` and
    ``ADMIN_CHAT_ID``. Works in groups too (that is where the admin chat's id is found)."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return
    telegram = context.bot_data.services.settings.telegram
    bot_name = context.bot.username or "YourBot"
    if chat.type == ChatType.PRIVATE:
        text = texts.IDS_PRIVATE.format(user_id=user.id, bot=bot_name)
    else:
        text = texts.IDS_GROUP.format(user_id=user.id, chat_id=chat.id)
        if chat.id == telegram.admin_chat_id:
            text += "\n" + texts.IDS_IS_ADMIN_CHAT
    if user.id in telegram.admins:
        text += "\n" + texts.IDS_IS_ADMIN
    await message.reply_text(text)


async def nothing_to_cancel(update: Update, context: Context) -> None:
    """/cancel outside any flow."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.NOTHING_TO_CANCEL)


async def fallback(update: Update, context: Context) -> None:
    """Anything no other handler took: a hint towards /help."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.UNKNOWN_INPUT)


async def stale_button(update: Update, context: Context) -> None:
    """A button no handler knows (old message, forged data): say so, change nothing."""
    if update.callback_query is not None:
        await update.callback_query.answer(texts.STALE_BUTTON, show_alert=True)


def register(application: VerzekApplication) -> None:
    """Wire the handlers of this module."""
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", show_help))
    application.add_handler(CommandHandler("id", show_ids))


def register_fallback(application: VerzekApplication) -> None:
    """The last resort; registered after every feature so it only sees what none took."""
    application.add_handler(CommandHandler("cancel", nothing_to_cancel))
    application.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & ~filters.UpdateType.EDITED, fallback)
    )
    application.add_handler(CallbackQueryHandler(stale_button))
