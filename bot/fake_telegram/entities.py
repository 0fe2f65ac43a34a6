"""What Telegram adds to a user's message before a bot sees it: entities and forward fields.

Entities are found by Telegram's own rule (tdlib ``match_bot_commands`` in MessageEntity.cpp),
never by our parser's, so tests run on the input a real bot gets:

* a ``/`` starts a command unless the character before it is a word character (Unicode
  letter or number, or ``_``) or one of ``/ < >``;
* the command is 1 to 64 characters of ``[A-Za-z0-9_]``: the entity ends at the first other
  character (``/approve. 5`` → ``/approve``);
* ``@`` plus 3 to 32 characters of ``[A-Za-z0-9_]`` may follow (a shorter or longer name
  means no entity at all);
* no entity when the character after it is a word character or one of ``/ < >``
  (``/approveé`` is no command, ``/approve\u200b`` is);
* offsets and lengths count UTF-16 code units.

Forwarded messages carry ``forward_origin`` (Bot API 7.0 shapes: ``user``, ``hidden_user``,
``chat``, ``channel``); a message sent through an inline bot carries ``via_bot`` (a User);
a channel post copied into its discussion group carries ``is_automatic_forward``.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

COMMAND_MAX = 64
MENTION_MIN, MENTION_MAX = 3, 32

ForwardKind = Literal["user", "hidden_user", "chat", "channel"]
# The sender of automatic forwards in discussion groups.
TELEGRAM_SERVICE_USER = {"id": 777000, "is_bot": False, "first_name": "Telegram"}


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit for offsets and lengths)."""
    return len(text.encode("utf-16-le")) // 2


def _is_word_character(char: str) -> bool:
    return char == "_" or unicodedata.category(char)[0] in ("L", "N")


def _is_command_character(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _stops_command(char: str) -> bool:
    return _is_word_character(char) or char in "/<>"


def bot_command_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) indexes into ``text`` of every bot command Telegram would mark."""
    spans: list[tuple[int, int]] = []
    position = 0
    while (slash := text.find("/", position)) != -1:
        if slash > 0 and _stops_command(text[slash - 1]):
            position = slash + 1
            continue
        end = slash + 1
        while end < len(text) and _is_command_character(text[end]):
            end += 1
        position = end
        if not 1 <= end - slash - 1 <= COMMAND_MAX:
            continue
        if end < len(text) and text[end] == "@":
            mention_end = end + 1
            while mention_end < len(text) and _is_command_character(text[mention_end]):
                mention_end += 1
            position = mention_end
            if not MENTION_MIN <= mention_end - end - 1 <= MENTION_MAX:
                continue
            end = mention_end
        if end < len(text) and _stops_command(text[end]):
            continue
        spans.append((slash, end))
    return spans


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entities of ``text`` as the Bot API sends them."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_length(text[:start]),
            "length": utf16_length(text[start:end]),
        }
        for start, end in bot_command_spans(text)
    ]


TEXT_FIELDS = ("text", "entities", "caption", "caption_entities")


def add_text(body: dict[str, Any], field: str, entities_field: str, text: str | None) -> None:
    """Put ``text`` and the entities Telegram would find in it into an update's message."""
    if text is None:
        return
    body[field] = text
    entities = bot_command_entities(text)
    if entities:
        body[entities_field] = entities


def forward_origin(kind: ForwardKind, date: int, *, user_id: int = 555) -> dict[str, Any]:
    """A ``forward_origin`` of the given type, shaped as the Bot API sends it."""
    if kind == "user":
        sender = {"id": user_id, "is_bot": False, "first_name": "Admin"}
        return {"type": "user", "date": date, "sender_user": sender}
    if kind == "hidden_user":
        return {"type": "hidden_user", "date": date, "sender_user_name": "Someone"}
    if kind == "chat":
        group = {"id": -100777, "type": "supergroup", "title": "Some group"}
        return {"type": "chat", "date": date, "sender_chat": group}
    channel = {"id": -100888, "type": "channel", "title": "Some channel"}
    return {"type": "channel", "date": date, "chat": channel, "message_id": 42}


def via_bot(username: str = "some_inline_bot") -> dict[str, Any]:
    """The ``via_bot`` User of a message sent through an inline bot."""
    return {"id": 6_000_000_123, "is_bot": True, "first_name": "Inline", "username": username}
