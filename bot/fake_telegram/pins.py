"""Pinned messages in the fake Telegram: ``pinChatMessage``, ``unpinChatMessage`` and the
``pinned_message`` that ``getChat`` returns, by the Bot API's published rules.

- pinChatMessage/unpinChatMessage take a ``chat_id`` and ``message_id``; a message that does
  not exist (or was deleted) is refused with "Bad Request: message to pin not found"; both
  answer ``True``. unpinChatMessage without ``message_id`` unpins the most recent pinned one.
- getChat answers a ChatFullInfo whose ``pinned_message`` is "the most recent pinned message
  (by sending date)", with its original ``date`` and sender.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.fake_telegram.records import Message


class PinRefused(Exception):
    """What Telegram answers with 400 for a pin it refuses."""


class Pins:
    """The pinned message ids of each chat, and when each message was sent (its ``date``)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.pinned: dict[int, set[int]] = {}
        self._clock = clock
        self._dates: dict[tuple[int, int], int] = {}

    def saw(self, event: str, message: Message) -> None:
        """A listener of the fake API: remembers when each message was sent."""
        if event == "sent":
            self._dates.setdefault((message.chat_id, message.message_id), int(self._clock()))

    def date_of(self, message: Message) -> int:
        """The message's original date (Unix time)."""
        return self._dates.get((message.chat_id, message.message_id), int(self._clock()))

    def pin(self, message: Message | None) -> bool:
        if message is None or message.deleted:
            raise PinRefused("Bad Request: message to pin not found")
        self.pinned.setdefault(message.chat_id, set()).add(message.message_id)
        return True

    def unpin(self, chat_id: int, message_id: int | None) -> bool:
        pinned = self.pinned.setdefault(chat_id, set())
        if message_id is None and pinned:
            message_id = max(pinned)
        pinned.discard(message_id or 0)
        return True

    def newest(self, chat_id: int, messages: dict[tuple[int, int], Message]) -> Message | None:
        ids = sorted(self.pinned.get(chat_id, set()), reverse=True)
        found = (messages.get((chat_id, message_id)) for message_id in ids)
        return next((message for message in found if message and not message.deleted), None)


def full_chat(chat_id: int, title: str, pinned: dict[str, Any] | None) -> dict[str, Any]:
    """A ChatFullInfo: the fields the Bot API always sends, and ``pinned_message``."""
    chat: dict[str, Any] = {
        "id": chat_id,
        "type": "private" if chat_id > 0 else "supergroup",
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }
    chat["first_name" if chat_id > 0 else "title"] = title
    if pinned is not None:
        chat["pinned_message"] = pinned
    return chat


class PinMethods:
    """The Bot API methods above, mixed into :class:`bot.fake_telegram.api.FakeBotAPI`."""

    messages: dict[tuple[int, int], Message]
    chat_titles: dict[int, str]
    pins: Pins

    def _message_json(self, message: Message) -> dict[str, Any]:
        raise NotImplementedError  # FakeBotAPI's

    async def _api_pinChatMessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        return self.pins.pin(self.messages.get(key))

    async def _api_unpinChatMessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        message_id = params.get("message_id")
        return self.pins.unpin(
            int(params["chat_id"]), None if message_id is None else int(message_id)
        )

    async def _api_getChat(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message = self.pins.newest(chat_id, self.messages)
        pinned = None
        if message is not None:
            pinned = self._message_json(message)
            pinned["date"] = self.pins.date_of(message)
            if not message.from_bot:
                pinned["from"] = {"id": 1, "is_bot": False, "first_name": "Someone"}
        return full_chat(chat_id, self.chat_titles.get(chat_id, "Group"), pinned)
