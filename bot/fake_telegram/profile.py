"""The fake Bot API's bot profile: command menus per scope and the two descriptions.

What Telegram checks (core.telegram.org/bots/api#setmycommands, #botcommand,
#setmydescription, #setmyshortdescription) is checked here, so the bot's own start-up meets
the real rules, not ours: at most 100 commands; each command 1–32 characters of lowercase
English letters, digits and underscores; each description 1–256 characters; a known scope
type (a chat scope names a chat); a language code of two lowercase letters or none; the
description at most 512 characters and the short description at most 120 (empty removes).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_COMMANDS = 100
COMMAND = re.compile(r"[a-z0-9_]{1,32}")
MAX_COMMAND_DESCRIPTION = 256
MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120
LANGUAGE = re.compile(r"[a-z]{2}")
_SCOPES_WITHOUT_CHAT = {
    "default",
    "all_private_chats",
    "all_group_chats",
    "all_chat_administrators",
}
_SCOPES_WITH_CHAT = {"chat", "chat_administrators", "chat_member"}


class BadRequest(Exception):
    """What Telegram answers with 400 Bad Request (the message is its description)."""


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _scope_key(params: dict[str, Any]) -> str:
    scope = _decoded(params.get("scope")) or {"type": "default"}
    if not isinstance(scope, dict):
        raise BadRequest("Bad Request: can't parse BotCommandScope JSON object")
    kind = scope.get("type")
    if kind in _SCOPES_WITH_CHAT:
        if "chat_id" not in scope or (kind == "chat_member" and "user_id" not in scope):
            raise BadRequest("Bad Request: chat not found")
    elif kind not in _SCOPES_WITHOUT_CHAT:
        raise BadRequest("Bad Request: unsupported scope type")
    language = params.get("language_code") or ""
    if language and not LANGUAGE.fullmatch(str(language)):
        raise BadRequest("Bad Request: LANG_CODE_INVALID")
    key = json.dumps(scope, sort_keys=True)
    return key if not language else f"{key}|{language}"


def _checked_commands(value: Any) -> list[dict[str, str]]:
    commands = _decoded(value)
    if not isinstance(commands, list):
        raise BadRequest("Bad Request: can't parse commands JSON object")
    if len(commands) > MAX_COMMANDS:
        raise BadRequest("Bad Request: BOT_COMMANDS_TOO_MUCH")
    checked = []
    for entry in commands:
        name = entry.get("command") if isinstance(entry, dict) else None
        description = entry.get("description") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not COMMAND.fullmatch(name):
            raise BadRequest("Bad Request: BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description) <= (
            MAX_COMMAND_DESCRIPTION
        ):
            raise BadRequest("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        checked.append({"command": name, "description": description})
    return checked


def _checked_text(params: dict[str, Any], name: str, limit: int) -> str:
    text = params.get(name) or ""
    if not isinstance(text, str) or len(text) > limit:
        raise BadRequest(f"Bad Request: {name} is too long")
    return text


class BotProfile:
    """The menus and descriptions the bot set (mixed into :class:`FakeBotAPI`)."""

    commands: dict[str, list[dict[str, str]]]
    descriptions: dict[str, str]
    short_descriptions: dict[str, str]

    def _profile_init(self) -> None:
        self.commands = {}
        self.descriptions = {}
        self.short_descriptions = {}

    async def _api_setMyCommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        key = _scope_key(params)
        self.commands[key] = _checked_commands(params.get("commands"))
        return True

    async def _api_getMyCommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self.commands.get(_scope_key(params), [])

    async def _api_deleteMyCommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self.commands.pop(_scope_key(params), None)
        return True

    async def _api_setMyDescription(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        text = _checked_text(params, "description", MAX_DESCRIPTION)
        self.descriptions[str(params.get("language_code") or "")] = text
        return True

    async def _api_getMyDescription(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return {"description": self.descriptions.get(str(params.get("language_code") or ""), "")}

    async def _api_setMyShortDescription(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> Any:
        text = _checked_text(params, "short_description", MAX_SHORT_DESCRIPTION)
        self.short_descriptions[str(params.get("language_code") or "")] = text
        return True

    async def _api_getMyShortDescription(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> Any:
        language = str(params.get("language_code") or "")
        return {"short_description": self.short_descriptions.get(language, "")}
