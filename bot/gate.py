"""The gate in front of every handler (group -1): deny by default, before any handler runs.

It drops updates that have no user, refuses admin commands and admin buttons to non-admins
with a neutral reply and an audit event, and keeps account business out of group chats.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot import texts
from bot.commands import ADMIN_CALLBACK_PREFIX, ADMIN_ONLY
from bot.context import Context
from core.audit import AuditEvent, EventType, Severity

logger = logging.getLogger(__name__)

_GROUP_OK = frozenset({"start", "help"})


def command_name(update: Update) -> str | None:
    """The command of a message (``/stats@bot args`` → ``stats``), or None."""
    message = update.effective_message
    text = message.text if message is not None else None
    if not text or not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else None


def is_admin(update: Update, context: Context) -> bool:
    """True when the sender is one of ``telegram.admins``."""
    user = update.effective_user
    return user is not None and user.id in context.bot_data.services.settings.telegram.admins


async def _deny(update: Update, context: Context, what: str) -> None:
    user = update.effective_user
    await context.bot_data.services.audit.record(
        AuditEvent(
            EventType.ADMIN_ACTION,
            Severity.WARNING,
            telegram_user_id=user.id if user else None,
            details={"action": what, "outcome": "denied", "reason": "not an admin"},
        )
    )
    logger.warning("admin action %s refused for a non-admin user", what)
    if update.callback_query is not None:
        await update.callback_query.answer(texts.NOT_ALLOWED, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(texts.NOT_ALLOWED)


async def gate(update: Update, context: Context) -> None:
    """Let an update through to the handlers, or stop it here."""
    if update.effective_user is None or update.effective_user.is_bot:
        raise ApplicationHandlerStop
    admin = is_admin(update, context)
    command = command_name(update)
    if command in ADMIN_ONLY and not admin:
        await _deny(update, context, f"/{command}")
        raise ApplicationHandlerStop
    query = update.callback_query
    if query is not None and (query.data or "").startswith(ADMIN_CALLBACK_PREFIX) and not admin:
        await _deny(update, context, "admin button")
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        if command is None and query is None:
            raise ApplicationHandlerStop  # group chatter is none of our business
        if command is not None and command not in _GROUP_OK and command not in ADMIN_ONLY:
            if update.effective_message is not None:
                await update.effective_message.reply_text(texts.PRIVATE_CHAT_ONLY)
            raise ApplicationHandlerStop
