"""An admin can find their way on the first day, through the bot and the fake Bot API: /id
gives the ids the configuration needs, and an admin command without a session says how to
get one (but only to a configured admin)."""

from __future__ import annotations

import aiosqlite
import pytest

from bot import texts
from bot.fake_telegram import html_to_plain
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness

HINT = "Admin actions need your own account with 2FA: /register (once), /login, then /2fa_enroll"
# Every admin command whose effect needs the admin's own session (require_admin_session).
SESSION_COMMANDS = [
    "/approve 1",
    "/reject 1 not paid",
    f"/complete_withdrawal 1 {'ab' * 32}",
    "/reject_withdrawal 1 no",
    "/backup",
    "/restore verzek-20260101T020000Z.tar.gz",
    "/killswitch on outage",
]


async def counts(bot: BotHarness) -> dict[str, int]:
    async with aiosqlite.connect(bot.settings.database.path) as conn:
        async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
            names = [row[0] for row in await cur.fetchall()]
        found = {}
        for name in names:
            async with conn.execute(f"SELECT COUNT(*) FROM {name}") as cur:
                row = await cur.fetchone()
            found[name] = int(row[0]) if row else 0
    return found


async def test_id_in_a_private_chat_shows_the_user_id(bot: BotHarness) -> None:
    alice = bot.user(424242, "Alice")
    (reply,) = await bot.send(alice, "/id")
    assert "Your Telegram user id: 424242" in reply.plain
    assert "VERZEK_ADMINS" in reply.plain and "ADMIN_CHAT_ID" in reply.plain
    assert "/id@" in reply.plain  # how a command reaches a bot in privacy mode in a group
    assert "configured admin" not in reply.plain
    assert reply.parse_mode == "HTML"


async def test_id_confirms_what_is_configured(bot: BotHarness) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    (private,) = await bot.send(admin, "/id")
    assert "You are a configured admin" in private.plain
    (group,) = await bot.send(admin, "/id", chat_id=ADMIN_CHAT_ID)
    assert "This chat is the configured admin chat" in group.plain
    (other,) = await bot.send(admin, "/id", chat_id=-1009999)
    assert "configured admin chat" not in other.plain


@pytest.mark.parametrize("chat_id", [-1001234567890, ADMIN_CHAT_ID])
async def test_id_in_a_group_shows_the_chat_id_too(bot: BotHarness, chat_id: int) -> None:
    """Where else would a new operator find the admin group's id?"""
    bob = bot.user(77, "Bob")
    (reply,) = await bot.send(bob, "/id", chat_id=chat_id)
    assert "Your Telegram user id: 77" in reply.plain
    assert f"This chat's id: {chat_id}" in reply.plain
    assert "ADMIN_CHAT_ID" in reply.plain


async def test_id_is_in_the_menu_and_help(bot: BotHarness) -> None:
    (reply,) = await bot.send(bot.user(5), "/help")
    assert "/id" in reply.plain


@pytest.mark.parametrize("command", SESSION_COMMANDS)
async def test_an_admin_without_a_session_is_told_how_to_get_one(
    bot: BotHarness, command: str
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    before = await counts(bot)
    (reply,) = await bot.send(admin, command)
    assert reply.plain == html_to_plain(texts.ADMIN_NEEDS_ACCOUNT)
    assert HINT in reply.plain
    after = await counts(bot)
    changed = {t for t in after if after[t] != before.get(t)}
    assert changed <= {"audit_events", "audit_head"}, changed  # at most the gate's own record


@pytest.mark.parametrize("command", SESSION_COMMANDS)
async def test_a_non_admin_never_gets_the_admin_hint(bot: BotHarness, command: str) -> None:
    """The hint would confirm the command exists and who may use it: strangers get the
    gate's neutral refusal."""
    (reply,) = await bot.send(bot.user(31337, "Mallory"), command)
    assert "2FA" not in reply.plain and "/2fa_enroll" not in reply.plain
    assert reply.plain == html_to_plain(texts.NOT_ALLOWED)
