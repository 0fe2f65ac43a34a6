"""The skeleton bot, driven through the real Application and the fake Bot API."""

from __future__ import annotations

import json

from core.audit.log import EventType
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness


async def test_start_welcomes_and_points_to_register(bot: BotHarness) -> None:
    replies = await bot.send(bot.user(), "/start")
    assert len(replies) == 1
    assert "Welcome to Verzek Guard" in replies[0].plain
    assert "/register" in replies[0].plain
    assert replies[0].parse_mode == "HTML"


async def test_help_lists_user_commands(bot: BotHarness) -> None:
    (reply,) = await bot.send(bot.user(), "/help")
    assert "/start" in reply.plain and "/help" in reply.plain


async def test_unknown_text_gets_a_hint(bot: BotHarness) -> None:
    (reply,) = await bot.send(bot.user(), "what is this?")
    assert "/help" in reply.plain


async def test_command_menus_are_set_per_role(bot: BotHarness) -> None:
    default = bot.api.commands[json.dumps({"type": "all_private_chats"}, sort_keys=True)]
    assert {"start", "help"} <= {c["command"] for c in default}
    admin_scope = json.dumps({"chat_id": ADMIN_ID, "type": "chat"}, sort_keys=True)
    assert admin_scope in bot.api.commands
    chat_scope = json.dumps({"chat_id": ADMIN_CHAT_ID, "type": "chat"}, sort_keys=True)
    assert chat_scope in bot.api.commands


async def test_non_admin_admin_command_is_refused_and_audited(bot: BotHarness) -> None:
    intruder = bot.user(4242)
    (reply,) = await bot.send(intruder, "/stats")
    assert reply.plain == "Sorry, that command is not available."
    # The detector's SUSPICIOUS_ACTIVITY follows the refusal; the refusal itself is this:
    rows = [r async for r in bot.services.audit.export() if r.event_type != "SUSPICIOUS_ACTIVITY"]
    assert rows[-1].event_type == EventType.ADMIN_ACTION
    assert rows[-1].telegram_user_id == 4242
    assert rows[-1].details["outcome"] == "denied"
    assert rows[-1].severity == "warning"


async def test_forged_admin_button_is_refused(bot: BotHarness) -> None:
    user = bot.user(4343)
    (welcome,) = await bot.send(user, "/start")
    await bot.press_data(user, welcome, "adm:approve:1")
    assert bot.api.callback_answers[-1]["text"] == "Sorry, that command is not available."
    # The detector's SUSPICIOUS_ACTIVITY follows the refusal; the refusal itself is this:
    rows = [r async for r in bot.services.audit.export() if r.event_type != "SUSPICIOUS_ACTIVITY"]
    assert rows[-1].details == {
        "action": "admin button",
        "outcome": "denied",
        "reason": "not an admin",
    }


async def test_unknown_button_is_answered(bot: BotHarness) -> None:
    user = bot.user()
    (welcome,) = await bot.send(user, "/start")
    await bot.press_data(user, welcome, "never-issued")
    assert "no longer active" in bot.api.callback_answers[-1]["text"]


async def test_group_chats_do_not_handle_account_commands(bot: BotHarness) -> None:
    user = bot.user()
    replies = await bot.send(user, "/me", chat_id=-777)
    assert "private chat" in replies[0].plain
    assert await bot.send(user, "just chatting", chat_id=-777) == []


async def test_photo_where_text_expected_gets_a_reply(bot: BotHarness) -> None:
    (reply,) = await bot.send(bot.user(), photo=True)
    assert "/help" in reply.plain


async def test_handler_crash_is_logged_and_answered_politely(bot: BotHarness, caplog) -> None:
    from telegram.ext import CommandHandler

    async def boom(update, context):
        raise RuntimeError("kaboom")

    bot.app.add_handler(CommandHandler("boom", boom), group=-2)
    replies = await bot.send(bot.user(), "/boom")
    assert "something went wrong" in replies[0].plain.lower()
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


async def test_users_are_served_concurrently_but_in_order(bot: BotHarness) -> None:
    import asyncio

    from telegram.ext import CommandHandler, MessageHandler, filters

    seen: list[tuple[int, str]] = []

    async def slow(update, context):
        await asyncio.sleep(0.3)
        seen.append((update.effective_user.id, "slow"))

    async def fast(update, context):
        seen.append((update.effective_user.id, update.effective_message.text))

    bot.app.add_handler(CommandHandler("slow", slow), group=-2)
    bot.app.add_handler(MessageHandler(filters.Regex("^fast"), fast), group=-2)
    alice, bob = bot.user(1), bot.user(2)
    bot.api.user_sends(alice, "/slow")
    bot.api.user_sends(alice, "fast-a")
    bot.api.user_sends(bob, "fast-b")
    await bot.settle()
    # Bob is not held up by Alice's slow step; Alice's own messages keep their order.
    assert seen.index((2, "fast-b")) < seen.index((1, "slow"))
    assert seen.index((1, "slow")) < seen.index((1, "fast-a"))
    assert bot.processor.active_users == 0


async def test_stats_counts_users_and_is_admin_only(bot: BotHarness) -> None:
    from tests.support.steps import register

    await register(bot, bot.user(1))
    await register(bot, bot.user(2), "second@example.com", "quiet harbour lantern 77 meadow")
    (stats,) = await bot.send(bot.user(ADMIN_ID), "/stats")
    assert "Users: 2" in stats.plain and "Active licenses: 0" in stats.plain
    assert "Payments waiting: 0" in stats.plain
    (refused,) = await bot.send(bot.user(1), "/stats")
    assert refused.plain == "Sorry, that command is not available."
    (stats,) = await bot.send(bot.user(ADMIN_ID), "/stats")
    assert "Security alerts today (UTC): 1" in stats.plain  # the refused admin command


async def test_admin_commands_run_only_in_private_or_the_admin_chat(bot: BotHarness) -> None:
    admin = bot.user(ADMIN_ID)
    (refused,) = await bot.send(admin, "/stats", chat_id=-777)
    assert "private chat" in refused.plain
    (stats,) = await bot.send(admin, "/stats", chat_id=ADMIN_CHAT_ID)
    assert "Users:" in stats.plain
