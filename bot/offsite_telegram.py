"""Off-site copies as documents in the admin chat (``backups.offsite = "telegram"``).

The :class:`core.backups.offsite.OffsiteStore` that core's off-site service uses when the
place is Telegram. Core decides what to send (at most 45 MB, Telegram takes 50 MB from a bot);
this only sends. A bot cannot list a chat's messages and may delete its own only within 48
hours, so retention cannot reach these documents: :meth:`names` says so by returning None.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from telegram import Bot
from telegram.error import TelegramError

from bot import texts
from core.backups.archive_rules import human_size
from core.backups.offsite import OffsiteError

# An upload of up to 45 MB on a slow link: Telegram's default 5 s would cut it off.
UPLOAD_TIMEOUT_S = 300.0


class TelegramDocuments:
    """Sends each archive as a document to ``chat_id``."""

    def __init__(self, bot: Bot, chat_id: int | None) -> None:
        self._bot = bot
        self._chat_id = chat_id

    async def put(self, path: Path, name: str, size: int) -> str:
        """Send the archive; return the message it is in."""
        if self._chat_id is None:
            raise OffsiteError("telegram.admin_chat_id is not set")
        # Read off the event loop: PTB would read a file object synchronously while encoding.
        data = await asyncio.to_thread(path.read_bytes)
        if len(data) != size:
            raise OffsiteError(f"the archive changed while it was read ({len(data)} bytes)")
        try:
            message = await self._bot.send_document(
                self._chat_id,
                document=data,
                filename=name,
                caption=texts.OFFSITE_CAPTION.format(name=name, size=human_size(size)),
                disable_content_type_detection=True,
                read_timeout=UPLOAD_TIMEOUT_S,
                write_timeout=UPLOAD_TIMEOUT_S,
            )
        except TelegramError as exc:
            raise OffsiteError(f"Telegram refused the document: {exc.message}"[:300]) from None
        return f"telegram message {message.message_id} in chat {self._chat_id}"

    async def names(self) -> list[str] | None:
        """None: a bot cannot list what it sent (see the module's docstring)."""
        return None

    async def delete(self, name: str) -> None:
        """Never called (nothing is listed); refuse rather than pretend."""
        raise OffsiteError("documents in the admin chat cannot be deleted by retention")
