"""Security changes as a way in: bind your own 2FA, or change a setting and cash out at once.

Two kinds of attacker. One has only the victim's unlocked phone (a live session, no
password): they try to bind their own authenticator app with /2fa_enroll. The other has a
few minutes with the phone *and* its secrets (the password seen over a shoulder, the
authenticator app on that phone): they turn 2FA off and on with their own app, make new
backup codes, or change the password or email, and withdraw straight away.

Defence: /2fa_enroll shows a secret only after the password (core checks a fresh proof in the
writing transaction); every such change starts a withdrawal cool-down
(``security.withdrawal_cooldown_hours``, checked again in the transaction that holds the
money); the owner's other chats are told of 2FA changes, new codes and every withdrawal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.accounts.cooldown import CoolingDown
from core.accounts.sessions import EndReason, FlowEnded
from core.clock import FakeClock, from_iso
from core.config import Settings, load_settings
from core.money import MICRO
from tests.support.harness import BotHarness
from tests.support.sessions_steps import (
    ADDRESS,
    ATTACKER,
    EMAIL,
    LAPTOP,
    Victim,
    credit,
    enrol,
    login,
    make_victim,
    texts_to,
)
from tests.support.steps import NEW_PASSWORD, PASSWORD, db_rows


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    """The test config, but with the real 24-hour cool-down."""
    config = tmp_path / "config.toml"
    config.write_text(
        "[security]\ncaptcha = false\nwithdrawal_cooldown_hours = 24\n"
        '[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
    )
    return load_settings(config, env)


async def settled(bot: BotHarness, victim: Victim) -> Victim:
    """Setup: the victim's last security change was long ago (2FA enrolled last year)."""
    async with bot.services.uow() as uow:
        await uow.security.record_change(
            victim.account_id, "mfa_enabled", datetime(2025, 1, 1, tzinfo=UTC)
        )
        await uow.commit()
    await credit(bot, victim.account_id, 100 * MICRO)
    return victim


async def nothing_held(bot: BotHarness) -> bool:
    return await db_rows(bot, "SELECT count(*) FROM withdrawals") == [(0,)] and await db_rows(
        bot, "SELECT count(*) FROM wallet_entries WHERE kind = 'withdrawal_hold'"
    ) == [(0,)]


async def laptop_told(bot: BotHarness, words: str) -> None:
    await bot.wait_for(lambda: any(words in text for text in texts_to(bot, LAPTOP)))


async def cooldown_end(bot: BotHarness) -> str:
    [(changed_at,)] = await db_rows(bot, "SELECT changed_at FROM account_security")
    return f"{from_iso(changed_at) + timedelta(hours=24):%Y-%m-%d %H:%M}"


# --- binding your own authenticator ----------------------------------------------------------


@pytest.mark.parametrize(
    "guess",
    ["000000", "wrong password entirely 1", EMAIL, PASSWORD.upper(), PASSWORD + " "],
)
async def test_an_unlocked_phone_cannot_enrol_2fa_without_the_password(
    bot: BotHarness, clock: FakeClock, guess: str
) -> None:
    """The attacker holds the victim's phone (a live session) and sends /2fa_enroll, then
    anything but the password: no QR code or key is ever shown, nothing is stored."""
    victim = await make_victim(bot, clock, mfa=False)
    (ask,) = await bot.send(victim.phone, "/2fa_enroll")
    assert "send your password" in ask.plain and ask.photo is None
    replies = await bot.send(victim.phone, guess)
    assert bot.last_user_message.deleted
    assert "not correct" in replies[-1].plain
    assert all(m.photo is None and "key:" not in m.plain for m in bot.api.sent_to(victim.phone.id))
    assert await db_rows(bot, "SELECT count(*) FROM mfa") == [(0,)]
    # A code sent next is not taken as a step of an enrolment that never started.
    (after,) = await bot.send(victim.phone, "123456")
    assert "Two-factor authentication is on" not in after.plain
    assert await db_rows(bot, "SELECT count(*) FROM mfa") == [(0,)]


async def test_core_refuses_enrolment_without_a_fresh_proof_of_this_session(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Calling core directly: a proof from 6 minutes ago, or one made in another session
    (the laptop's), does not unlock a secret."""
    victim = await make_victim(bot, clock, mfa=False)
    services = bot.services
    phone = await services.sessions.current(victim.phone.id)
    laptop = await services.sessions.current(victim.laptop.id)
    assert phone is not None and laptop is not None
    stale = await services.accounts.reauthenticate(phone, PASSWORD)
    clock.advance(minutes=6)
    with pytest.raises(FlowEnded) as ended:
        await services.twofactor.start_enrollment(phone, stale)
    assert ended.value.reason is EndReason.PROOF_EXPIRED
    phone = await services.sessions.current(victim.phone.id)
    assert phone is not None
    borrowed = await services.accounts.reauthenticate(laptop, PASSWORD)
    with pytest.raises(FlowEnded):
        await services.twofactor.start_enrollment(phone, borrowed)
    assert await db_rows(bot, "SELECT count(*) FROM mfa") == [(0,)]


@pytest.mark.quick_jobs
async def test_a_stolen_password_enrolment_is_announced_and_holds_withdrawals(
    bot: BotHarness, clock: FakeClock
) -> None:
    """With the password (phished), the attacker logs in on their own Telegram and binds
    their own app. They can, but the owner's chats are told at once and the money waits."""
    victim = await settled(bot, await make_victim(bot, clock, mfa=False))
    attacker = bot.user(ATTACKER, "Attacker")
    assert "You're logged in" in await login(bot, attacker)
    _totp, done = await enrol(bot, attacker, clock)
    assert "Two-factor authentication is on" in done
    await laptop_told(bot, "Two-factor authentication was turned on")
    await bot.wait_for(lambda: any("turned on" in t for t in texts_to(bot, victim.phone.id)))

    (refused,) = await bot.send(attacker, f"/withdraw 50 {ADDRESS}")
    assert "Withdrawals are paused until" in refused.plain
    assert await cooldown_end(bot) in refused.plain
    assert await nothing_held(bot)


# --- change something, then cash out ---------------------------------------------------------


async def _disable_then_enrol_own_app(bot: BotHarness, victim: Victim, clock: FakeClock) -> str:
    await bot.send(victim.phone, "/2fa_disable")
    await bot.send(victim.phone, PASSWORD)
    (off,) = await bot.send(victim.phone, victim.code(clock))
    assert "now off" in off.plain
    victim.totp, done = await enrol(bot, victim.phone, clock)
    assert "Two-factor authentication is on" in done
    return "Two-factor authentication was turned off"


async def _change_password(bot: BotHarness, victim: Victim, clock: FakeClock) -> str:
    await bot.send(victim.phone, "/password")
    await bot.send(victim.phone, PASSWORD)
    await bot.send(victim.phone, NEW_PASSWORD)
    (done,) = await bot.send(victim.phone, NEW_PASSWORD)  # typed twice
    assert "changed" in done.plain
    return "password of your Verzek account was changed"


async def _new_backup_codes(bot: BotHarness, victim: Victim, clock: FakeClock) -> str:
    await bot.send(victim.phone, "/backup_codes")
    (done,) = await bot.send(victim.phone, victim.code(clock))
    assert "backup codes" in done.plain.lower()
    return "New backup codes were made"


async def _change_email(bot: BotHarness, victim: Victim, clock: FakeClock) -> str:
    await bot.send(victim.phone, "/email")
    await bot.send(victim.phone, PASSWORD)
    (done,) = await bot.send(victim.phone, "attacker@evil.example")
    assert "attacker@evil.example" in done.plain
    return "email address of your Verzek account was changed"


CHANGES: dict[str, Callable[[BotHarness, Victim, FakeClock], Awaitable[str]]] = {
    "2FA off, then on with the attacker's own app": _disable_then_enrol_own_app,
    "password changed": _change_password,
    "new backup codes": _new_backup_codes,
    "email changed": _change_email,
}


@pytest.mark.quick_jobs
@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_security_change_then_an_immediate_withdrawal_is_refused_and_announced(
    bot: BotHarness, clock: FakeClock, change: str
) -> None:
    """Five minutes with the unlocked phone (password and authenticator included): change
    something, then /withdraw everything. Refused with the time the cool-down ends, nothing
    held, and the owner's laptop hears of the change."""
    victim = await settled(bot, await make_victim(bot, clock))
    told = await CHANGES[change](bot, victim, clock)

    (refused,) = await bot.send(victim.phone, f"/withdraw 100 {ADDRESS}")
    assert "Withdrawals are paused until" in refused.plain, refused.plain
    assert await cooldown_end(bot) in refused.plain
    assert await nothing_held(bot)
    await laptop_told(bot, told)


async def test_the_cooldown_is_checked_again_when_the_money_is_held(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The attacker starts /withdraw before the change (so the first check passes), makes
    new backup codes in another chat, then sends the code: refused in the holding step."""
    victim = await settled(bot, await make_victim(bot, clock))
    (ask,) = await bot.send(victim.phone, f"/withdraw 100 {ADDRESS}")
    assert "Send the 6-digit code" in ask.plain
    await bot.send(victim.laptop, "/backup_codes")
    await bot.send(victim.laptop, victim.code(clock))
    # (The phone may also get the owner notice about the laptop's new codes meanwhile.)
    replies = await bot.send(victim.phone, victim.code(clock))
    assert any("Withdrawals are paused until" in m.plain for m in replies)
    assert await nothing_held(bot)


async def test_core_holds_nothing_during_the_cooldown(bot: BotHarness, clock: FakeClock) -> None:
    """Straight to core with a valid draft and code: CoolingDown, with when it ends."""
    victim = await settled(bot, await make_victim(bot, clock))
    services = bot.services
    session = await services.sessions.current(victim.phone.id)
    assert session is not None
    draft = await services.withdrawals.prepare(session, "10", ADDRESS)
    async with services.uow() as uow:
        await uow.security.record_change(victim.account_id, "email_changed", clock.now())
        await uow.commit()
    with pytest.raises(CoolingDown) as refused:
        await services.withdrawals.request(session, draft, victim.code(clock))
    assert refused.value.until > clock.now() + timedelta(hours=23)
    assert await nothing_held(bot)


@pytest.mark.quick_jobs
async def test_after_the_cooldown_a_withdrawal_goes_through_and_the_owner_is_told(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Every withdrawal request is announced to the owner's other chats, cool-down or not."""
    victim = await settled(bot, await make_victim(bot, clock))
    await _new_backup_codes(bot, victim, clock)
    clock.advance(hours=24, minutes=1)
    for device in (victim.phone, victim.laptop):
        # The owner's notice about the new codes may come with the login's replies, in any order.
        since = len(bot.api.sent_to(device.id))
        await login(bot, device)
        assert any("Two-factor" in text for text in texts_to(bot, device.id, since))
        await bot.send(device, victim.code(clock))
    (ask,) = await bot.send(victim.phone, f"/withdraw 10 {ADDRESS}")
    assert "Send the 6-digit code" in ask.plain
    (done,) = await bot.send(victim.phone, victim.code(clock))
    assert "#1" in done.plain
    await laptop_told(bot, "A withdrawal of 10")
    assert await db_rows(bot, "SELECT count(*) FROM withdrawals") == [(1,)]
