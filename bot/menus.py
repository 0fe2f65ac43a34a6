"""The command menus and the bot's profile, set at start-up (SPEC §11).

- Users' menu in every private chat (``BotCommandScopeAllPrivateChats``): account business
  happens only there, so groups get no menu of ours.
- Each admin's own private chat (``BotCommandScopeChat``): the users' menu plus the admin
  commands. The admin chat: the admin commands (with /help and /id, which work in groups).
- No default menu: one left by an older version is deleted.
- The description (the empty chat's "What can this bot do?") and the short description (the
  profile and shared links), from ``bot/texts``.

Each call stands alone: Telegram refusing one (a flood limit, a chat the bot is not in) is
logged and the rest still go out; start-up never fails for a menu.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError

from bot import texts
from bot.commands import ADMIN_COMMANDS, USER_COMMANDS, Command
from core.config import Settings

logger = logging.getLogger(__name__)

GROUP_COMMANDS = ("help", "id")  # the users' commands that also answer in a group


def _menu(commands: Sequence[Command]) -> list[BotCommand]:
    return [BotCommand(c.name, c.description) for c in commands]


def menus(settings: Settings) -> list[tuple[BotCommandScope, list[BotCommand]]]:
    """Every (scope, menu) the bot sets, in the order it sets them."""
    users = _menu(USER_COMMANDS)
    admin_private = users + _menu(ADMIN_COMMANDS)
    in_groups = [c for c in USER_COMMANDS if c.name in GROUP_COMMANDS]
    result: list[tuple[BotCommandScope, list[BotCommand]]] = [
        (BotCommandScopeAllPrivateChats(), users)
    ]
    result += [(BotCommandScopeChat(a), admin_private) for a in sorted(settings.telegram.admins)]
    chat = settings.telegram.admin_chat_id
    if chat is not None and chat not in settings.telegram.admins:
        result.append((BotCommandScopeChat(chat), _menu(in_groups) + _menu(ADMIN_COMMANDS)))
    return result


async def _try(what: str, call: Awaitable[object]) -> bool:
    try:
        await call
    except TelegramError as exc:
        # A menu is a convenience: the bot works without it, so never fail start-up.
        logger.warning("could not set the %s: %s", what, type(exc).__name__)
        return False
    return True


async def set_profile(bot: Bot, settings: Settings) -> int:
    """Set the menus, the description and the short description; how many calls worked."""
    # An older version set the users' menu for every chat (default scope); Telegram keeps it
    # until told otherwise, and groups would go on showing commands that refuse there.
    done = 0
    done += await _try(
        "default command menu", bot.delete_my_commands(scope=BotCommandScopeDefault())
    )
    for scope, commands in menus(settings):
        done += await _try(f"{scope.type} command menu", bot.set_my_commands(commands, scope=scope))
    done += await _try("description", bot.set_my_description(texts.BOT_DESCRIPTION))
    done += await _try(
        "short description", bot.set_my_short_description(texts.BOT_SHORT_DESCRIPTION)
    )
    return done
