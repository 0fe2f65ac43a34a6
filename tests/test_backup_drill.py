"""The restore drill (SPEC §8a) and the command line's --allow-unsealed."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import UTC
from pathlib import Path

import pytest
from telegram.ext import CallbackContext

from bot.cli import main
from bot.jobs.backups import DRILL_JOB_NAME, restore_drill
from core.authz import OPERATOR
from core.backups.archive_rules import BackupError, parse_name
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.services import Services
from tests.support.backup_steps import open_archive, unsealed_archive, write_db
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness

NAME = re.compile(r"verzek-\d{8}T\d{6}Z(?:-\d+)?\.tar\.gz")


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\nhour_utc = 3\ndrill_days = 30\n'
    )
    return load_settings(config, env)


async def test_the_drill_restores_the_newest_archive_without_swapping(
    services: Services, clock: FakeClock
) -> None:
    with pytest.raises(BackupError, match="no backup"):
        await services.backups.drill(OPERATOR)
    assert await services.backups.drill_due(OPERATOR)
    await services.backups.create(OPERATOR)
    clock.advance(seconds=5)
    newest = await services.backups.create(OPERATOR)
    db = services.settings.database.path
    before = db.read_bytes()
    result = await services.backups.drill(OPERATOR)
    assert result.passed and result.info.name == newest.name
    assert result.info.manifest is not None and result.info.manifest.row_counts["audit_events"]
    assert db.read_bytes() == before, "nothing was swapped"
    assert not [p for p in services.backups.directory.iterdir() if p.name.endswith(".tmp")]
    assert not await services.backups.drill_due(OPERATOR)
    clock.advance(days=30)
    assert await services.backups.drill_due(OPERATOR)

    # The newest archive damaged: the drill fails and says why.
    path = services.backups.directory / newest.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    failed = await services.backups.drill(OPERATOR)
    assert not failed.passed and failed.info.problem


def drill_context(bot: BotHarness) -> CallbackContext:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(DRILL_JOB_NAME)
    due = job.next_t
    assert due is not None and due.astimezone(UTC).hour == 4, "an hour after the backup"
    return CallbackContext.from_job(job, bot.app)


async def test_the_drill_job_reports_to_the_admin_chat_when_due(
    bot: BotHarness, clock: FakeClock
) -> None:
    context = drill_context(bot)
    await restore_drill(context)
    await bot.wait_for(lambda: bot.texts(ADMIN_CHAT_ID))
    assert "Restore drill failed" in bot.texts(ADMIN_CHAT_ID)[-1]
    assert "no backup" in bot.texts(ADMIN_CHAT_ID)[-1]

    info = await bot.services.backups.create(OPERATOR)
    await restore_drill(context)
    await bot.wait_for(lambda: len(bot.texts(ADMIN_CHAT_ID)) == 2)
    passed = bot.texts(ADMIN_CHAT_ID)[-1]
    assert "Restore drill passed" in passed and info.name in passed
    assert "audit_events" in passed and " rows in " in passed

    await restore_drill(context)  # not due again for 30 days
    await bot.settle()
    assert len(bot.texts(ADMIN_CHAT_ID)) == 2
    clock.advance(days=30)
    path = bot.services.backups.directory / info.name
    path.write_bytes(path.read_bytes()[:-2000])
    await restore_drill(context)
    await bot.wait_for(lambda: len(bot.texts(ADMIN_CHAT_ID)) == 3)
    assert "Restore drill failed" in bot.texts(ADMIN_CHAT_ID)[-1]
    assert info.name in bot.texts(ADMIN_CHAT_ID)[-1]


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

    return (
        run,
        db,
        load_settings(config, {"VERZEK_DB": str(db), "ENCRYPTION_MASTER_KEY": master_key}),
    )


def emails(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT email FROM users ORDER BY id")]


def test_cli_drill_and_allow_unsealed(
    cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run, db, settings = cli
    code, _, err = run(capsys, "backup", "drill")
    assert code == 1 and "restore drill failed" in err and "no backup" in err
    assert main(["migrate"]) == 0
    capsys.readouterr()
    code, out, err = run(capsys, "backup", "create")
    assert code == 0, err
    found = NAME.search(out)
    assert found is not None
    code, out, err = run(capsys, "backup", "drill")
    assert code == 0, err
    assert "restore drill passed" in out and found[0] in out

    # An archive from before sealing: refused, unless the operator vouches for it.
    _, old_db = open_archive(settings, settings.backups.dir / found[0])
    from datetime import datetime

    old = unsealed_archive(settings, write_db(old_db, tmp_path), datetime(2026, 1, 1, tzinfo=UTC))
    code, out, err = run(capsys, "backup", "verify", old)
    assert code == 1 and "not sealed" in err and "--allow-unsealed" in err
    code, _, err = run(capsys, "backup", "restore", old, "--yes")
    assert code == 1 and "restore refused" in err and "--allow-unsealed" in err
    assert "Traceback" not in err and err.count("verzek:") == 1
    code, out, err = run(capsys, "backup", "verify", old, "--allow-unsealed")
    assert code == 0 and "verified: yes" in out and "not sealed" in err
    code, out, err = run(capsys, "backup", "restore", old, "--yes", "--allow-unsealed")
    assert code == 0, err
    assert emails(db) == []

    # The newest archive damaged: the drill exits non-zero with the reason.
    newest = max(settings.backups.dir.glob("verzek-*.tar.gz"), key=lambda p: parse_name(p.name))
    newest.write_bytes(newest.read_bytes()[:-3000])
    code, out, err = run(capsys, "backup", "drill")
    assert code == 1 and "restore drill failed" in err


def test_cli_backup_without_the_master_key_is_refused_in_one_line(
    cli, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, db, _ = cli
    assert main(["migrate"]) == 0
    capsys.readouterr()
    monkeypatch.delenv("ENCRYPTION_MASTER_KEY")
    code, _, err = run(capsys, "backup", "create")
    assert code == 1 and "no key to seal or open backups" in err and "ENCRYPTION_MASTER_KEY" in err
    assert err.count("verzek:") == 1 and "BackupFailed" not in err
    assert not list((db.parent.parent / "backups").glob("verzek-*")), "nothing written"
