"""Sign-in as a person does it: typos forgiven, captcha explained, session times that are true."""

from __future__ import annotations

from datetime import timedelta

from core.adapters.captcha_image import MAX_PICTURES, MAX_TRIES
from core.clock import FakeClock
from core.config import Settings
from tests.support.harness import BotHarness
from tests.support.signin_steps import (
    bot_with_captcha,
    event_types,
    up_to_the_captcha,
    wrong_answer,
)
from tests.support.steps import EMAIL, OTHER_PASSWORD, PASSWORD, captcha_answer, db_rows, register


async def test_register_counts_four_steps_with_the_captcha_and_logs_in(
    settings: Settings, clock: FakeClock
) -> None:
    async with bot_with_captcha(settings, clock) as bot:
        alice = bot.user(1)
        (ask_email,) = await bot.send(alice, "/register")
        assert "Step 1 of 4" in ask_email.plain
        (ask_password,) = await bot.send(alice, EMAIL)
        assert "Step 2 of 4" in ask_password.plain
        (ask_again,) = await bot.send(alice, PASSWORD)
        assert "Step 2 of 4" in ask_again.plain and "once more" in ask_again.plain
        note, picture = await bot.send(alice, PASSWORD)
        assert bot.last_user_message.deleted and "I deleted your message" in note.plain
        assert picture.photo is not None and picture.photo.startswith(b"\x89PNG")
        assert "Step 3 of 4" in picture.plain
        assert "never I, L, O, 0 or 1" in picture.plain and "(3 tries left)" in picture.plain
        (referral,) = await bot.send(alice, captcha_answer(bot, alice, "register").lower())
        assert picture.deleted, "a solved picture leaves the chat"
        assert "Step 4 of 4" in referral.plain
        (done,) = await bot.press(alice, referral, "Skip")
        assert "you're logged in" in done.plain
        assert "2026-01-01 12:00 UTC at the latest" in done.plain
        (me,) = await bot.send(alice, "/me")  # no /login, no second captcha
        assert EMAIL in me.plain
        assert await event_types(bot) == ["REGISTERED", "LOGIN_SUCCESS"]


async def test_without_the_captcha_the_steps_count_to_three(bot: BotHarness) -> None:
    alice = bot.user(1)
    assert "Step 1 of 3" in (await bot.send(alice, "/register"))[0].plain
    assert "Step 2 of 3" in (await bot.send(alice, EMAIL))[0].plain
    assert "Step 2 of 3" in (await bot.send(alice, PASSWORD))[0].plain
    (referral,) = await bot.send(alice, PASSWORD)
    assert "Step 3 of 3" in referral.plain and "Step 4" not in referral.plain


async def test_a_mistyped_second_password_asks_for_the_password_again(bot: BotHarness) -> None:
    alice = bot.user(1)
    await bot.send(alice, "/register")
    await bot.send(alice, EMAIL)
    await bot.send(alice, PASSWORD)
    (differ,) = await bot.send(alice, PASSWORD + "x")
    assert bot.last_user_message.deleted
    assert "weren't the same" in differ.plain and "Step 2 of 3" in differ.plain
    assert "choose a password" in differ.plain
    assert await db_rows(bot, "SELECT * FROM users") == []
    # The first typing is forgotten: typing it again now is a new first typing, not a match.
    (again,) = await bot.send(alice, PASSWORD)
    assert "once more" in again.plain
    (referral,) = await bot.send(alice, PASSWORD)
    assert "referral code" in referral.plain
    (done,) = await bot.press(alice, referral, "Skip")
    assert "is ready" in done.plain
    assert len(await db_rows(bot, "SELECT id FROM users")) == 1


async def test_captcha_counts_down_on_one_picture_then_shows_a_new_one(
    settings: Settings, clock: FakeClock
) -> None:
    async with bot_with_captcha(settings, clock) as bot:
        alice = bot.user(1)
        _, first = await up_to_the_captcha(bot, alice)
        assert "(3 tries left)" in first.plain
        (two,) = await bot.send(alice, wrong_answer(bot, alice, "register"))
        assert two.photo is None and "same picture" in two.plain and "2 tries left" in two.plain
        (one,) = await bot.send(alice, wrong_answer(bot, alice, "register"))
        assert "1 try left" in one.plain and "tries" not in one.plain
        assert not first.deleted
        (second,) = await bot.send(alice, wrong_answer(bot, alice, "register"))
        assert second.photo is not None and "new picture" in second.plain
        assert "(3 tries left)" in second.plain and "Step 3 of 4" not in second.plain
        assert first.deleted, "the old picture is deleted when a new one is sent"
        (referral,) = await bot.send(alice, captcha_answer(bot, alice, "register"))
        assert second.deleted and "Step 4 of 4" in referral.plain


async def test_after_the_last_picture_the_flow_ends_and_nothing_is_saved(
    settings: Settings, clock: FakeClock
) -> None:
    async with bot_with_captcha(settings, clock) as bot:
        alice = bot.user(1)
        await up_to_the_captcha(bot, alice)
        replies = []
        for _ in range(MAX_PICTURES * MAX_TRIES):
            replies += await bot.send(alice, wrong_answer(bot, alice, "register"))
        pictures = [m for m in bot.api.sent_to(1) if m.photo is not None]
        assert len(pictures) == MAX_PICTURES and all(p.deleted for p in pictures)
        assert "stopped here" in replies[-1].plain and "/register" in replies[-1].plain
        assert await db_rows(bot, "SELECT * FROM users") == []
        (after,) = await bot.send(alice, "ABCDE")
        assert "didn't match" not in after.plain  # the flow is over: no captcha step now


async def test_cancel_removes_the_picture(settings: Settings, clock: FakeClock) -> None:
    async with bot_with_captcha(settings, clock) as bot:
        alice = bot.user(1)
        await bot.send(alice, "/login")
        await bot.send(alice, EMAIL)
        _, picture = await bot.send(alice, PASSWORD)
        await bot.send(alice, "/cancel")
        assert picture.deleted
        await bot.send(alice, "/login")
        await bot.send(alice, EMAIL)
        _, again = await bot.send(alice, PASSWORD)
        await bot.send(alice, "/login")  # starting over removes it as well
        assert again.deleted


async def test_a_wrong_password_is_asked_again_and_the_captcha_only_once(
    settings: Settings, clock: FakeClock
) -> None:
    async with bot_with_captcha(settings, clock) as bot:
        alice = bot.user(1)
        await register(bot, alice)
        await bot.send(alice, "/logout")
        await bot.send(alice, "/login")
        await bot.send(alice, EMAIL)
        await bot.send(alice, "violet canyon trumpet 42 orbot")  # a typo
        (verdict,) = await bot.send(alice, captcha_answer(bot, alice, "login"))
        assert "not correct" in verdict.plain and "Send the password again" in verdict.plain
        replies = await bot.send(alice, PASSWORD)
        assert bot.last_user_message.deleted
        assert [m.photo for m in replies] == [None] and "You're logged in" in replies[0].plain


async def test_password_change_typed_twice(bot: BotHarness) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    [(old_hash,)] = await db_rows(bot, "SELECT password_hash FROM users")
    await bot.send(alice, "/password")
    (ask_new,) = await bot.send(alice, PASSWORD)
    assert "new" in ask_new.plain
    (weak,) = await bot.send(alice, "password1234")
    assert "too easy" in weak.plain  # refused before it has to be typed twice
    (again,) = await bot.send(alice, OTHER_PASSWORD)
    assert "once more" in again.plain
    (differ,) = await bot.send(alice, OTHER_PASSWORD.upper())
    assert bot.last_user_message.deleted
    assert "weren't the same" in differ.plain and "new" in differ.plain
    assert await db_rows(bot, "SELECT password_hash FROM users") == [(old_hash,)]
    await bot.send(alice, OTHER_PASSWORD)
    (done,) = await bot.send(alice, OTHER_PASSWORD)
    assert "password was changed" in done.plain and "No other sessions" in done.plain
    assert await db_rows(bot, "SELECT password_hash FROM users") != [(old_hash,)]


async def test_login_and_me_show_the_idle_end_and_the_absolute_end(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    await bot.send(alice, "/logout")
    await bot.send(alice, "/login")
    await bot.send(alice, EMAIL)
    (done,) = await bot.send(alice, PASSWORD)
    assert "after 30 minutes without activity (at 2026-01-01 00:30 UTC" in done.plain
    assert "and at 2026-01-01 12:00 UTC at the latest" in done.plain

    clock.advance(minutes=20)  # some activity moves the idle end, never the absolute one
    (me,) = await bot.send(alice, "/me")
    assert "(at 2026-01-01 00:50 UTC" in me.plain and "at 2026-01-01 12:00 UTC" in me.plain

    for _ in range(32):  # active every 20 minutes, until 11 h after the login
        clock.advance(minutes=20)
        await bot.send(alice, "/me")
    assert clock.now() - timedelta(hours=11) == clock.now().replace(hour=0)
    (me,) = await bot.send(alice, "/me")
    assert "(at 2026-01-01 11:30 UTC" in me.plain
    assert "and at 2026-01-01 12:00 UTC at the latest" in me.plain

    clock.advance(minutes=20)
    await bot.send(alice, "/me")
    clock.advance(minutes=20)  # 11:40: the idle end can't lie beyond the absolute end
    (me,) = await bot.send(alice, "/me")
    assert "(at 2026-01-01 12:00 UTC" in me.plain


async def test_a_timed_out_flow_removes_its_picture(settings: Settings, clock: FakeClock) -> None:
    from telegram.ext import ConversationHandler

    async with bot_with_captcha(settings, clock) as bot:
        flow = next(
            h
            for h in bot.app.handlers[0]
            if isinstance(h, ConversationHandler) and h.name == "login"
        )
        object.__setattr__(flow, "_conversation_timeout", 0.5)
        alice = bot.user(1)
        await bot.send(alice, "/login")
        await bot.send(alice, EMAIL)
        _, picture = await bot.send(alice, PASSWORD)
        await bot.wait_for(lambda: "took longer than 5 minutes" in bot.api.sent_to(1)[-1].plain)
        assert picture.deleted
