"""Two-factor authentication, exercised the way a phone would: scan the QR the bot sent."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from core.accounts.refusals import SecondFactorNeeded
from core.audit.log import EventType
from core.clock import FakeClock
from core.crypto import generate_master_key
from core.errors import Refusal
from core.twofactor.refusals import CodeWrong
from tests.support.harness import BotHarness
from tests.support.steps import (
    CODE_RE,
    EMAIL,
    PASSWORD,
    db_rows,
    enable_2fa,
    events,
    login,
    login_with_code,
    register,
)


async def test_enrol_by_scanning_then_log_in_with_the_phone_code(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    totp, _ = await enable_2fa(bot, alice, clock)
    (me,) = await bot.send(alice, "/me")
    assert "Two-factor authentication: on" in me.plain and "10 backup codes" in me.plain
    (status,) = await bot.send(alice, "/2fa")
    assert "is on" in status.plain and [b.text for b in status.buttons] == [
        "New backup codes",
        "Turn off",
    ]
    await bot.send(alice, "/logout")
    clock.advance(seconds=30)
    reply = await login_with_code(bot, alice, totp.at(clock.now()))
    assert "You're logged in" in reply
    kinds = [e.event_type for e in await events(bot)]
    assert EventType.MFA_ENABLED in kinds and kinds[-2:] == ["MFA_VERIFIED", "LOGIN_SUCCESS"]


async def test_wrong_first_code_keeps_2fa_off(bot: BotHarness, clock: FakeClock) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/2fa_enroll")
    await bot.send(alice, PASSWORD)
    (reply,) = await bot.send(alice, "000000")
    assert "didn't match" in reply.plain
    await bot.send(alice, "/cancel")
    assert [m.deleted for m in bot.api.sent_to(1) if m.photo] == [True]
    (me,) = await bot.send(alice, "/me")
    assert "Two-factor authentication: off" in me.plain


async def test_enrolment_messages_are_deleted_on_timeout(bot: BotHarness) -> None:
    from telegram.ext import ConversationHandler

    flow = next(
        h
        for h in bot.app.handlers[0]
        if isinstance(h, ConversationHandler) and h.name == "2fa_enroll"
    )
    object.__setattr__(flow, "_conversation_timeout", 0.3)
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/2fa_enroll")
    photo, manual, _ = await bot.send(alice, PASSWORD)
    await bot.wait_for(lambda: photo.deleted and manual.deleted)
    assert "took longer than 5 minutes" in bot.api.sent_to(1)[-1].plain


async def test_a_used_code_is_refused_as_a_replay_and_audited(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    totp, _ = await enable_2fa(bot, alice, clock)
    await bot.send(alice, "/logout")
    clock.advance(seconds=30)
    code = totp.at(clock.now())
    assert "You're logged in" in await login_with_code(bot, alice, code)
    await bot.send(alice, "/logout")
    replay = await login_with_code(bot, alice, code)
    assert "already used" in replay
    # An older code (the step before) is refused the same way, even inside the skew window.
    (older,) = await bot.send(alice, totp.at(clock.now(), counter_offset=-1))
    assert "already used" in older.plain
    failed = [e for e in await events(bot) if e.event_type == EventType.MFA_FAILED]
    assert [e.details["reason"] for e in failed] == ["replay", "replay"]
    assert failed[0].severity == "critical" and failed[0].account_id == 1


async def test_five_wrong_codes_block_code_entry_for_five_minutes(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    totp, _ = await enable_2fa(bot, alice, clock)
    await bot.send(alice, "/logout")
    await login(bot, alice)
    for _ in range(5):
        (reply,) = await bot.send(alice, "123456")
        assert "didn't work" in reply.plain
    clock.advance(seconds=30)
    (blocked,) = await bot.send(alice, totp.at(clock.now()))
    assert "Too many wrong codes" in blocked.plain and "5 minutes" in blocked.plain
    clock.advance(minutes=5)
    assert "You're logged in" in await login_with_code(bot, alice, totp.at(clock.now()))


@pytest.mark.quick_jobs
async def test_backup_codes_work_once_and_regeneration_voids_them(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    totp, codes = await enable_2fa(bot, alice, clock)
    await bot.send(alice, "/logout")
    assert "You're logged in" in await login_with_code(bot, alice, codes[0].lower())
    await bot.send(alice, "/logout")
    assert "didn't work" in await login_with_code(bot, alice, codes[0])
    (ok,) = await bot.send(alice, codes[1].replace("-", ""))
    assert "You're logged in" in ok.plain
    (me,) = await bot.send(alice, "/me")
    assert "8 backup codes" in me.plain

    await bot.send(alice, "/backup_codes")
    clock.advance(seconds=30)
    (fresh,) = await bot.send(alice, totp.at(clock.now()))
    new_codes = CODE_RE.findall(fresh.plain)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    await bot.send(alice, "/logout")
    assert "didn't work" in await login_with_code(bot, alice, codes[2])
    (ok,) = await bot.send(alice, new_codes[0])
    assert "You're logged in" in ok.plain


@pytest.mark.quick_jobs
async def test_disable_needs_password_and_code_and_ends_other_sessions(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice, tablet = bot.user(1), bot.user(2)
    totp, _ = await enable_2fa(bot, alice, clock)
    clock.advance(seconds=30)
    assert "You're logged in" in await login_with_code(bot, tablet, totp.at(clock.now()))

    (status,) = await bot.send(alice, "/2fa")
    (ask_password,) = await bot.press(alice, status, "Turn off")
    assert "send your password" in ask_password.plain
    await bot.send(alice, PASSWORD)
    assert bot.last_user_message.deleted
    before = len(bot.api.sent_to(2))
    clock.advance(seconds=30)
    (done,) = await bot.send(alice, totp.at(clock.now()))
    assert "now off" in done.plain and bot.last_user_message.deleted
    # The tablet hears of it from the owner-notice outbox (core/audit/notices.py).
    await bot.wait_for(lambda: any("turned off" in m.plain for m in bot.api.sent_to(2)[before:]))
    (tablet_me,) = await bot.send(tablet, "/me")
    assert tablet_me.plain == "Please /login first."
    assert EventType.MFA_DISABLED in [e.event_type for e in await events(bot)]
    await bot.send(alice, "/logout")
    assert "You're logged in" in await login(bot, alice)


async def test_clock_skew_of_one_step_is_accepted_three_is_not(services, clock) -> None:
    from core.twofactor.service import SecondFactorProof

    accounts, mfa = services.accounts, services.twofactor
    await accounts.register(
        email=EMAIL,
        password_hash=await accounts.passwords.hash(PASSWORD),
        referral_code=None,
        telegram_user_id=1,
    )
    attempt = await accounts.check_credentials(EMAIL, PASSWORD, 1)
    session = (await accounts.complete_login(attempt, 1)).session
    proof = await accounts.reauthenticate(session, PASSWORD)
    enrollment = await mfa.start_enrollment(session, proof)
    totp = pyotp.TOTP(enrollment.secret)
    await mfa.confirm_enrollment(session, proof, totp.at(clock.now()))

    clock.advance(minutes=10)
    phone_behind = totp.at(clock.now().timestamp() - 30)
    assert isinstance(await mfa.verify(1, 1, phone_behind, purpose="t"), SecondFactorProof)
    clock.advance(minutes=10)
    phone_ahead = totp.at(clock.now().timestamp() + 30)
    assert await mfa.verify(1, 1, phone_ahead, purpose="t")
    clock.advance(minutes=10)
    for skew in (-90, 90):
        with pytest.raises(Refusal) as refused:
            await mfa.verify(1, 1, totp.at(clock.now().timestamp() + skew), purpose="t")
        assert refused.value.reason == CodeWrong()

    # Without the second factor, a login of a 2FA account cannot be completed in core.
    attempt = await accounts.check_credentials(EMAIL, PASSWORD, 1)
    assert attempt.mfa_required
    with pytest.raises(Refusal) as refused:
        await accounts.complete_login(attempt, 1)
    assert refused.value.reason == SecondFactorNeeded()


async def test_database_file_holds_no_secret_or_backup_code(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    totp, codes = await enable_2fa(bot, alice, clock)
    path: Path = bot.settings.database.path
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert totp.secret.encode() not in raw
    for code in codes:
        assert code.replace("-", "").encode() not in raw
        assert code.encode() not in raw
    [(stored,)] = await db_rows(bot, "SELECT secret_enc FROM mfa")
    assert totp.secret not in stored


async def test_rotated_key_still_opens_totp_secrets(
    bot: BotHarness, clock: FakeClock, monkeypatch
) -> None:
    import asyncio

    from bot.cli import main
    from core.config import EncryptionSettings, Secret
    from core.crypto import EncryptionService

    alice = bot.user(1)
    totp, _ = await enable_2fa(bot, alice, clock)
    assert bot.settings.encryption.master_key is not None
    old = bot.settings.encryption.master_key.get()
    new = generate_master_key()
    monkeypatch.setenv("VERZEK_DB", str(bot.settings.database.path))
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", new)
    monkeypatch.setenv("ENCRYPTION_OLD_KEYS", old)
    assert await asyncio.to_thread(main, ["rotate-key"]) == 0
    [(token,)] = await db_rows(bot, "SELECT secret_enc FROM mfa")
    only_new = EncryptionService(EncryptionSettings(Secret(new)))
    assert only_new.decrypt(token, owner=1, purpose="totp") == totp.secret
