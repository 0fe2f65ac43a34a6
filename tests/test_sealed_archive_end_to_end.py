"""The nightly archive is sealed, end to end: only the key opens it, an archive from before
sealing needs ``--allow-unsealed`` on the command line, restore trusts nothing inside (a planted
trigger is refused), ``backup create`` without the key refuses before writing anything and a
refusal reaching the command line is printed in words, and an alert delivered before the nightly
backup is not sent again after restoring it.

Issue #18 end to end: the bot runs as it does in production (the real PTB Application against the
fake Bot API, tests/support/running_deployment.py) and the commands run through ``verzek``'s entry
point with the bot stopped, over the same files. The attack variants live in
tests/attacks/test_sealed_backup_tampering.py and test_backup_keys_and_unsealed_archives.py.
"""

from __future__ import annotations

import json
import sqlite3
import tarfile
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from core.audit.log import AuditEvent, EventType, Severity
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.errors import Refusal
from tests.support.backup_steps import (
    member_names,
    open_archive,
    seal_database,
    unsealed_archive,
    write_db,
)
from tests.support.offsite_steps import BUCKET, LocalS3, local_s3
from tests.support.running_deployment import (
    PREFIX,
    SECRET_EMAIL,
    Deployment,
    running_deployment,
    some_history,
    write_config,
)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalS3]:
    yield from local_s3(monkeypatch, tmp_path)


@pytest.fixture
def config(tmp_path: Path, s3: LocalS3) -> Path:
    return write_config(tmp_path, f"s3://{BUCKET}/{PREFIX}", s3.endpoint)


@pytest.fixture
def settings(env: dict[str, str], config: Path) -> Settings:
    return load_settings(config, env)


@pytest.fixture
async def deployment(
    settings: Settings, config: Path, env: dict[str, str], clock: FakeClock
) -> AsyncIterator[Deployment]:
    async with running_deployment(settings, config, env, clock) as running:
        yield running


ALERT = "Admin command by a non-admin"


# The first bytes of a database in an archive: a SQLite file, or pg_dump's custom format.
MAGIC = {False: b"SQLite format 3", True: b"PGDMP"}


# --- Sealed archives ----------------------------------------------------------------------


async def test_the_nightly_archive_is_sealed_and_only_the_key_opens_it(
    deployment: Deployment, capsys, monkeypatch
) -> None:
    await some_history(deployment)
    name = await deployment.nightly()
    path = deployment.settings.backups.dir / name
    raw = path.read_bytes()
    assert SECRET_EMAIL.encode() not in raw
    with tarfile.open(path, "r:gz") as tar:
        names = tar.getnames()
        manifest_member = tar.extractfile("manifest.json")
        assert manifest_member is not None
        manifest_text = manifest_member.read().decode()
        for member in tar.getmembers():
            body = tar.extractfile(member)
            data = body.read() if body is not None else b""
            assert SECRET_EMAIL.encode() not in data, member.name
            assert not data.startswith(MAGIC[deployment.on_postgres()]), "none in the clear"
    assert names == member_names(path) and "manifest.json" in names
    body = json.loads(manifest_text)  # the manifest stays readable, and is MACed
    assert body["database"]["file"].endswith(".age") and len(body["mac"]) == 64
    assert body["row_counts"]["users"] == 1
    # The key opens it (what an operator does with `age -d`): the very database.
    manifest, db = open_archive(deployment.settings, path)
    assert manifest.sealed and db.startswith(MAGIC[deployment.on_postgres()])
    assert SECRET_EMAIL.encode() in db

    # One flipped byte anywhere: verify refuses with the reason, and so would a restore.
    await deployment.stop()
    damaged = bytearray(raw)
    damaged[len(damaged) // 2] ^= 0x01
    path.write_bytes(bytes(damaged))
    code, out, err = await deployment.cli(capsys, monkeypatch, "backup", "verify", name)
    assert code == 1 and "does not verify" in err and "Traceback" not in err
    code, out, err = await deployment.cli(capsys, monkeypatch, "backup", "restore", name, "--yes")
    assert code == 1 and "restore refused" in err
    path.write_bytes(raw)
    code, out, err = await deployment.cli(capsys, monkeypatch, "backup", "verify", name)
    assert code == 0 and "verified: yes" in out, err


@pytest.mark.sqlite_only(
    reason="packs a SQLite file in the format from before sealing, which no PostgreSQL "
    "deployment ever made (storage.snapshot.check_file reads the file for its manifest)"
)
async def test_an_archive_from_before_sealing_needs_allow_unsealed_on_the_command_line(
    deployment: Deployment, capsys, monkeypatch, tmp_path: Path
) -> None:
    name = await deployment.nightly()
    _, db = open_archive(deployment.settings, deployment.settings.backups.dir / name)
    old = unsealed_archive(
        deployment.settings, write_db(db, tmp_path), datetime(2026, 1, 1, tzinfo=UTC)
    )
    await deployment.stop()
    code, _, err = await deployment.cli(capsys, monkeypatch, "backup", "restore", old, "--yes")
    assert code == 1 and "--allow-unsealed" in err
    code, out, err = await deployment.cli(
        capsys, monkeypatch, "backup", "restore", old, "--yes", "--allow-unsealed"
    )
    assert code == 0 and f"restored {old}" in out, err


# --- Restore trusts nothing inside -----------------------------------------------------------


@pytest.mark.sqlite_only(
    reason="plants the trigger in a SQLite file with sqlite3; PostgreSQL's twin is "
    "tests/attacks/test_pg_backup_tampering.py"
)
async def test_a_sealed_archive_of_a_database_with_a_planted_trigger_is_refused(
    deployment: Deployment, capsys, monkeypatch, tmp_path: Path, clock: FakeClock
) -> None:
    """Even sealed with the real key (an insider, or a bug): the schema must equal the
    migrations'."""
    name = await deployment.nightly()
    _, db = open_archive(deployment.settings, deployment.settings.backups.dir / name)
    planted = write_db(db, tmp_path, "planted.db")
    with closing(sqlite3.connect(planted)) as conn:
        conn.execute("CREATE TRIGGER keep_me AFTER INSERT ON audit_events BEGIN SELECT 1; END")
        conn.commit()
    clock.advance(minutes=5)
    forged = seal_database(deployment.settings, planted, clock.now())
    await deployment.stop()
    before = deployment.settings.database.path.read_bytes()
    code, _, err = await deployment.cli(capsys, monkeypatch, "backup", "restore", forged, "--yes")
    assert code == 1 and "restore refused" in err and "trigger" in err.lower(), err
    assert deployment.settings.database.path.read_bytes() == before, "nothing swapped"


# --- One composition root ---------------------------------------------------------------------


async def test_backup_create_without_the_key_refuses_before_writing_anything(
    deployment: Deployment, capsys, monkeypatch
) -> None:
    await deployment.stop()
    rows_before = await deployment.rows("SELECT count(*) FROM audit_events")
    no_key = {k: v for k, v in deployment.env.items() if k != "ENCRYPTION_MASTER_KEY"}
    code, _, err = await deployment.cli(capsys, monkeypatch, "backup", "create", env=no_key)
    assert code == 1 and err.count("verzek:") == 1 and "ENCRYPTION_MASTER_KEY" in err, err
    assert "BackupFailed" not in err and "Traceback" not in err
    folder = deployment.settings.backups.dir
    assert not folder.exists() or not list(folder.iterdir()), "nothing written, not even a temp"
    assert await deployment.rows("SELECT count(*) FROM audit_events") == rows_before


async def test_a_refusal_reaching_the_command_line_is_printed_in_words(capsys, monkeypatch) -> None:
    """Not the reason's repr (``SomeReason(field=…)``): the words the bot would use."""
    import bot.cli as cli
    from core.accounts.refusals import TooManyAccounts

    def refuse(args: object) -> int:
        raise Refusal(TooManyAccounts(3))

    monkeypatch.setattr(cli, "cmd_keygen", refuse)
    code = main(["keygen"])
    err = capsys.readouterr().err
    assert (
        code == 1
        and err.startswith("verzek: ")
        and "TooManyAccounts" not in err
        and "limit=" not in err
    )
    assert "<" not in err and len(err.strip()) > len("verzek: ")


# --- Alerts delivered before a backup are not delivered again after restoring it -----------


async def test_an_alert_delivered_before_the_nightly_backup_is_not_sent_again_after_restoring(
    deployment: Deployment, capsys, monkeypatch
) -> None:
    assert deployment.services is not None
    await deployment.services.audit.record(
        AuditEvent(
            EventType.ADMIN_ACTION,
            Severity.WARNING,
            telegram_user_id=4242,
            details={"action": "/stats", "outcome": "denied", "reason": "not an admin"},
        )
    )
    for _ in range(3):
        await deployment.job("outbox")
    assert sum(ALERT in m.plain for m in deployment.admin_chat()) == 1
    name = await deployment.nightly()
    await deployment.stop()
    code, out, err = await deployment.cli(capsys, monkeypatch, "backup", "restore", name, "--yes")
    assert code == 0, err
    deployment.clock.advance(hours=2)
    await deployment.start()
    for _ in range(3):
        await deployment.job("outbox")
    assert sum(ALERT in m.plain for m in deployment.admin_chat()) == 1, "not sent twice"
    code, out, err = await deployment.cli(capsys, monkeypatch, "audit", "verify")
    assert code == 0 and "audit chain OK" in out, out + err
