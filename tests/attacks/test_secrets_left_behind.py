"""Secrets left behind: passwords and codes that outlive the step that asked for them.

The attacker's angle: a victim's chat is a notebook. If a code or password stays in it (typed
in a group, typed after the flow ended, dropped by the rate limiter, the backup codes still on
screen), whoever sees the phone or the group gets it. And if a step forgets to count its
guesses, codes can be guessed faster than the login's. Every test asserts what the user sees
and that nothing was written.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import replace

import pyotp
import pytest
from telegram.ext import BaseHandler, ConversationHandler

from bot.flows import Flow, Secret
from core.audit.log import EventType
from core.clock import FakeClock
from core.config import Settings
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.secrets_steps import TOO_MANY, enable_2fa_directly, restart, stop_restarted
from tests.support.steps import EMAIL, PASSWORD, db_rows, login, register


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The product's auth limit (5/minute); the tier limit out of the way."""
    limits = replace(settings.rate_limits, auth="5/minute", default="1000/minute", tiers={})
    return replace(settings, rate_limits=limits)


def _flows(bot: BotHarness) -> list[ConversationHandler]:
    handlers = [h for group in bot.app.handlers.values() for h in group]
    return [h for h in handlers if isinstance(h, ConversationHandler)]


def _takes_a_secret(handler: BaseHandler) -> bool:
    callback = inspect.unwrap(handler.callback)
    source = inspect.getsource(callback)
    return "take_secret(" in source or "password_step(" in source


# --- every secret step is declared, so none can be forgotten --------------------------------


async def test_every_state_that_reads_a_secret_is_declared(bot: BotHarness) -> None:
    """Trick: a new flow step reads a code but nobody marked it, so its guesses are free and
    its text is not protected. Every state of every real flow that reads a secret must be
    declared; every declared password/code state is judged by the auth limit."""
    flows = _flows(bot)
    assert len(flows) >= 12
    for flow in flows:
        assert isinstance(flow, Flow), f"{flow.name} was not built by conversation()"
        assert flow.persistent, f"{flow.name} would be lost at a restart"
        for state, handlers in flow.states.items():
            if any(_takes_a_secret(h) for h in handlers):
                assert state in flow.secret_states, f"{flow.name} state {state} undeclared"
        for state, kind in flow.secret_states.items():
            if kind.is_guess:
                assert flow.is_code_step(state)
    login_flow = next(f for f in flows if f.name == "login")
    assert isinstance(login_flow, Flow)
    assert set(login_flow.secret_states.values()) == {Secret.PASSWORD, Secret.CODE}


# --- code flows run in private chats only ------------------------------------------------------


async def test_approve_in_the_admin_group_asks_to_continue_privately(bot: BotHarness) -> None:
    """Trick: shoulder-surf the admin group: an admin who starts /approve there would type
    their 2FA code in front of everyone. The bot answers 'continue in a private chat', asks
    for nothing, and nothing is approved."""
    admin = bot.user(ADMIN_ID)
    (reply,) = await bot.send(admin, "/approve 1", chat_id=ADMIN_CHAT_ID)
    assert "private chat" in reply.plain
    assert "code" not in reply.plain.split("private chat")[1]
    assert await bot.send(admin, "123456", chat_id=ADMIN_CHAT_ID) == []  # not an answer
    assert await db_rows(bot, "SELECT * FROM licenses") == []
    assert await db_rows(bot, "SELECT * FROM conversation_state WHERE kind = 'conversation'") == []


@pytest.mark.parametrize(
    "command", ["/killswitch on drill", "/restore verzek-backup.tar", "/approve 7"]
)
async def test_admin_code_commands_in_the_group_never_ask_for_a_code(
    bot: BotHarness, command: str
) -> None:
    """Variant: every admin command that would ask for a code, sent in the admin chat."""
    admin = bot.user(ADMIN_ID)
    (reply,) = await bot.send(admin, command, chat_id=ADMIN_CHAT_ID)
    assert "private chat" in reply.plain
    assert await db_rows(bot, "SELECT * FROM safety_state") == []


@pytest.mark.parametrize(
    "command", ["/login", "/password", "/2fa_enroll", "/2fa_disable", "/withdraw 5 T", "/email"]
)
async def test_user_code_flows_refuse_groups(bot: BotHarness, command: str) -> None:
    """Variant: a user starts a code flow in a group they share with others."""
    alice = bot.user(1)
    (reply,) = await bot.send(alice, command, chat_id=-777)
    assert "private chat" in reply.plain
    assert await db_rows(bot, "SELECT * FROM conversation_state WHERE kind = 'conversation'") == []


@pytest.mark.parametrize("data", ["2fa:enroll", "2fa:disable", "2fa:codes", "apikey:add"])
async def test_flow_buttons_pressed_in_a_group_start_nothing(
    bot: BotHarness, clock: FakeClock, data: str
) -> None:
    """Variant: a forged press of a flow's button on a message in a group: the flow would
    send the 2FA secret (or ask for a code) to everyone there."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    (message,) = await bot.send(alice, "/start")
    group_message = replace(message, chat_id=-777)
    replies = await bot.press_data(alice, group_message, data)
    assert replies == []
    assert "private chat" in bot.api.callback_answers[-1]["text"]
    assert await db_rows(bot, "SELECT * FROM mfa") == []


# --- every code step is an auth step; only wrong answers count -------------------------------


async def test_an_honest_first_day_never_hits_the_auth_limit(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Not an attack: register, log in, enrol 2FA with one typo, log out, log in with a code,
    all inside one minute: 4 auth hits (2 starts + /login + the typo), never refused."""
    alice = bot.user(1)
    await register(bot, alice)
    assert "logged in" in (await login(bot, alice)).lower()
    session = await bot.services.sessions.current(alice.id)
    assert session is not None
    replies = await bot.send(alice, "/2fa_enroll")
    if not any(m.photo for m in replies):
        replies = await bot.send(alice, PASSWORD)  # enrolment that asks for the password first
    manual = next(m for m in replies if m.text and "<code>" in m.text)
    secret = re.search(r"<code>([A-Z2-7 ]+)</code>", manual.text or "")
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1).replace(" ", ""))
    (wrong,) = await bot.send(alice, "000000" if totp.at(clock.now()) != "000000" else "111111")
    assert TOO_MANY not in wrong.plain
    replies = await bot.send(alice, totp.at(clock.now()))
    assert any("Two-factor authentication is on" in m.plain for m in replies)
    await bot.send(alice, "/logout")
    clock.advance(seconds=31)
    await login(bot, alice)
    (done,) = await bot.send(alice, totp.at(clock.now()))
    assert "logged in" in done.plain.lower()
    assert TOO_MANY not in " ".join(bot.texts(alice.id))
    assert not await breaches(bot)


async def breaches(bot: BotHarness) -> list:
    return [
        event
        async for event in bot.services.audit.export()
        if event.event_type == EventType.RATE_LIMIT_EXCEEDED
    ]


async def test_guessing_login_codes_hits_the_auth_limit(bot: BotHarness, clock: FakeClock) -> None:
    """Trick: with the victim's password, guess 2FA codes at the login's code step. /login is
    one hit, each wrong code one more: the 5th guess fills the window and the next answer is
    refused unread (and deleted), so no session opens however lucky the guess."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    totp = await enable_2fa_directly(bot, alice, clock)
    await bot.send(alice, "/logout")
    attacker = bot.user(66)
    await login(bot, attacker)  # hit 1
    for guess in ("000001", "000002", "000003", "000004"):  # hits 2-5
        (reply,) = await bot.send(attacker, guess)
        assert TOO_MANY not in reply.plain
    (refused,) = await bot.send(attacker, totp.at(clock.now()))  # right code, too late
    assert TOO_MANY in refused.plain
    assert bot.last_user_message.deleted
    assert await bot.services.sessions.current(attacker.id) is None
    assert await db_rows(bot, "SELECT * FROM sessions WHERE telegram_user_id = 66") == []


@pytest.mark.parametrize("flow", ["/backup_codes", "/2fa_disable"])
async def test_every_code_step_counts_wrong_codes_like_the_login(
    bot: BotHarness, clock: FakeClock, flow: str
) -> None:
    """Variant: the same guessing at another flow's code step (a flow's start is not an auth
    hit, every wrong code is): the 6th answer is refused unread, nothing changes."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    totp = await enable_2fa_directly(bot, alice, clock)
    clock.advance(seconds=61)  # /register and /login have left the window
    await bot.services.sessions.current(alice.id)
    before = await db_rows(bot, "SELECT * FROM backup_codes")
    for attempt in range(5):
        replies = await bot.send(alice, flow)
        if flow == "/2fa_disable":
            replies = await bot.send(alice, PASSWORD)
        (reply,) = await bot.send(alice, f"00000{attempt}")
        assert TOO_MANY not in reply.plain
    await bot.send(alice, flow)
    replies = await bot.send(alice, PASSWORD) if flow == "/2fa_disable" else []
    replies += await bot.send(alice, totp.at(clock.now()))
    # Refused at the first password or code answer (/2fa_disable: already its password).
    assert [TOO_MANY in m.plain for m in replies] == [True]
    await bot.wait_for(lambda: bot.last_user_message.deleted, timeout=5)
    assert await db_rows(bot, "SELECT * FROM backup_codes") == before
    assert await bot.services.twofactor.is_enabled(1)


async def test_wrong_current_passwords_count_and_then_are_refused_unread(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Variant: an unlocked phone and a session, no password: guess it at /password. Each
    wrong one is charged; after five, the next is refused before it is checked."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    clock.advance(seconds=61)  # /register and /login have left the window
    for n in range(5):
        await bot.send(alice, "/password")
        (reply,) = await bot.send(alice, f"wrong guess number {n} here")
        assert "not correct" in reply.plain
    await bot.send(alice, "/password")
    (refused,) = await bot.send(alice, PASSWORD)
    assert TOO_MANY in refused.plain and bot.last_user_message.deleted
    assert "new password" not in " ".join(bot.texts(1)[-2:]).lower()


async def test_correct_answers_are_free_and_wrong_captchas_count(
    settings: Settings, clock: FakeClock
) -> None:
    """Variant: captcha answers. A wrong captcha is a guess; typed right, it costs nothing."""
    from tests.support.services import build_services

    captcha_on = replace(settings, security=replace(settings.security, captcha=True))
    services = await build_services(captcha_on, clock)
    bot = BotHarness(captcha_on, services)
    await bot.start()
    try:
        alice = bot.user(1)
        await bot.send(alice, "/register")  # hit 1
        await bot.send(alice, EMAIL)
        await bot.send(alice, PASSWORD)
        await bot.send(alice, PASSWORD)  # typed twice (free): the picture comes now
        for _ in range(2):  # hits 2-3: the same picture again
            await bot.send(alice, "WRONG")
        (_picture,) = [m for m in await bot.send(alice, "WRONG") if m.photo]  # hit 4: new one
        (again,) = await bot.send(alice, "WRONG")  # hit 5
        assert "didn't match" in again.plain
        (refused,) = await bot.send(alice, "WRONG")
        assert TOO_MANY in refused.plain
        assert await db_rows(bot, "SELECT * FROM users") == []
    finally:
        await bot.stop()
        await services.aclose()


# --- texts the rate limiter drops are deleted ---------------------------------------------


async def test_every_text_the_limiter_drops_in_private_is_deleted(bot: BotHarness) -> None:
    """Trick: flood the code step so the limiter drops answers: the dropped ones (the first
    refusal and the silent ones after it) would stay in the chat for anyone to read."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    guesses = []
    for n in range(8):
        await bot.send(alice, "/password")
        await bot.send(alice, f"a wrong password number {n}")
        guesses.append(bot.last_user_message)
    await bot.wait_for(lambda: all(m.deleted for m in guesses), timeout=5)
    assert await db_rows(bot, "SELECT * FROM users WHERE password_hash IS NULL") == []


# --- a text after a secret-asking flow ended is deleted ----------------------------------


async def test_a_password_typed_after_cancel_is_deleted_with_a_note(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Trick (on the victim's habits): they cancel /login, then type the password anyway; as
    unknown text it would stay in the chat. It is deleted, with how to start again."""
    alice = bot.user(1)
    await register(bot, alice)
    await bot.send(alice, "/logout")  # registering logged her in
    await bot.send(alice, "/login")
    await bot.send(alice, EMAIL)
    await bot.send(alice, "/cancel")
    (note,) = await bot.send(alice, PASSWORD)
    assert bot.last_user_message.deleted
    assert "deleted it" in note.plain and "/login" in note.plain
    assert await bot.services.sessions.current(alice.id) is None
    clock.advance(minutes=4)  # the aftermath is over: ordinary text again
    (hint,) = await bot.send(alice, "hello there")
    assert not bot.last_user_message.deleted and "/help" in hint.plain


async def test_a_code_typed_after_a_timeout_is_deleted_with_a_note(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Variant: the flow timed out while the victim looked for the code in their app."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    await enable_2fa_directly(bot, alice, clock)
    flow = next(f for f in _flows(bot) if f.name == "backup_codes")
    object.__setattr__(flow, "_conversation_timeout", 0.3)
    await bot.send(alice, "/backup_codes")
    await bot.wait_for(lambda: "longer than 5 minutes" in bot.api.sent_to(1)[-1].plain)
    before = await db_rows(bot, "SELECT * FROM backup_codes")
    (note,) = await bot.send(alice, "123 456")
    assert bot.last_user_message.deleted and "/backup_codes" in note.plain
    assert await db_rows(bot, "SELECT * FROM backup_codes") == before


async def test_a_new_command_ends_the_aftermath(bot: BotHarness) -> None:
    """Not an attack: after /cancel, starting anything else means texts are answers again."""
    alice = bot.user(1)
    await bot.send(alice, "/login")
    await bot.send(alice, "/cancel")
    await bot.send(alice, "/register")
    (reply,) = await bot.send(alice, EMAIL)
    assert not bot.last_user_message.deleted and "Step 2 of 3" in reply.plain


# --- the backup codes do not stay on screen ------------------------------------------------


async def _new_backup_codes(bot: BotHarness, clock: FakeClock):
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    totp = await enable_2fa_directly(bot, alice, clock)
    await bot.send(alice, "/backup_codes")
    (codes,) = await bot.send(alice, totp.at(clock.now()))
    assert "new backup codes" in codes.plain
    return alice, codes


async def test_backup_codes_are_protected_and_gone_after_i_saved_them(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Trick: forward the victim's backup-codes message to yourself, or read it later. It is
    sent with protect_content, and pressing "I saved them" deletes it."""
    alice, codes = await _new_backup_codes(bot, clock)
    assert codes.protect_content
    await bot.press(alice, codes, "✅ I saved them")
    assert codes.deleted
    assert "deleted" in bot.api.callback_answers[-1]["text"]


async def test_a_forged_i_saved_them_deletes_nothing_else(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Variant: the button's data pressed on another message (the bot's welcome): a stale
    button, nothing is deleted; the codes message still goes at its time."""
    alice, codes = await _new_backup_codes(bot, clock)
    (welcome,) = await bot.send(alice, "/start")
    await bot.press_data(alice, welcome, "2fa:saved")
    assert not welcome.deleted and not codes.deleted
    assert bot.api.callback_answers[-1]["show_alert"] is True


async def test_backup_codes_are_deleted_after_ten_minutes(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Variant: the victim never presses the button: the message goes after 10 minutes."""
    _alice, codes = await _new_backup_codes(bot, clock)
    assert bot.app.job_queue is not None
    (sweep,) = bot.app.job_queue.get_jobs_by_name("codes-sweep")
    await sweep.run(bot.app)
    assert not codes.deleted
    clock.advance(minutes=10, seconds=1)
    await sweep.run(bot.app)
    assert codes.deleted


async def test_the_ten_minutes_hold_across_a_restart(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Variant: the bot restarts before the 10 minutes are up (a deploy, a crash): the due
    time was stored, and the sweep at start-up deletes the message once it is due."""
    _alice, codes = await _new_backup_codes(bot, clock)
    clock.advance(minutes=11)
    fresh = await restart(bot, settings, clock)
    try:
        await fresh.wait_for(lambda: codes.deleted, timeout=5)
    finally:
        await stop_restarted(fresh)
