"""The send options of the fake Bot API: forum topics, silent and protected messages.

Telegram's rules, as the Bot API documents and answers them: ``message_thread_id`` names a
topic of a forum supergroup; in a chat that is not a forum, or for a topic the forum does not
have, sendMessage fails with 400 "Bad Request: message thread not found".
``disable_notification`` delivers without a sound, ``protect_content`` forbids forwarding
and saving. What the bot asked for is recorded on the message, so tests can assert it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

THREAD_NOT_FOUND = "Bad Request: message thread not found"


@dataclass
class Forums:
    """The forum supergroups the fake knows: chat id → its topics' message_thread_ids."""

    topics: dict[int, set[int]] = field(default_factory=dict)

    def add(self, chat_id: int, *thread_ids: int) -> None:
        """Make ``chat_id`` a forum with these topics (more can be added later)."""
        self.topics.setdefault(chat_id, set()).update(thread_ids)

    def is_forum(self, chat_id: int) -> bool:
        return chat_id in self.topics


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def delivery_options(forums: Forums, params: dict[str, Any]) -> dict[str, Any]:
    """The options of one send, checked as Telegram checks them: the fields to record on
    the message. Raises ValueError with Telegram's description when it would refuse."""
    chat_id = int(params["chat_id"])
    thread_id = None
    if params.get("message_thread_id") is not None:
        thread_id = int(params["message_thread_id"])
    if thread_id is not None and thread_id not in forums.topics.get(chat_id, set()):
        raise ValueError(THREAD_NOT_FOUND)
    return {
        "message_thread_id": thread_id,
        "disable_notification": _flag(params.get("disable_notification", False)),
        "protect_content": _flag(params.get("protect_content", False)),
    }
