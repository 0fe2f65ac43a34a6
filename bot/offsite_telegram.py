"""Off-site copies as documents in the admin chat (``backups.offsite = "telegram"``).

The :class:`core.backups.offsite.OffsiteStore` that core's off-site service uses when the
place is Telegram. Core decides what to send (at most 45 MB, Telegram takes 50 MB from a bot);
this only sends. A bot cannot list a chat's messages and may delete its own only within 48
hours, so retention cannot reach these documents: :meth:`names` says so by returning None.

The document goes as ``alerts.routing.offsite_copy`` routes it (silent by default, in the
backups topic when ``alerts.topics.backups`` is set), as every other admin-chat message does
(bot/admin_chat.py); a topic Telegram no longer knows falls back to the chat itself.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot import texts
from core.audit.routing_rules import Mode, Route
from core.backups.archive_rules import human_size
from core.backups.offsite import OffsiteError

logger = logging.getLogger(__name__)

# An upload of up to 45 MB on a slow link: Telegram's default 5 s would cut it off.
UPLOAD_TIMEOUT_S = 300.0


class TelegramDocuments:
    """Sends each archive as a document to ``chat_id``."""

    def __init__(self, bot: Bot, chat_id: int | None, where: Route | None = None) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._where = where or Route(Mode.SILENT)

    async def put(self, path: Path, name: str, size: int) -> str:
        """Send the archive; return the message it is in."""
        if self._chat_id is None:
            raise OffsiteError("telegram.admin_chat_id is not set")
        # Read off the event loop: PTB would read a file object synchronously while encoding.
        data = await asyncio.to_thread(path.read_bytes)
        if len(data) != size:
            raise OffsiteError(f"the archive changed while it was read ({len(data)} bytes)")
        options: dict[str, Any] = {
            "document": data,
            "filename": name,
            "caption": texts.OFFSITE_CAPTION.format(name=name, size=human_size(size)),
            "disable_content_type_detection": True,
            "disable_notification": self._where.silent,
            "read_timeout": UPLOAD_TIMEOUT_S,
            "write_timeout": UPLOAD_TIMEOUT_S,
        }
        thread = self._where.thread_id
        try:
            try:
                message = await self._bot.send_document(
                    self._chat_id, message_thread_id=thread, **options
                )
            except BadRequest as exc:
                if thread is None or "thread not found" not in exc.message.lower():
                    raise
                logger.warning(
                    "forum topic %s of the admin chat was not found (alerts.topics): "
                    "the off-site copy went to the chat",
                    thread,
                )
                message = await self._bot.send_document(self._chat_id, **options)
        except TelegramError as exc:
            raise OffsiteError(f"Telegram refused the document: {exc.message}"[:300]) from None
        return f"telegram message {message.message_id} in chat {self._chat_id}"

    async def names(self) -> list[str] | None:
        """None: a bot cannot list what it sent (see the module's docstring)."""
        return None

    async def delete(self, name: str) -> None:
        """Never called (nothing is listed); refuse rather than pretend."""
        raise OffsiteError("documents in the admin chat cannot be deleted by retention")
