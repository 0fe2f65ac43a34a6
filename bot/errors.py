"""The one place where errors from handlers end up."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot import texts
from bot.context import Context
from core.errors import UserError

logger = logging.getLogger(__name__)


async def on_error(update: object, context: Context) -> None:
    """Log the failure (no update contents: they may hold secrets), then answer politely."""
    error = context.error
    if isinstance(error, UserError):
        text = error.user_message
    else:
        update_id = update.update_id if isinstance(update, Update) else None
        logger.error(
            "error while handling update %s: %s", update_id, type(error).__name__, exc_info=error
        )
        text = texts.INTERNAL_ERROR
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError as exc:
        logger.warning("could not tell the user about an error: %s", type(exc).__name__)
