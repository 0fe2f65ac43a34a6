"""Notices people expect: backup codes left, the referral confirmed, a restore explained."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.authz import OPERATOR
from core.clock import FakeClock
from core.config import Settings
from tests.support.constants import ADMIN_ID
from tests.support.first_day import clean_env, verzek
from tests.support.harness import BotHarness
from tests.support.services import build_services
from tests.support.signin_steps import turn_on_2fa
from tests.support.steps import EMAIL, OTHER_PASSWORD, db_rows, login_with_code, register

NAME = re.compile(r"verzek-\d{8}T\d{6}Z(?:-\d+)?\.tar\.gz")


@pytest.mark.quick_jobs
async def test_a_backup_code_login_says_how_many_codes_are_left(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    await register(bot, alice)
    totp, codes = await turn_on_2fa(bot, alice, clock)

    done = await login_with_code(bot, alice, codes[0])
    assert "You're logged in" in done and "9 backup codes left." in done
    assert "/backup_codes" not in done  # plenty left: no nagging
    for code in codes[1:8]:
        await login_with_code(bot, alice, code)
    done = await login_with_code(bot, alice, codes[8])
    assert "1 backup code left." in done and "codes left" not in done
    assert "Make a new set soon with /backup_codes" in done
    done = await login_with_code(bot, alice, codes[9])
    assert "That was your last backup code" in done and "/backup_codes" in done

    clock.advance(seconds=30)
    done = await login_with_code(bot, alice, totp.at(clock.now()))
    assert "You're logged in" in done and "backup code" not in done  # the phone: no note


async def test_registration_confirms_the_referral_without_naming_the_referrer(
    bot: BotHarness,
) -> None:
    await register(bot, bot.user(1))
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users")
    done = await register(
        bot, bot.user(2), "bob@example.com", OTHER_PASSWORD, referral=code.lower()
    )
    assert f"You were referred by code {code}." in done
    assert EMAIL not in done and "t***" not in done
    plain = await register(bot, bot.user(3), "carol@example.com", OTHER_PASSWORD)
    assert "referred by" not in plain


@pytest.mark.quick_jobs
async def test_people_logged_out_by_a_restore_are_told_why(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    await register(bot, admin, "admin@example.com")
    totp, _ = await turn_on_2fa(bot, admin, clock)
    await login_with_code(bot, admin, totp.at(clock.now()), "admin@example.com")
    alice, bob, carol = bot.user(1), bot.user(2), bot.user(3)
    await register(bot, alice)
    await register(bot, carol, "carol@example.com", OTHER_PASSWORD)
    await bot.send(carol, "/logout")  # not logged in: nothing to explain to her

    _, done = await bot.send(admin, "/backup")
    found = NAME.search(done.plain)
    assert found is not None
    name = found[0]
    clock.advance(minutes=1)
    await register(bot, bob, "bob@example.com", OTHER_PASSWORD)  # after the backup

    before = {user.id: len(bot.api.sent_to(user.id)) for user in (alice, bob, carol, admin)}
    (confirm,) = await bot.send(admin, f"/restore {name}")
    await bot.press(admin, confirm, "Restore")
    clock.advance(seconds=30)
    await bot.send(admin, totp.at(clock.now()))

    def news(user_id: int) -> list[str]:
        return [m.plain for m in bot.api.sent_to(user_id)[before[user_id] :]]

    # The outbox job tells them (core queued it with the restore).
    await bot.wait_for(lambda: news(alice.id) and news(bob.id))
    for user in (alice, bob):
        [notice] = news(user.id)
        assert "restored the Verzek database from a backup taken" in notice
        assert "Please /login again" in notice and "not in the backup" in notice
    assert news(carol.id) == []
    assert not any("An admin restored" in text for text in news(admin.id))
    # Live in the backup: the admin's and Alice's sessions (Bob came later, Carol had left).
    assert "2 sessions ended, yours included" in news(admin.id)[-1]
    (me,) = await bot.send(alice, "/me")
    assert me.plain == "Please /login first."


@pytest.mark.slow
async def test_a_restore_from_the_command_line_is_explained_when_the_bot_starts(
    bot: BotHarness, settings: Settings, clock: FakeClock, env: dict[str, str], tmp_path: Path
) -> None:
    """`verzek backup restore` runs with the bot stopped: nobody is there to tell people, so
    the notice waits in the restored database and the bot sends it when it starts."""
    clock.set(datetime.now(UTC))  # the command line runs on the real clock: sessions are live
    alice, bob = bot.user(1), bot.user(2)
    await register(bot, alice)
    backup = await bot.services.backups.create(OPERATOR)
    await register(bot, bob, "bob@example.com", OTHER_PASSWORD)  # not in the backup
    await bot.stop()
    await bot.services.aclose()
    before = {user.id: len(bot.api.sent_to(user.id)) for user in (alice, bob)}

    done = verzek(
        "backup",
        "restore",
        backup.name,
        "--yes",
        "--config",
        str(tmp_path / "config.toml"),
        env=clean_env(**env),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout

    services = await build_services(settings, clock)
    fresh = BotHarness(settings, services, bot.api)
    await fresh.start()
    try:

        def news(user_id: int) -> list[str]:
            return [m.plain for m in fresh.api.sent_to(user_id)[before[user_id] :]]

        await fresh.wait_for(lambda: news(alice.id) and news(bob.id))
        for user in (alice, bob):
            [notice] = news(user.id)
            assert "restored the Verzek database from a backup taken" in notice
        # Each notice is marked sent in its own write just after it went out: wait for both.
        deadline = time.monotonic() + 30
        while await services.notices.restore_notices_due():
            assert time.monotonic() < deadline, "a restore notice stayed due after it was sent"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a job run after the marks: told once, not again
        assert [len(news(user.id)) for user in (alice, bob)] == [1, 1]
    finally:
        await fresh.stop()
        await services.aclose()
