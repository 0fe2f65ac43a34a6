"""The one place where errors from handlers end up.

A core :class:`~core.errors.Refusal` is answered with the words ``bot/texts`` has for its reason;
anything else is logged and answered with the neutral internal-error text.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError

from bot import texts
from bot.context import Context
from core.audit.log import AuditEvent, EventType, Severity
from core.authz import NotAdmin
from core.errors import Refusal, StorageError

logger = logging.getLogger(__name__)


async def on_error(update: object, context: Context) -> None:
    """Log the failure (no update contents: they may hold secrets), then answer politely."""
    error = context.error
    if isinstance(error, Refusal):
        text = texts.render(error)
    elif isinstance(error, NotAdmin):
        # Core refused an admin operation the bot let through: answer neutrally, and leave a
        # trace, since the gate and the handler's own filter should have stopped it first.
        logger.warning("core refused %s to a non-admin", error.operation)
        await _audit_refusal(context, error)
        text = texts.NOT_ALLOWED
    else:
        update_id = update.update_id if isinstance(update, Update) else None
        logger.error(
            "error while handling update %s: %s", update_id, type(error).__name__, exc_info=error
        )
        text = texts.INTERNAL_ERROR
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.callback_query is not None:
        # The handler may have answered the press already; Telegram refuses a second answer,
        # and that refusal must not keep the words below from the user.
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    try:
        await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError as exc:
        logger.warning("could not tell the user about an error: %s", type(exc).__name__)


async def _audit_refusal(context: Context, error: NotAdmin) -> None:
    try:
        await context.bot_data.services.audit.record(
            AuditEvent(
                EventType.ADMIN_ACTION,
                Severity.WARNING,
                telegram_user_id=error.actor.telegram_user_id,
                details={
                    "action": error.operation,
                    "outcome": "denied",
                    "reason": "not an admin (core check)",
                },
            )
        )
    except StorageError as exc:  # the refusal stands either way
        logger.warning("could not audit a refused admin operation: %s", type(exc).__name__)
