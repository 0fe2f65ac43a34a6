"""/killswitch through the real bot: admin-only, 2FA-confirmed, durable, and obeyed."""

from __future__ import annotations

import pyotp
import pytest

from bot.fake_telegram import TelegramUser
from core.audit.log import EventType
from core.authz import OPERATOR
from core.clock import FakeClock
from core.config import Settings
from core.safety.service import Action, Halted, KillSwitchHalts
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.services import build_services
from tests.support.steps import KEY, NEW_PASSWORD, add_key, enable_2fa, events, logged_in

ALICE_EMAIL = "alice@example.com"
HALTED = "Changes to API keys are paused platform-wide"


async def admin_with_2fa(bot: BotHarness, clock: FakeClock) -> tuple[TelegramUser, pyotp.TOTP]:
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    return admin, totp


async def flip(
    bot: BotHarness, admin: TelegramUser, totp: pyotp.TOTP, clock: FakeClock, command: str
) -> str:
    (ask,) = await bot.send(admin, command)
    assert "Send the 6-digit code" in ask.plain, ask.plain
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    assert bot.last_user_message.deleted
    return done.plain


async def test_non_admins_are_refused_and_audited(bot: BotHarness, clock: FakeClock) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice, ALICE_EMAIL, NEW_PASSWORD)
    (reply,) = await bot.send(alice, "/killswitch on because I can")
    assert reply.plain == "Sorry, that command is not available."
    denied = [e for e in await events(bot) if e.event_type == EventType.ADMIN_ACTION]
    assert denied[-1].details["action"] == "/killswitch" and denied[-1].telegram_user_id == 1
    assert not (await bot.services.safety.killswitch()).active
    (help_,) = await bot.send(alice, "/help")
    assert "/killswitch" not in help_.plain and "/apikey_add" in help_.plain


async def test_admin_needs_a_session_with_2fa_and_a_reason(bot: BotHarness) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    (reply,) = await bot.send(admin, "/killswitch on outage")
    assert "Admin actions need your own account with 2FA" in reply.plain
    await logged_in(bot, admin)
    (reply,) = await bot.send(admin, "/killswitch on outage")
    assert "needs your own account logged in with two-factor authentication on" in reply.plain
    (reply,) = await bot.send(admin, "/killswitch on")
    assert "Please give a reason" in reply.plain and "Usage:" in reply.plain
    (status,) = await bot.send(admin, "/killswitch")
    assert "The kill switch is off" in status.plain and "Usage:" in status.plain
    (help_,) = await bot.send(admin, "/help")
    assert "/killswitch" in help_.plain
    # Changing it in a group chat would put the 2FA code there: refused, reading is fine.
    (group,) = await bot.send(admin, "/killswitch on outage", chat_id=ADMIN_CHAT_ID)
    assert "private chat" in group.plain


async def test_on_halts_key_changes_survives_a_restart_then_off(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    admin, totp = await admin_with_2fa(bot, clock)
    alice = bot.user(1)
    await logged_in(bot, alice, ALICE_EMAIL, NEW_PASSWORD)
    await add_key(bot, alice, confirm=NEW_PASSWORD)
    # Alice is half-way through adding a second key when the switch goes on.
    (ask_exchange,) = await bot.send(alice, "/apikey_add")
    await bot.press(alice, ask_exchange, "Bybit")
    await bot.send(alice, "spare")
    await bot.send(alice, KEY[::-1])

    (ask,) = await bot.send(admin, "/killswitch on exchange <outage>")
    assert "Turn the kill switch on?" in ask.plain and "Reason: exchange <outage>" in ask.plain
    (wrong,) = await bot.send(admin, "123456")
    assert "didn't work" in wrong.plain and bot.last_user_message.deleted
    assert not (await bot.services.safety.killswitch()).active
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    assert "The kill switch is now on" in done.plain

    (changed,) = [e for e in await events(bot) if e.event_type == EventType.SETTINGS_CHANGED]
    assert changed.details == {
        "setting": "killswitch",
        "state": "on",
        "reason": "exchange <outage>",
    }
    assert changed.severity == "critical" and changed.telegram_user_id == ADMIN_ID
    (alert,) = [a for a in await bot.services.alerts.recent(OPERATOR) if a.rule == "killswitch"]
    assert alert.evidence["state"] == "on" and alert.audit_event_id == changed.id
    # The outbox job delivers it to the admin chat.
    delivered = await bot.wait_for(
        lambda: [m for m in bot.api.sent_to(ADMIN_CHAT_ID) if "Kill switch changed" in m.plain]
    )
    assert "state: on" in delivered[0].plain and "exchange <outage>" in delivered[0].plain

    # Alice's flow in progress is refused at the end, and nothing is written.
    await bot.send(alice, "Another-Secret-Value-123")
    (refused,) = await bot.send(alice, NEW_PASSWORD)
    assert HALTED in refused.plain and "revoke it on the exchange" in refused.plain
    (refused,) = await bot.send(alice, "/apikey_add")
    assert HALTED in refused.plain
    (refused,) = await bot.send(alice, "/apikey_delete 1")
    assert HALTED in refused.plain
    assert len(await bot.services.apikeys.keys(2)) == 1  # alice is account 2
    (again,) = await bot.send(admin, "/killswitch on twice")
    assert "already on" in again.plain

    # Restart: a new application and new services on the same database.
    await bot.stop()
    await bot.services.aclose()
    services = await build_services(settings, clock)
    restarted = BotHarness(settings, services)
    await restarted.start()
    try:
        (shown,) = await restarted.send(admin, "/killswitch")
        assert "The kill switch is on" in shown.plain
        assert "Reason: exchange <outage>" in shown.plain
        (refused,) = await restarted.send(alice, "/apikey_add")
        assert HALTED in refused.plain
        with pytest.raises(Halted) as halted:
            await services.safety.ensure_allowed("withdrawals")
        assert halted.value.reason == KillSwitchHalts(Action.WITHDRAWALS)

        switched_off = await flip(restarted, admin, totp, clock, "/killswitch off all clear")
        assert "The kill switch is now off" in switched_off
        await services.safety.ensure_allowed("withdrawals")
        (ask_exchange,) = await restarted.send(alice, "/apikey_add")
        assert "which exchange" in ask_exchange.plain
        states = [
            e.details["state"]
            for e in [r async for r in services.audit.export()]
            if e.event_type == EventType.SETTINGS_CHANGED
        ]
        assert states == ["on", "off"]
        recent = await services.alerts.recent(OPERATOR)
        assert [a.evidence["state"] for a in recent if a.rule == "killswitch"] == ["off", "on"]
    finally:
        await restarted.stop()
        await services.aclose()


async def test_ensure_allowed_knows_only_real_actions(services) -> None:
    await services.safety.ensure_allowed("api_keys")
    with pytest.raises(ValueError, match="unknown safety action"):
        await services.safety.ensure_allowed("teleport")
