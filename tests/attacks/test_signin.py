"""The forgiving sign-in, used to guess more, learn more or skip a check.

A /login that asks again after a wrong password, a captcha that shows a new picture instead
of restarting, a second typing of new passwords: each kindness is a loop an attacker can try
to ride. Every trick below asserts what the attacker sees and that nothing was written.
"""

from __future__ import annotations

from core.accounts.login_throttle import LOCK_FAILURES
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

GUESS = "guess guess guess 1"


async def live_sessions(bot: BotHarness) -> list[tuple[object, ...]]:
    return await db_rows(
        bot, "SELECT account_id, telegram_user_id FROM sessions WHERE ended_at IS NULL"
    )


async def guess_in_one_login(
    bot: BotHarness, user_id: int, email: str, guesses: list[str]
) -> list[str]:
    """One /login, then every guess typed into it; the replies, one text per guess."""
    attacker = bot.user(user_id)
    await bot.send(attacker, "/login")
    await bot.send(attacker, email)
    return [" ".join(m.plain for m in await bot.send(attacker, guess)) for guess in guesses]


async def test_five_wrong_passwords_in_one_login_lock_the_account(bot: BotHarness) -> None:
    """Guess in a loop inside a single /login instead of starting five."""
    await register(bot, bot.user(1))
    await bot.send(bot.user(1), "/logout")
    replies = await guess_in_one_login(bot, 66, EMAIL, [GUESS] * LOCK_FAILURES + [PASSWORD])
    assert all("Send the password again" in reply for reply in replies[:LOCK_FAILURES])
    # The sixth answer, the right password, meets the lock and ends the flow.
    assert "Too many failed attempts" in replies[-1]
    assert await live_sessions(bot) == []
    # A fresh /login from the attacker's account meets the same lock.
    (locked,) = await guess_in_one_login(bot, 66, EMAIL, [PASSWORD])
    assert "Too many failed attempts" in locked
    assert await live_sessions(bot) == []


async def test_a_retry_loop_cannot_outrun_the_lock(bot: BotHarness) -> None:
    """Keep typing after the lock: are later guesses still checked (and so still useful)?"""
    await register(bot, bot.user(1))
    await bot.send(bot.user(1), "/logout")
    guesses = [f"{GUESS}{n}" for n in range(12)] + [PASSWORD]
    replies = await guess_in_one_login(bot, 66, EMAIL, guesses)
    locked_at = next(n for n, reply in enumerate(replies) if "Too many failed attempts" in reply)
    assert locked_at == LOCK_FAILURES
    # After the lock the flow is over: the rest is never a password check (no verdict at all).
    assert not any("not correct" in r or "Too many" in r for r in replies[locked_at + 1 :])
    assert (await event_types(bot)).count("LOGIN_FAILED") == LOCK_FAILURES + 1  # + the lock
    assert await live_sessions(bot) == []


async def test_unknown_email_and_wrong_password_answer_alike_through_the_loop(
    bot: BotHarness,
) -> None:
    """Ride the retry loop to tell a real account from a made-up one."""
    await register(bot, bot.user(1))
    await bot.send(bot.user(1), "/logout")
    guesses = [GUESS] * (LOCK_FAILURES + 2)
    real = await guess_in_one_login(bot, 66, EMAIL, guesses)
    ghost = await guess_in_one_login(bot, 67, "ghost@example.com", guesses)
    assert real == ghost
    assert "Too many failed attempts" in real[LOCK_FAILURES]
    assert await db_rows(bot, "SELECT email FROM users") == [(EMAIL,)]


async def test_the_retry_loop_never_switches_to_another_email(bot: BotHarness) -> None:
    """After one /login, type a second account's email and password as the 'retry'."""
    await register(bot, bot.user(1))
    await register(bot, bot.user(2), "victim@example.com", OTHER_PASSWORD)
    for user_id in (1, 2):
        await bot.send(bot.user(user_id), "/logout")
    replies = await guess_in_one_login(
        bot, 66, EMAIL, [GUESS, "victim@example.com", OTHER_PASSWORD]
    )
    assert all("not correct" in reply for reply in replies)
    assert await live_sessions(bot) == []
    failed = await db_rows(
        bot, "SELECT account_id FROM audit_events WHERE event_type = 'LOGIN_FAILED'"
    )
    assert failed == [(1,), (1,), (1,)]  # all three against the first email, none against B


async def test_the_verdict_waits_for_the_captcha_even_after_a_restart(
    settings: Settings, clock: FakeClock
) -> None:
    """Restart /login to learn whether a password was right without solving a picture."""
    async with bot_with_captcha(settings, clock) as bot:
        await register(bot, bot.user(1))
        await bot.send(bot.user(1), "/logout")
        eve = bot.user(66)
        for password in (GUESS, PASSWORD):
            await bot.send(eve, "/login")
            await bot.send(eve, EMAIL)
            replies = await bot.send(eve, password)
            assert [m.photo is not None for m in replies] == [False, True]
            assert not any("not correct" in m.plain or "logged in" in m.plain for m in replies)
        old_answer = captcha_answer(bot, eve, "login")
        await bot.send(eve, "/login")  # a restart forgets the picture and its answer
        await bot.send(eve, EMAIL)
        await bot.send(eve, PASSWORD)
        if captcha_answer(bot, eve, "login") != old_answer:
            (reply,) = await bot.send(eve, old_answer)
            assert "didn't match" in reply.plain
        assert await live_sessions(bot) == []


async def test_an_old_pictures_answer_does_not_solve_the_new_one(
    settings: Settings, clock: FakeClock
) -> None:
    """Keep the first picture's answer, burn three tries, then answer the new picture with it."""
    async with bot_with_captcha(settings, clock) as bot:
        eve = bot.user(66)
        await up_to_the_captcha(bot, eve)
        first = captcha_answer(bot, eve, "register")
        for _ in range(3):
            await bot.send(eve, wrong_answer(bot, eve, "register"))
        if captcha_answer(bot, eve, "register") != first:
            (reply,) = await bot.send(eve, first)
            assert "didn't match" in reply.plain
        assert await db_rows(bot, "SELECT * FROM users") == []


async def test_restarting_register_does_not_skip_the_captcha(
    settings: Settings, clock: FakeClock
) -> None:
    """Run out of pictures, start again, and hope the captcha step is remembered as passed."""
    async with bot_with_captcha(settings, clock) as bot:
        eve = bot.user(66)
        await up_to_the_captcha(bot, eve)
        for _ in range(9):
            await bot.send(eve, wrong_answer(bot, eve, "register"))
        replies = await up_to_the_captcha(bot, eve)
        assert replies[-1].photo is not None  # a new picture, not the referral step
        (reply,) = await bot.send(eve, "skip")
        assert "didn't match" in reply.plain
        assert await db_rows(bot, "SELECT * FROM users") == []
        assert await event_types(bot) == []


async def test_a_mismatched_second_typing_writes_nothing(bot: BotHarness) -> None:
    """Send a different second password: is the first one (or any account) kept anyway?"""
    eve = bot.user(66)
    await bot.send(eve, "/register")
    await bot.send(eve, EMAIL)
    await bot.send(eve, PASSWORD)
    (differ,) = await bot.send(eve, OTHER_PASSWORD)
    assert "weren't the same" in differ.plain
    assert await db_rows(bot, "SELECT * FROM users") == []
    assert await event_types(bot) == []
    assert bot.app.user_data[66]["register"].password_hash is None


async def test_a_mismatched_new_password_changes_nothing(bot: BotHarness) -> None:
    """With a stolen session, change the password, mistyping the second on purpose."""
    await register(bot, bot.user(1))
    await bot.send(bot.user(2), "/login")
    await bot.send(bot.user(2), EMAIL)
    await bot.send(bot.user(2), PASSWORD)
    [(old_hash,)] = await db_rows(bot, "SELECT password_hash FROM users")
    alice = bot.user(1)
    await bot.send(alice, "/password")
    await bot.send(alice, PASSWORD)
    await bot.send(alice, OTHER_PASSWORD)
    (differ,) = await bot.send(alice, PASSWORD)  # the old one as the "confirmation"
    assert "weren't the same" in differ.plain
    assert await db_rows(bot, "SELECT password_hash FROM users") == [(old_hash,)]
    assert len(await live_sessions(bot)) == 2  # the other session was not ended
    assert "PASSWORD_CHANGED" not in await event_types(bot)
