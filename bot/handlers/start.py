"""/start, /help and the fallback for anything not understood."""

from __future__ import annotations

from telegram import Update
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
from bot.gate import is_admin


async def start(update: Update, context: Context) -> None:
    """Greet the user and point at the next step."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            texts.WELCOME.format(next_step=texts.WELCOME_NEXT_STEP)
        )


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
