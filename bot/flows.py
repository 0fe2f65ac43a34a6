"""Pieces every conversation shares: secret input, cancel, timeout, wrong input, sessions."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from html import escape
from typing import Any

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import texts
from bot.context import Context
from core.sessions import Session

logger = logging.getLogger(__name__)

CONVERSATION_TIMEOUT = 300  # seconds (SPEC §3)
END = ConversationHandler.END


def message_of(update: Update) -> Message:
    """The message of an update that handlers in a flow always have."""
    message = update.effective_message
    if message is None:
        raise RuntimeError("update without a message")
    return message


async def take_secret(update: Update, what: str) -> tuple[str, str]:
    """Read a secret text and delete it from the chat; return (secret, note for the user)."""
    message = message_of(update)
    secret = message.text or ""
    try:
        await message.delete()
        note = texts.SECRET_DELETED.format(what=what)
    except TelegramError as exc:
        logger.warning("could not delete a message carrying a %s: %s", what, type(exc).__name__)
        note = texts.SECRET_NOT_DELETED.format(what=what)
    return secret, note


async def require_session(update: Update, context: Context) -> Session | None:
    """The caller's live session, or None after telling them to log in."""
    user = update.effective_user
    session = await context.bot_data.services.sessions.current(user.id) if user else None
    if session is None:
        await message_of(update).reply_text(texts.LOGIN_FIRST)
    return session


def flow_data(context: Context, key: str) -> dict[str, Any]:
    """Per-user scratch space of one flow."""
    assert context.user_data is not None
    return context.user_data.setdefault(key, {})  # type: ignore[no-any-return]


def clear_flow(context: Context, key: str) -> None:
    """Forget everything a flow kept."""
    if context.user_data is not None:
        context.user_data.pop(key, None)


def conversation(
    *,
    name: str,
    entry: str,
    entry_callback: Callable[[Update, Context], Awaitable[object]],
    states: dict[object, list[BaseHandler[Update, Any, Any]]],
    restart_hint: str,
    extra_fallbacks: Sequence[BaseHandler[Update, Any, Any]] = (),
) -> ConversationHandler[Any]:
    """A flow with /cancel, a 5-minute timeout, and polite replies to unexpected input."""

    async def cancel(update: Update, context: Context) -> int:
        clear_flow(context, name)
        await message_of(update).reply_text(texts.CANCELLED)
        return END

    async def timed_out(update: Update, context: Context) -> None:
        clear_flow(context, name)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None:
            await context.bot.send_message(
                chat.id, texts.FLOW_TIMEOUT.format(restart=escape(restart_hint))
            )

    async def busy(update: Update, context: Context) -> None:
        await message_of(update).reply_text(texts.FLOW_BUSY)

    async def not_text(update: Update, context: Context) -> None:
        await message_of(update).reply_text(texts.TEXT_EXPECTED)

    with warnings.catch_warnings():
        # Buttons inside a flow belong to the user's current step, not to one message, which
        # is exactly per_message=False; PTB warns about that choice on every construction.
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        return ConversationHandler(
            entry_points=[CommandHandler(entry, entry_callback)],
            states={
                **states,
                ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
            },
            fallbacks=[
                CommandHandler("cancel", cancel),
                *extra_fallbacks,
                MessageHandler(filters.COMMAND, busy),
                MessageHandler(~filters.TEXT & ~filters.UpdateType.EDITED, not_text),
            ],
            conversation_timeout=CONVERSATION_TIMEOUT,
            name=name,
            allow_reentry=True,
        )


TEXT = filters.TEXT & ~filters.COMMAND & ~filters.UpdateType.EDITED
