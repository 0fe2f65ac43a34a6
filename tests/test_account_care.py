"""/settings, /security, /delete_account and the start-up profile, as the owner uses them
(the attacks on them: tests/attacks/test_account_deletion.py, test_notice_settings.py)."""

from __future__ import annotations

import json
import logging

import pytest
from telegram import Bot

from bot import texts
from bot.fake_telegram import FakeBotAPI, FakeRequest, html_to_plain
from bot.menus import menus, set_profile
from core.authz import OPERATOR
from core.clock import FakeClock
from core.config import Settings
from tests.support.care_steps import confirm_data, preference_rows, up_to_the_confirmation
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.sessions_steps import ADDRESS, credit, login, make_victim, texts_to
from tests.support.steps import add_key, db_rows, events, register

LOGIN_NOTICE = html_to_plain(texts.NOTICE_LOGIN)[:50]


# --- /settings ------------------------------------------------------------------------------


async def test_settings_turns_a_kind_off_and_on_editing_the_message(bot: BotHarness) -> None:
    user = bot.user()
    await register(bot, user)
    (screen,) = await bot.send(user, "/settings")
    assert "⬜ Logins: off" in screen.plain and "✅ Payments: on" in screen.plain
    assert "🔒 a withdrawal requested" in screen.plain
    assert [b.text for b in screen.buttons] == [
        "Logins: ⬜ off",
        "Security changes: ✅ on",
        "Payments: ✅ on",
        "Reminders: ✅ on",
    ]
    replies = await bot.press(user, screen, "Payments: ✅ on")
    assert replies == []  # edited in place, nothing new sent
    assert screen.edits == 1 and "⬜ Payments: off" in screen.plain
    assert bot.api.callback_answers[-1]["text"] == "Saved: Payments off."
    await bot.press(user, screen, "Payments: ⬜ off")
    await bot.press(user, screen, "Logins: ⬜ off")
    assert await preference_rows(bot) == [(1, "logins", 1), (1, "payments", 1)]
    changes = [e.details for e in await events(bot) if e.event_type == "SETTINGS_CHANGED"]
    assert changes[-1] == {"change": "notices", "kind": "logins", "enabled": True}


@pytest.mark.quick_jobs
async def test_login_notices_go_to_the_other_devices_once_turned_on(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock, mfa=False)
    assert "You're logged in" in await login(bot, victim.laptop)  # off by default: silent
    (screen,) = await bot.send(victim.phone, "/settings")
    await bot.press(victim.phone, screen, "Logins: ⬜ off")
    assert "You're logged in" in await login(bot, victim.laptop)
    await bot.wait_for(lambda: any(LOGIN_NOTICE in t for t in texts_to(bot, victim.phone.id)))
    assert sum(LOGIN_NOTICE in t for t in texts_to(bot, victim.phone.id)) == 1
    assert not any(LOGIN_NOTICE in t for t in texts_to(bot, victim.laptop.id))


async def test_a_notice_queued_before_its_kind_was_turned_off_is_held_back(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The outbox asks again at delivery: an API-key notice queued for the phone is given
    up once the owner turns "Security changes" off, before the job sends it."""
    victim = await make_victim(bot, clock, mfa=False)
    await add_key(bot, victim.laptop)
    assert await db_rows(bot, "SELECT event_type, status FROM user_notices") == [
        ("API_KEY_ADDED", "pending")
    ]
    session = await bot.services.sessions.current(victim.phone.id)
    assert session is not None
    await bot.services.preferences.choose(session, "factors", False)
    assert await bot.services.notices.claim_due() == []
    assert await db_rows(bot, "SELECT status, last_error FROM user_notices") == [
        ("failed", "turned off in settings")
    ]


# --- /security ------------------------------------------------------------------------------


async def test_security_checkup_without_2fa_offers_to_enrol(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock, mfa=False)
    (screen,) = await bot.send(victim.phone, "/security")
    assert "⚠️ Two-factor authentication is off" in screen.plain
    assert "⚠️ 2 live sessions" in screen.plain
    assert "Last login from a new Telegram account" in screen.plain and "(…2)" in screen.plain
    assert "✅ No withdrawal waiting." in screen.plain
    labels = [b.text for b in screen.buttons]
    assert labels == ["Enrol 2FA", "Sessions", "Keys", "Activity", "Wallet"]
    (ask,) = await bot.press(victim.phone, screen, "Enrol 2FA")
    assert "send your password" in ask.plain
    await bot.send(victim.phone, "/cancel")
    (sessions,) = await bot.press(victim.phone, screen, "Sessions")
    assert "End all others" in [b.text for b in sessions.buttons]
    (keys,) = await bot.press(victim.phone, screen, "Keys")
    assert "key" in keys.plain.lower()


async def test_security_checkup_with_2fa_counts_codes_and_withdrawals(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock)
    await credit(bot, victim.account_id, 50_000_000)
    await bot.send(victim.phone, f"/withdraw 10 {ADDRESS}")
    await bot.send(victim.phone, victim.code(clock))
    await bot.send(victim.laptop, "/logout")
    (screen,) = await bot.send(victim.phone, "/security")
    assert "✅ Two-factor authentication is on." in screen.plain
    assert "✅ 10 backup codes left." in screen.plain
    assert "✅ 1 live session: this one." in screen.plain
    assert "Withdrawals waiting for an admin: 1" in screen.plain
    assert screen.buttons[0].text == "New backup codes"
    (wallet,) = await bot.press(victim.phone, screen, "Wallet")
    assert "USDT" in wallet.plain


# --- /delete_account --------------------------------------------------------------------------


async def test_delete_account_without_2fa_and_keep_it(bot: BotHarness) -> None:
    user = bot.user()
    await register(bot, user)
    confirmation = await up_to_the_confirmation(bot, user, None)
    (kept,) = await bot.press(user, confirmation, "Keep my account")
    assert "Nothing was deleted" in kept.plain and confirmation.buttons == []
    confirmation = await up_to_the_confirmation(bot, user, None)
    (done,) = await bot.press(user, confirmation, confirm_data(confirmation))
    assert "account is deleted" in done.plain and "other devices" not in done.plain
    [(closed,)] = await db_rows(bot, "SELECT closed_at IS NOT NULL FROM users")
    assert closed == 1
    assert (await bot.services.stats.snapshot(OPERATOR)).users == 0  # /stats: no longer a user
    assert "ACCOUNT_DELETED" in [e.event_type for e in await events(bot)]


def test_privacy_says_what_deletion_does() -> None:
    privacy = texts.PRIVACY_DEFAULT
    assert "/delete_account" in privacy and "placeholder" in privacy
    assert "/paysupport: they remove" not in privacy  # no longer a manual request


# --- the profile set at start-up ------------------------------------------------------------


def test_menus_by_role_and_chat(settings: Settings) -> None:
    scopes = {json.dumps(scope.to_dict(), sort_keys=True): menu for scope, menu in menus(settings)}
    private = [c.command for c in scopes['{"type": "all_private_chats"}']]
    assert {"settings", "security", "delete_account", "sessions"} <= set(private)
    assert "stats" not in private
    admin = json.dumps({"chat_id": ADMIN_ID, "type": "chat"}, sort_keys=True)
    assert {"stats", "settings"} <= {c.command for c in scopes[admin]}
    chat = json.dumps({"chat_id": settings.telegram.admin_chat_id, "type": "chat"}, sort_keys=True)
    assert [c.command for c in scopes[chat]][:2] == ["help", "id"]
    assert "register" not in [c.command for c in scopes[chat]]


async def test_the_profile_meets_telegrams_rules_and_a_refusal_does_not_stop_the_rest(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    api = FakeBotAPI()
    api.fail("setMyDescription", status=400)
    async with Bot("1:fake", request=FakeRequest(api)) as telegram:
        with caplog.at_level(logging.WARNING):
            done = await set_profile(telegram, settings)
    assert "could not set the description" in caplog.text
    assert done == len(menus(settings)) + 2  # the default menu deleted, the short description
    assert api.descriptions == {} and api.short_descriptions[""] == texts.BOT_SHORT_DESCRIPTION
    assert len(texts.BOT_DESCRIPTION) <= 512 and len(texts.BOT_SHORT_DESCRIPTION) <= 120


@pytest.mark.parametrize(
    ("commands", "error"),
    [
        ([{"command": "Start", "description": "x"}], "BOT_COMMAND_INVALID"),
        ([{"command": "a" * 33, "description": "x"}], "BOT_COMMAND_INVALID"),
        ([{"command": "", "description": "x"}], "BOT_COMMAND_INVALID"),
        ([{"command": "a-b", "description": "x"}], "BOT_COMMAND_INVALID"),
        ([{"command": "ok", "description": ""}], "DESCRIPTION_INVALID"),
        ([{"command": "ok", "description": "x" * 257}], "DESCRIPTION_INVALID"),
        ([{"command": f"c{i}", "description": "x"} for i in range(101)], "TOO_MUCH"),
    ],
)
async def test_the_fake_refuses_what_telegram_refuses(commands: list, error: str) -> None:
    api = FakeBotAPI()
    status, body = await api.handle("setMyCommands", {"commands": commands}, {})
    assert status == 400 and error in json.loads(body)["description"]
    assert api.commands == {}
    status, body = await api.handle("setMyDescription", {"description": "x" * 513}, {})
    assert status == 400
    status, body = await api.handle("setMyShortDescription", {"short_description": "x" * 121}, {})
    assert status == 400
    status, _ = await api.handle("setMyShortDescription", {"short_description": "x" * 120}, {})
    assert status == 200
    ok = [{"command": f"c{i}", "description": "x" * 256} for i in range(100)]
    scope = {"type": "chat", "chat_id": 5}
    assert (await api.handle("setMyCommands", {"commands": ok, "scope": scope}, {}))[0] == 200
    status, body = await api.handle("getMyCommands", {"scope": scope}, {})
    assert len(json.loads(body)["result"]) == 100
    status, body = await api.handle(
        "setMyCommands", {"commands": ok, "scope": {"type": "chat"}}, {}
    )
    assert status == 400


async def test_delete_account_names_the_balance_left_in_the_wallet(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock, mfa=False)
    (intro,) = await bot.send(victim.phone, "/delete_account")
    assert "Your wallet holds" not in intro.plain
    await bot.send(victim.phone, "/cancel")
    await credit(bot, victim.account_id, 5_000_000)
    (intro,) = await bot.send(victim.phone, "/delete_account")
    assert "Your wallet holds 5.00 USDT" in intro.plain and "Kept, because" in intro.plain
