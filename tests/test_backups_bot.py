"""Backups through the real bot (/backup, /backups, /restore), the nightly job and the CLI."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import UTC
from pathlib import Path

import pytest
from telegram.ext import CallbackContext

from bot import texts
from bot.cli import main
from bot.jobs.backups import JOB_NAME, nightly_backup
from core.audit.log import EventType
from core.authz import OPERATOR
from core.clock import FakeClock
from core.config import Settings, load_settings
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.steps import db_rows, enable_2fa, events, login, register

NAME = re.compile(r"verzek-\d{8}T\d{6}Z(?:-\d+)?\.tar\.gz")


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\nhour_utc = 3\n'
    )
    return load_settings(config, env)


def admin_chat(bot: BotHarness) -> list[str]:
    return bot.texts(ADMIN_CHAT_ID)


async def backup_now(bot: BotHarness, admin) -> str:
    started, done = await bot.send(admin, "/backup")
    assert "Backing up" in started.plain
    assert "written and verified" in done.plain, done.plain
    found = NAME.search(done.plain)
    assert found is not None
    return found[0]


async def test_backup_list_and_restore_with_button_and_2fa_code(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    name = await backup_now(bot, admin)
    assert [e.event_type for e in await events(bot)][-1] == EventType.BACKUP_CREATED

    clock.advance(minutes=1)
    bob = bot.user(2002, "Bob")
    await register(bot, bob, email="bob@example.com")
    (listing,) = await bot.send(admin, "/backups")
    assert name in listing.plain and "verifies" in listing.plain
    assert "users 1" in listing.plain and "UTC" in listing.plain and " kB" in listing.plain

    (confirm,) = await bot.send(admin, f"/restore {name}")
    assert f"Restore {name}?" in confirm.plain and "safety backup" in confirm.plain
    assert "logs in again" in confirm.plain
    assert [b.callback_data for b in confirm.buttons] == ["adm:restore:go", "adm:restore:cancel"]
    (ask,) = await bot.press(admin, confirm, "Restore")
    assert "6-digit code" in ask.plain and not confirm.buttons

    clock.advance(seconds=30)
    replies = await bot.send(admin, totp.at(clock.now()))
    assert bot.last_user_message.deleted, "the 2FA code must not stay in the chat"
    assert "I deleted your message" in replies[0].plain
    done = replies[-1].plain
    assert f"Restored {name}" in done and "please /login again" in done
    safety = NAME.findall(done)[-1]
    assert safety != name
    assert f"Database restored from {name}" in admin_chat(bot)[-1]

    # The data is that of backup time: Bob's account is gone, the admin must log in again.
    assert [row[0] for row in await db_rows(bot, "SELECT email FROM users")] == [
        "trader@example.com"
    ]
    (me,) = await bot.send(admin, "/me")
    assert me.plain == texts.LOGIN_FIRST
    kinds = [e.event_type for e in await events(bot)]
    assert kinds[-2:] == [EventType.BACKUP_CREATED, EventType.BACKUP_RESTORED]
    restored = (await events(bot))[-1]
    assert restored.telegram_user_id == ADMIN_ID and restored.details["archive"] == name
    assert restored.details["safety_backup"] == safety
    assert (await bot.services.audit.verify()).ok
    # Logging in again works on the restored database (with the backup-time 2FA).
    clock.advance(seconds=30)
    assert "Two-factor authentication is on" in await login(bot, admin)
    (welcome,) = await bot.send(admin, totp.at(clock.now()))
    assert "You're logged in" in welcome.plain


async def test_non_admins_are_refused_every_backup_command_and_button(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    await enable_2fa(bot, admin, clock)
    name = await backup_now(bot, admin)
    (confirm,) = await bot.send(admin, f"/restore {name}")

    mallory = bot.user(666, "Mallory")
    for command in ("/backup", "/backups", f"/restore {name}"):
        (reply,) = await bot.send(mallory, command)
        assert reply.plain == texts.NOT_ALLOWED
    assert await bot.press_data(mallory, confirm, "adm:restore:go") == []
    assert bot.api.callback_answers[-1]["text"] == texts.NOT_ALLOWED
    denied = [e for e in await events(bot) if e.event_type == EventType.ADMIN_ACTION]
    assert [e.details["action"] for e in denied] == [
        "/backup",
        "/backups",
        "/restore",
        "admin button",
    ]
    assert len(list(bot.services.backups.directory.glob("verzek-*"))) == 1


async def test_admin_actions_need_a_session_with_2fa(bot: BotHarness) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    (reply,) = await bot.send(admin, "/backup")
    assert "Admin actions need your own account with 2FA" in reply.plain
    await register(bot, admin)
    await login(bot, admin)
    (reply,) = await bot.send(admin, "/backup")
    assert reply.plain == texts.ADMIN_NEEDS_2FA
    (reply,) = await bot.send(admin, "/restore verzek-20260101T000000Z.tar.gz")
    assert reply.plain == texts.ADMIN_NEEDS_2FA
    assert not bot.services.backups.directory.exists()


async def test_cancel_wrong_code_bad_names_and_group_chats_change_nothing(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    name = await backup_now(bot, admin)

    (confirm,) = await bot.send(admin, f"/restore {name}")
    (reply,) = await bot.press(admin, confirm, "Cancel")
    assert reply.plain == texts.RESTORE_CANCELLED

    (confirm,) = await bot.send(admin, f"/restore {name}")
    await bot.press(admin, confirm, "Restore")
    (wrong,) = await bot.send(admin, "000000")
    assert "didn't work" in wrong.plain
    (reply,) = await bot.send(admin, "/cancel")
    assert reply.plain == texts.CANCELLED

    (confirm,) = await bot.send(admin, f"/restore {name}")
    await bot.press(admin, confirm, "Restore")
    clock.advance(minutes=31)  # the session idles out before the code arrives
    (reply,) = await bot.send(admin, totp.at(clock.now()))
    assert "This step ended because your session expired" in reply.plain
    assert bot.last_user_message.deleted

    await login(bot, admin)
    clock.advance(seconds=30)
    await bot.send(admin, totp.at(clock.now()))
    for bad in ("../verzek.db", "/etc/passwd", "verzek-20990101T000000Z.tar.gz"):
        (reply,) = await bot.send(admin, f"/restore {bad}")
        assert "Restore refused" in reply.plain and "not changed" in reply.plain
    (reply,) = await bot.send(admin, "/restore")  # bare: the archives as buttons
    assert (reply.text or "").startswith(texts.PICK_RESTORE) and reply.buttons
    (reply,) = await bot.send(admin, "/restore a b")
    assert reply.text == texts.RESTORE_USAGE
    (reply,) = await bot.send(admin, f"/restore {name}", chat_id=ADMIN_CHAT_ID)
    assert reply.plain == texts.RESTORE_PRIVATE_ONLY
    kinds = [e.event_type for e in await events(bot)]
    assert EventType.BACKUP_RESTORED not in kinds


async def test_a_corrupt_archive_is_refused_in_the_bot_with_the_reason(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    name = await backup_now(bot, admin)
    path = bot.services.backups.directory / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    (listing,) = await bot.send(admin, "/backups")
    assert "does NOT verify" in listing.plain

    (confirm,) = await bot.send(admin, f"/restore {name}")
    await bot.press(admin, confirm, "Restore")
    clock.advance(seconds=30)
    replies = await bot.send(admin, totp.at(clock.now()))
    assert "Restore refused" in replies[-1].plain
    assert re.search("damaged|checksum", replies[-1].plain)
    assert "current database was not changed" in replies[-1].plain
    (me,) = await bot.send(admin, "/me")
    assert "Your account" in me.plain, "still logged in: nothing was replaced"


async def test_a_failed_backup_alerts_the_admin_chat(bot: BotHarness, clock: FakeClock) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    await enable_2fa(bot, admin, clock)
    bot.services.backups.directory.parent.mkdir(parents=True, exist_ok=True)
    bot.services.backups.directory.write_text("a file where the folder should be")
    _started, failed = await bot.send(admin, "/backup")
    assert "The backup failed" in failed.plain and "file error" in failed.plain
    assert "Backup requested by admin 9001 failed" in admin_chat(bot)[-1]


def job_context(bot: BotHarness) -> CallbackContext:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
    return CallbackContext.from_job(job, bot.app)


async def test_nightly_job_runs_at_the_configured_hour_backs_up_and_prunes(
    bot: BotHarness, clock: FakeClock, settings: Settings
) -> None:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
    due = job.next_t
    assert due is not None and due.astimezone(UTC).hour == settings.backups.hour_utc == 3
    assert (due.minute, due.second) == (0, 0)

    old = await bot.services.backups.create(OPERATOR)
    clock.advance(days=31)
    await nightly_job(bot)
    names = sorted(p.name for p in bot.services.backups.directory.glob("verzek-*"))
    assert len(names) == 1 and names[0] != old.name
    assert (await bot.services.backups.peek(OPERATOR, names[0])).reason == "nightly"

    bot.services.backups.directory.rename(bot.services.backups.directory.with_name("moved"))
    bot.services.backups.directory.write_text("not a folder")
    await nightly_job(bot)
    await bot.wait_for(lambda: admin_chat(bot))
    assert "Nightly backup failed" in admin_chat(bot)[-1]


async def nightly_job(bot: BotHarness) -> None:
    await nightly_backup(job_context(bot))


# --- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, master_key: str):
    config = tmp_path / "config.toml"
    config.write_text(f'[backups]\ndir = "{tmp_path / "backups"}"\n')
    db = tmp_path / "data" / "verzek.db"
    monkeypatch.setenv("VERZEK_DB", str(db))
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", master_key)

    def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        code = main([*argv[:2], *argv[2:], "--config", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    return run, db


def users(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT email FROM users ORDER BY id")]


def add_user(db: Path, email: str) -> None:
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute(
            "INSERT INTO users (email, password_hash, referral_code, created_at) "
            "VALUES (?, 'x', ?, '2026-01-01T00:00:00.000000Z')",
            (email, email[:8]),
        )


def test_cli_create_list_verify_restore(cli, capsys: pytest.CaptureFixture[str]) -> None:
    run, db = cli
    code, _, err = run(capsys, "backup", "create")
    assert code == 1 and err.startswith("verzek: there is no database")
    assert main(["migrate"]) == 0
    capsys.readouterr()
    add_user(db, "alice@example.com")

    code, out, err = run(capsys, "backup", "create")
    assert code == 0, err
    found = NAME.search(out)
    assert found is not None
    name = found[0]
    assert "taking a consistent snapshot" in err and "verifying" in err
    code, out, _ = run(capsys, "backup", "list")
    assert code == 0 and name in out and "verified: yes" in out and "users=1" in out
    code, out, _ = run(capsys, "backup", "verify", name)
    assert code == 0 and "verified: yes" in out

    add_user(db, "bob@example.com")
    code, _, err = run(capsys, "backup", "restore", name)
    assert code == 1 and "add --yes" in err and len(users(db)) == 2
    code, out, err = run(capsys, "backup", "restore", name, "--yes")
    assert code == 0, err
    assert users(db) == ["alice@example.com"]
    assert "safety backup of the replaced data: verzek-" in out
    assert "putting" in err and "reopening" in err
    with closing(sqlite3.connect(db)) as conn:
        (kind,) = conn.execute("SELECT event_type FROM audit_events ORDER BY id DESC").fetchone()
    assert kind == "BACKUP_RESTORED"

    code, _, err = run(capsys, "backup", "restore", "../../etc/passwd", "--yes")
    assert code == 1 and err.count("\n") == 1 and "is not a backup name" in err
    assert "Traceback" not in err


def test_cli_refuses_corrupt_archives_and_a_running_bot(
    cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run, db = cli
    assert main(["migrate"]) == 0
    add_user(db, "alice@example.com")
    code, out, _ = run(capsys, "backup", "create")
    found = NAME.search(out)
    assert found is not None
    name = found[0]
    add_user(db, "bob@example.com")

    with closing(sqlite3.connect(db)) as bot_process:
        bot_process.execute("SELECT 1 FROM users").fetchone()
        code, _, err = run(capsys, "backup", "restore", name, "--yes")
    assert code == 1 and "in use by another process" in err and "Nothing was changed" in err
    assert len(users(db)) == 2

    archive = tmp_path / "backups" / name
    archive.write_bytes(archive.read_bytes()[:300])
    code, out, err = run(capsys, "backup", "verify", name)
    assert code == 1 and "does not verify" in err and "verified: NO" in out
    code, _, err = run(capsys, "backup", "restore", name, "--yes")
    assert code == 1 and "damaged or truncated" in err and len(users(db)) == 2


def test_cli_restores_over_a_damaged_database(
    cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run, db = cli
    assert main(["migrate"]) == 0
    add_user(db, "alice@example.com")
    _, out, _ = run(capsys, "backup", "create")
    found = NAME.search(out)
    assert found is not None
    name = found[0]
    db.write_bytes(b"this is no longer a database" * 200)
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)

    code, out, err = run(capsys, "backup", "restore", name, "--yes")
    assert code == 0, err
    assert users(db) == ["alice@example.com"]
    assert "cannot be opened" in err
    safety = re.findall(NAME, out)[-1]
    code, out, _ = run(capsys, "backup", "verify", safety)
    assert code == 1 and "verified: NO" in out, "the damaged bytes are kept, as they were"
