"""Messages to the admin chat as ``alerts.routing`` and ``alerts.topics`` route them (SPEC §11).

:func:`send_routed` sends one message loud or silent (``disable_notification``) into the
rule's forum topic (``message_thread_id``). A topic Telegram no longer knows ("message thread
not found": deleted, or the chat is no forum) must not hold alerts back forever, so the
message then goes to the chat itself and the log says which topic to fix.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot, Message
from telegram.error import BadRequest, TelegramError

from core.audit.routing_rules import Mode, Route, route
from core.config import Settings

logger = logging.getLogger(__name__)


async def send_routed(bot: Bot, chat_id: int, text: str, where: Route) -> Message:
    """Send ``text`` to ``chat_id`` as ``where`` says (never called for "off")."""
    options: dict[str, Any] = {"disable_notification": True} if where.silent else {}
    try:
        if where.thread_id is not None:
            return await bot.send_message(
                chat_id, text, message_thread_id=where.thread_id, **options
            )
        return await bot.send_message(chat_id, text, **options)
    except BadRequest as exc:
        if where.thread_id is None or "thread not found" not in exc.message.lower():
            raise
        logger.warning(
            "forum topic %s of the admin chat was not found (alerts.topics): sent to the chat",
            where.thread_id,
        )
        return await bot.send_message(chat_id, text, **options)


async def tell_admin_chat(bot: Bot, settings: Settings, text: str, rule: str) -> None:
    """Best effort: send a ``rule`` message (a backup outcome, a routine notice) to the admin
    chat as routed; a failure or a missing chat is logged, never raised."""
    chat_id = settings.telegram.admin_chat_id
    if chat_id is None:
        logger.error("telegram.admin_chat_id is not set: an admin message was not sent")
        return
    where = route(rule, settings.alerts.routes)
    if where.mode == Mode.OFF:
        return
    try:
        await send_routed(bot, chat_id, text, where)
    except TelegramError as exc:
        logger.error("could not send a message to the admin chat: %s", type(exc).__name__)
