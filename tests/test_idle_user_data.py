"""PTB keeps a ``user_data`` dict for every user who ever sent an update; the minute sweep
drops the empty ones, so memory follows the last minute's users (issue 22, bench/memory.py).
A user in a flow (data held) or with an update in flight keeps theirs."""

from __future__ import annotations

from bot.update_processor import forget_idle_user_data
from tests.support.harness import BotHarness


async def test_users_who_only_said_start_leave_nothing_behind(bot: BotHarness) -> None:
    for k in range(5):
        await bot.send(bot.user(5000 + k), "/start")
    assert set(range(5000, 5005)) <= set(bot.app.user_data)

    assert forget_idle_user_data(bot.app) >= 5

    assert not set(range(5000, 5005)) & set(bot.app.user_data)
    # They are still answered afterwards, as new.
    assert await bot.send(bot.user(5000), "/start")


async def test_a_user_in_a_flow_keeps_their_data(bot: BotHarness) -> None:
    user = bot.user(6001)
    await bot.send(user, "/start")
    bot.app.user_data[user.id]["a flow"] = {"step": 2}  # what a flow keeps between messages
    held = dict(bot.app.user_data[user.id])

    forget_idle_user_data(bot.app)

    assert dict(bot.app.user_data[user.id]) == held


async def test_a_user_with_an_update_in_flight_is_kept(bot: BotHarness) -> None:
    user = bot.user(6002)
    await bot.send(user, "/start")
    bot.processor._in_flight[user.id] = 1  # an update of theirs is queued or running
    try:
        forget_idle_user_data(bot.app)
        assert user.id in bot.app.user_data
    finally:
        del bot.processor._in_flight[user.id]
    forget_idle_user_data(bot.app)
    assert user.id not in bot.app.user_data
