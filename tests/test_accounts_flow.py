"""Accounts through the real bot: register, login, sessions, password and email change."""

from __future__ import annotations

import asyncio
from typing import Literal

import argon2
import pytest

from bot.fake_telegram.records import Message
from core.audit.log import EventType
from core.clock import FakeClock
from tests.support import raw_db
from tests.support.harness import BotHarness
from tests.support.steps import EMAIL, NEW_PASSWORD, PASSWORD, db_rows, events, login, register


async def test_register_then_login_then_me_then_logout(bot: BotHarness) -> None:
    alice = bot.user(1)
    (ask_email,) = await bot.send(alice, "/register")
    assert "Step 1 of 3" in ask_email.plain  # no captcha in these tests: 3 steps, not 4
    (ask_password,) = await bot.send(alice, "Trader@Example.COM")
    assert "Step 2 of 3" in ask_password.plain

    (ask_again,) = await bot.send(alice, PASSWORD)
    assert bot.last_user_message.deleted, "the password message must be deleted"
    assert "I deleted your message" in ask_again.plain and "once more" in ask_again.plain
    (prompt,) = await bot.send(alice, PASSWORD)
    assert bot.last_user_message.deleted, "the second typing must be deleted too"
    assert "I deleted your message" in prompt.plain and "Step 3 of 3" in prompt.plain
    assert "referral code" in prompt.plain
    (done,) = await bot.press(alice, prompt, "Skip")
    assert "trader@example.com" in done.plain and "referral code" in done.plain
    assert "you're logged in" in done.plain and "30 minutes without activity" in done.plain

    [(email, pw_hash, code, referred_by)] = await db_rows(
        bot, "SELECT email, password_hash, referral_code, referred_by FROM users"
    )
    assert email == "trader@example.com" and pw_hash.startswith("$argon2id$")
    assert len(code) == 8 and referred_by is None and code in done.plain
    assert PASSWORD not in pw_hash

    (me,) = await bot.send(alice, "/me")  # registration opened the session
    assert "trader@example.com" in me.plain

    reply = await login(bot, alice)
    assert "You're logged in as trader@example.com" in reply
    assert bot.last_user_message.deleted

    (me,) = await bot.send(alice, "/me")
    assert "trader@example.com" in me.plain and "Tier: free" in me.plain
    assert "Two-factor authentication: off" in me.plain and "session ends" in me.plain

    (bye,) = await bot.send(alice, "/logout")
    assert "logged out" in bye.plain
    (me_again,) = await bot.send(alice, "/me")
    assert me_again.plain == "Please /login first."

    kinds = [e.event_type for e in await events(bot)]
    assert kinds == ["REGISTERED", "LOGIN_SUCCESS", "LOGIN_SUCCESS", "LOGOUT"]
    first_session, login_event = (await events(bot))[1:3]
    assert first_session.details["via"] == "registration"
    assert login_event.telegram_user_id == 1 and login_event.account_id == 1


async def test_weak_passwords_are_refused_with_a_reason(bot: BotHarness) -> None:
    alice = bot.user(1)
    await bot.send(alice, "/register")
    await bot.send(alice, EMAIL)
    cases = {
        "short pass": "at least 12 characters",
        "password1234": "too easy to guess",
        "trader-2024-rocks-hard!": "must not contain the name part",
        "x" * 129: "at most 128 characters",
    }
    for password, reason in cases.items():
        (reply,) = await bot.send(alice, password)
        assert reason in reply.plain, (password, reply.plain)
        assert "Please send another password" in reply.plain
        assert bot.last_user_message.deleted
    assert await db_rows(bot, "SELECT * FROM users") == []


async def test_referral_code_links_the_new_account(bot: BotHarness) -> None:
    done = await register(bot, bot.user(1))
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users")
    assert code in done
    bob = bot.user(2)
    await bot.send(bob, "/register")
    await bot.send(bob, "bob@example.com")
    await bot.send(bob, NEW_PASSWORD)
    await bot.send(bob, NEW_PASSWORD)
    (unknown,) = await bot.send(bob, "NOPE1234")
    assert "don't know that referral code" in unknown.plain
    (ok,) = await bot.send(bob, code.lower())
    assert "is ready" in ok.plain and f"referred by code {code}" in ok.plain
    assert "trader@example.com" not in ok.plain  # the referrer stays anonymous
    rows = await db_rows(bot, "SELECT email, referred_by FROM users ORDER BY id")
    assert rows == [("trader@example.com", None), ("bob@example.com", 1)]


async def test_duplicate_email_gets_a_neutral_reply(bot: BotHarness) -> None:
    await register(bot, bot.user(1))
    reply = await register(bot, bot.user(2), password=NEW_PASSWORD)
    assert "couldn't create an account" in reply and "/login" in reply
    assert len(await db_rows(bot, "SELECT id FROM users")) == 1


class _CountingHasher(argon2.PasswordHasher):
    """The real argon2 hasher, noting every hash it verifies (the work a login does)."""

    def __init__(self, inner: argon2.PasswordHasher) -> None:
        super().__init__(
            time_cost=inner.time_cost,
            memory_cost=inner.memory_cost,
            parallelism=inner.parallelism,
            hash_len=inner.hash_len,
            salt_len=inner.salt_len,
            type=inner.type,
        )
        self.verified: list[str | bytes] = []
        self.done = 0  # verifications finished (they run in the worker threads)
        self.running = 0  # verifications in progress right now

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(hash)
        self.running += 1
        try:
            return super().verify(hash, password)
        finally:
            self.running -= 1
            self.done += 1


@pytest.mark.production_argon2  # the dummy hash must cost what a real one costs
async def test_unknown_email_and_wrong_password_look_the_same(bot: BotHarness) -> None:
    """The same reply, and the same work: one argon2id verification with the same parameters
    on either path (counted, not timed, so a busy machine cannot make it flaky)."""
    await register(bot, bot.user(1))
    eve = bot.user(66)
    passwords = bot.services.accounts.passwords
    counting = _CountingHasher(passwords._hasher)
    passwords._hasher = counting
    wrong_password = await login(bot, eve, EMAIL, "not the password at all 1")
    on_wrong = list(counting.verified)
    counting.verified.clear()
    unknown_email = await login(bot, eve, "nobody@example.com", "not the password 1")
    on_unknown = list(counting.verified)
    assert wrong_password == unknown_email
    assert "email or password is not correct" in wrong_password
    assert len(on_wrong) == 1 and len(on_unknown) == 1
    [(stored,)] = await db_rows(bot, "SELECT password_hash FROM users WHERE id = 1")
    assert on_wrong == [stored] and on_unknown != [stored]
    dummy = on_unknown[0]
    assert isinstance(dummy, str)
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(stored)
    failed = [e for e in await events(bot) if e.event_type == EventType.LOGIN_FAILED]
    assert [e.telegram_user_id for e in failed] == [66, 66]
    assert failed[0].account_id == 1 and failed[1].account_id is None


async def test_five_failures_lock_password_login_for_ten_minutes(
    bot: BotHarness, clock: FakeClock
) -> None:
    await register(bot, bot.user(1))
    mallory = bot.user(2)
    for _ in range(5):
        assert "not correct" in await login(bot, mallory, EMAIL, "guess guess guess 1")
    # Even the right password is refused while locked, from a Telegram account that never
    # signed in to it; the owner's own (it registered there) is throttled on its own.
    locked = await login(bot, bot.user(5), EMAIL, PASSWORD)
    assert "Too many failed attempts" in locked and "10 minutes" in locked
    assert "You're logged in" in await login(bot, bot.user(1), EMAIL, PASSWORD)
    # An unknown email locks in exactly the same way (no enumeration through the lock).
    for _ in range(5):
        await login(bot, bot.user(3), "ghost@example.com", "guess guess guess 1")
    ghost = await login(bot, bot.user(4), "ghost@example.com", "guess guess guess 1")
    assert ghost == locked

    clock.advance(minutes=10, seconds=1)
    assert "You're logged in" in await login(bot, bot.user(1), EMAIL, PASSWORD)


async def test_one_telegram_user_trying_many_emails_is_throttled(
    bot: BotHarness, clock: FakeClock
) -> None:
    await register(bot, bot.user(1))
    sprayer = bot.user(5)
    for n in range(5):
        await login(bot, sprayer, f"victim{n}@example.com", "Summer2024!Summer")
    reply = await login(bot, sprayer, EMAIL, PASSWORD)
    assert "Too many failed attempts" in reply
    # The real owner on their own Telegram account is not affected.
    assert "You're logged in" in await login(bot, bot.user(1), EMAIL, PASSWORD)


async def test_login_from_another_telegram_account_warns_the_previous_chat(
    bot: BotHarness,
) -> None:
    await register(bot, bot.user(1))
    await login(bot, bot.user(1))
    before = len(bot.api.sent_to(1))
    assert "You're logged in" in await login(bot, bot.user(2))
    warning = bot.api.sent_to(1)[before:]
    assert len(warning) == 1 and "another Telegram account" in warning[0].plain


async def test_sessions_expire_when_idle_and_at_the_absolute_limit(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    clock.advance(minutes=29)
    (me,) = await bot.send(alice, "/me")
    assert "trader@example.com" in me.plain
    clock.advance(minutes=31)
    (me,) = await bot.send(alice, "/me")
    assert me.plain == "Please /login first."

    await login(bot, alice)
    for _ in range(36):  # active every 20 minutes for 12 hours
        clock.advance(minutes=20)
        await bot.send(alice, "/me")
    (me,) = await bot.send(alice, "/me")
    assert me.plain == "Please /login first."


async def test_password_change_ends_other_sessions_and_notifies(bot: BotHarness) -> None:
    alice, laptop = bot.user(1), bot.user(2)
    await register(bot, alice)
    await login(bot, laptop)
    await login(bot, alice)

    await bot.send(alice, "/password")
    (wrong,) = await bot.send(alice, "not my password 123")
    assert "not correct" in wrong.plain and bot.last_user_message.deleted

    await bot.send(alice, "/password")
    (ask_new,) = await bot.send(alice, PASSWORD)
    assert "new" in ask_new.plain
    (weak,) = await bot.send(alice, "password1234")
    assert "too easy" in weak.plain
    before = len(bot.api.sent_to(2))
    (again,) = await bot.send(alice, NEW_PASSWORD)
    assert bot.last_user_message.deleted and "once more" in again.plain
    (done,) = await bot.send(alice, NEW_PASSWORD)
    assert bot.last_user_message.deleted
    assert "password was changed" in done.plain and "I logged out 1 other session." in done.plain
    assert "logged out" in bot.api.sent_to(2)[before].plain
    (laptop_me,) = await bot.send(laptop, "/me")
    assert laptop_me.plain == "Please /login first."
    (alice_me,) = await bot.send(alice, "/me")
    assert "trader@example.com" in alice_me.plain

    assert "not correct" in await login(bot, laptop, EMAIL, PASSWORD)
    assert "You're logged in" in await login(bot, laptop, EMAIL, NEW_PASSWORD)
    assert EventType.PASSWORD_CHANGED in [e.event_type for e in await events(bot)]


async def test_email_change_needs_the_password(bot: BotHarness) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    await register(bot, bot.user(2), "other@example.com", NEW_PASSWORD)
    await login(bot, alice)
    await bot.send(alice, "/email")
    (ask,) = await bot.send(alice, PASSWORD)
    assert bot.last_user_message.deleted and "new email" in ask.plain
    (bad,) = await bot.send(alice, "not an email")
    assert "doesn't look like an email" in bad.plain
    (taken,) = await bot.send(alice, "other@example.com")
    assert "can't be used" in taken.plain
    (done,) = await bot.send(alice, "New.Address@Example.com")
    assert "new.address@example.com" in done.plain
    changed = [e for e in await events(bot) if e.event_type == EventType.EMAIL_CHANGED]
    assert changed[0].details == {"old": "t***@example.com", "new": "n***@example.com"}
    await bot.send(alice, "/logout")
    assert "You're logged in" in await login(bot, alice, "new.address@example.com")


@pytest.mark.parametrize(
    "junk",
    ["", " ", "x" * 10_000, "' OR 1=1; DROP TABLE users; --", "ユーザー@例え.テスト", "🙂" * 50],
)
async def test_junk_input_gets_a_clear_reply_and_saves_nothing(bot: BotHarness, junk: str) -> None:
    alice = bot.user(1)
    await bot.send(alice, "/register")
    if junk.strip():
        (reply,) = await bot.send(alice, junk)
        assert reply.plain
    (photo_reply,) = await bot.send(alice, photo=True)
    assert "text message" in photo_reply.plain
    (sticker_reply,) = await bot.send(alice, sticker=True)
    assert "text message" in sticker_reply.plain
    (cancelled,) = await bot.send(alice, "/cancel")
    assert "Nothing was saved" in cancelled.plain
    assert await db_rows(bot, "SELECT * FROM users") == []
    assert await raw_db.integrity(bot.settings) == "ok"


async def test_commands_inside_a_flow_are_answered(bot: BotHarness) -> None:
    alice = bot.user(1)
    await bot.send(alice, "/register")
    (busy,) = await bot.send(alice, "/me")
    assert "/cancel" in busy.plain
    (again,) = await bot.send(alice, "/register")
    assert "Step 1 of 3" in again.plain


async def test_flows_time_out_after_five_minutes(bot: BotHarness) -> None:
    from telegram.ext import ConversationHandler

    flows = [h for h in bot.app.handlers[0] if isinstance(h, ConversationHandler)]
    assert {
        "register",
        "login",
        "password",
        "email",
        "2fa_enroll",
        "2fa_disable",
        "backup_codes",
    } <= {h.name for h in flows}
    assert all(h.conversation_timeout == 300 for h in flows)
    register_flow = next(h for h in flows if h.name == "register")
    object.__setattr__(register_flow, "_conversation_timeout", 0.3)
    alice = bot.user(1)
    await bot.send(alice, "/register")
    await bot.send(alice, EMAIL)
    await bot.wait_for(lambda: "took longer than 5 minutes" in bot.api.sent_to(1)[-1].plain)
    (reply,) = await bot.send(alice, PASSWORD)
    # The flow is over: a password typed now is deleted, with a word on how to start again.
    assert "deleted it" in reply.plain and "/register" in reply.plain
    assert bot.last_user_message.deleted
    assert await db_rows(bot, "SELECT * FROM users") == []


@pytest.mark.production_argon2  # real hashes, so the logins take a while
async def test_password_hashing_does_not_block_other_users(bot: BotHarness) -> None:
    """While real argon2 verifications run, another user's /start is answered: when the bot
    sends Bob's reply, a verification is still running in a worker thread. Counted, not
    timed, so a busy machine cannot flake it; hashing on the event loop could never show a
    verification in progress while the loop sends something else."""
    await register(bot, bot.user(1))
    passwords = bot.services.accounts.passwords
    counting = _CountingHasher(passwords._hasher)
    passwords._hasher = counting
    slow_users = [bot.user(100 + n) for n in range(8)]
    for user in slow_users:
        await bot.send(user, "/login")
        await bot.send(user, EMAIL)
    bob = bot.user(2)
    running_when_bob_answered: list[int] = []

    def watch(method: str, message: Message) -> None:
        if message.chat_id == bob.id:
            running_when_bob_answered.append(counting.running)

    bot.api.listeners.append(watch)
    for user in slow_users:
        bot.api.user_sends(user, PASSWORD)  # argon2 verifications start now
    await bot.wait_for(lambda: counting.running > 0)  # never seen if hashing held the loop
    bot.api.user_sends(bob, "/start")
    await bot.settle()
    # Strangers share the account's lock: 5 of the 8 get a verification, the rest wait.
    assert counting.done == 5 and running_when_bob_answered
    assert running_when_bob_answered[0] > 0, running_when_bob_answered


async def test_concurrent_registrations_of_one_email_create_one_account(bot: BotHarness) -> None:
    users = [bot.user(200 + n) for n in range(4)]
    for user in users:
        await bot.send(user, "/register")
        await bot.send(user, EMAIL)
        await bot.send(user, PASSWORD)
        await bot.send(user, PASSWORD)
    prompts = [bot.api.sent_to(u.id)[-1] for u in users]
    for user, prompt in zip(users, prompts, strict=True):
        bot.api.user_presses(user, prompt, "reg:skip")
    await bot.settle()
    assert len(await db_rows(bot, "SELECT id FROM users")) == 1
    await asyncio.sleep(0)
