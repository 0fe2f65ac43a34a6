"""What the fake Telegram keeps: the bot's own user, the people who talk to it, the messages
both sides sent (with their buttons) and the failures a test scheduled."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bot.fake_telegram.html import html_to_plain

BOT_USER = {
    "id": 7_000_000_001,
    "is_bot": True,
    "first_name": "Verzek Guard",
    "username": "verzek_guard_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None
    copy_text: str | None = None  # what the button copies to the clipboard


@dataclass
class Message:
    """A message in a chat, sent by the bot or by a user."""

    chat_id: int
    message_id: int
    from_bot: bool
    text: str | None = None
    caption: str | None = None
    photo: bytes | None = None
    document: bytes | None = None
    document_name: str | None = None  # the upload's file name
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    deleted: bool = False
    edits: int = 0
    protect_content: bool = False  # Telegram: no forwarding or saving by the recipient
    sent_at: float = field(default_factory=time.monotonic)

    @property
    def plain(self) -> str:
        """What a person reads (HTML rendered to plain text)."""
        body = self.text if self.text is not None else (self.caption or "")
        return html_to_plain(body) if self.parse_mode == "HTML" else body

    @property
    def buttons(self) -> list[Button]:
        """Inline buttons, left to right, top to bottom."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [
            Button(
                b["text"],
                b.get("callback_data"),
                b.get("url"),
                (b.get("copy_text") or {}).get("text"),
            )
            for row in rows
            for b in row
        ]


@dataclass
class ScheduledFailure:
    method: str | None
    times: int
    status: int = 0
    retry_after: int | None = None
    exception: type[Exception] | None = None


@dataclass
class TelegramUser:
    id: int
    first_name: str = "Trader"
    username: str | None = None
    language_code: str = "en"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }
        if self.username:
            data["username"] = self.username
        return data
