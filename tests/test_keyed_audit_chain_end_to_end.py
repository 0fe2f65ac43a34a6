"""The audit chain is keyed and anchored, end to end: each backup is anchored, posted and pinned
and ``audit verify`` prints it, re-chaining an edited row without the key is detected, putting
last night's database back by hand is a rollback while restoring it is not, an archive from
before keying restores and is keyed on top, and a key rotation keeps old archives and rows and is
itself chained and alerted.

Issue #18 end to end: the bot runs as it does in production (the real PTB Application against the
fake Bot API, tests/support/running_deployment.py) and the commands run through ``verzek``'s entry
point with the bot stopped, over the same files. The attack variants live in
tests/attacks/test_audit_evidence.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

import storage.migrator as migrator
from bot.jobs.anchors import JOB_NAME as ANCHOR_JOB
from core.audit.chain import GENESIS_HASH, legacy_hash
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.crypto import generate_master_key
from storage.audit_repository import COLUMNS, read_row
from storage.database import Database
from tests.support import raw_db
from tests.support.backup_steps import open_archive, seal_database
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.offsite_steps import BUCKET, LocalS3, local_s3
from tests.support.running_deployment import (
    PREFIX,
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


async def drop_audit_triggers(deployment: Deployment) -> None:
    """What someone who can write the database does first: the append-only triggers go."""
    if deployment.on_postgres():
        await raw_db.execute(deployment.settings, "ALTER TABLE audit_events DISABLE TRIGGER USER")
        await raw_db.execute(deployment.settings, "ALTER TABLE audit_head DISABLE TRIGGER USER")
        return
    query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
    for (trigger,) in await deployment.rows(query):
        await raw_db.execute(deployment.settings, f'DROP TRIGGER "{trigger}"')


# --- Keyed, anchored audit chain -------------------------------------------------------------


async def test_each_backup_is_anchored_posted_pinned_and_audit_verify_prints_it(
    deployment: Deployment, capsys, monkeypatch
) -> None:
    await some_history(deployment)
    await deployment.nightly()
    [(anchor_id, row, link, _reason)] = await deployment.rows(
        "SELECT id, last_audit_id, link, reason FROM audit_anchors"
    )
    [(created_id,)] = await deployment.rows(
        "SELECT id FROM audit_events WHERE event_type = 'BACKUP_CREATED'"
    )
    assert row >= created_id, "the anchor covers the backup's own BACKUP_CREATED"
    await deployment.job(ANCHOR_JOB)  # start-up check, then the unposted anchor goes out
    [posted] = [m for m in deployment.admin_chat() if "Audit anchor" in m.plain]
    assert posted.disable_notification and link in posted.plain and f"row {row}" in posted.plain
    assert deployment.api.pins.newest(ADMIN_CHAT_ID, deployment.api.messages) is posted
    await deployment.stop()

    code, out, err = await deployment.cli(capsys, monkeypatch, "audit", "verify")
    assert code == 0, err
    assert "audit chain OK" in out and "anchors OK" in out
    assert f"last anchor: #{anchor_id}, row {row}, link {link[:16]}" in out
    assert f"as message {posted.message_id}" in out

    # Deleting a row (the triggers dropped first, as someone with the file would) is found.
    await drop_audit_triggers(deployment)
    await raw_db.execute(deployment.settings, "DELETE FROM audit_events WHERE id = 2")
    code, out, err = await deployment.cli(capsys, monkeypatch, "audit", "verify")
    assert code == 1 and "audit chain BROKEN at row" in out, out + err


async def test_rechaining_an_edited_row_without_the_key_is_detected(
    deployment: Deployment, capsys, monkeypatch
) -> None:
    """Edit a row, then recompute every link after it as the chain was before keying (plain
    SHA-256): the first rewritten row fails its HMAC."""
    await some_history(deployment)
    await deployment.nightly()
    await deployment.stop()
    await drop_audit_triggers(deployment)
    query = f"SELECT {COLUMNS} FROM audit_events ORDER BY id"
    rows = [read_row(raw) for raw in await deployment.rows(query)]
    prev = rows[0].hash
    for row in rows[1:]:
        details = {"note": "nothing happened"} if row.id == 2 else row.details
        forged = replace(row, details=details, prev_hash=prev, hash="")
        prev = legacy_hash(forged)
        await raw_db.execute(
            deployment.settings,
            "UPDATE audit_events SET details = ?, prev_hash = ?, hash = ? WHERE id = ?",
            *(json.dumps(details, separators=(",", ":")), forged.prev_hash, prev, row.id),
        )
    await raw_db.execute(deployment.settings, "UPDATE audit_head SET last_hash = ?", prev)
    code, out, err = await deployment.cli(capsys, monkeypatch, "audit", "verify")
    assert code == 1 and "audit chain BROKEN at row 2" in out, out + err


@pytest.mark.sqlite_only(
    reason="puts last night's SQLite file (and no -wal/-shm) in place of the live one by hand"
)
async def test_putting_last_nights_database_back_by_hand_is_a_rollback_restoring_it_is_not(
    deployment: Deployment, capsys, monkeypatch, tmp_path: Path
) -> None:
    """The nightly archive is genuine, so its database is a valid chain; but its anchor
    (posted after the backup) names a head it does not hold. Installed by hand, the bot says
    so at its next start; installed by ``verzek backup restore``, the keyed BACKUP_RESTORED
    explains it."""
    await some_history(deployment)
    name = await deployment.nightly()
    await deployment.job(ANCHOR_JOB)
    await deployment.stop()
    live = deployment.settings.database.path
    honest_copy = tmp_path / "live-before.db"
    honest_copy.write_bytes(live.read_bytes())

    _, old = open_archive(deployment.settings, deployment.settings.backups.dir / name)
    for suffix in ("-wal", "-shm"):
        await asyncio.to_thread(Path(f"{live}{suffix}").unlink, missing_ok=True)
    live.write_bytes(old)
    await deployment.start()
    await deployment.job(ANCHOR_JOB)
    assert any("rolled back or cut" in m.plain for m in deployment.admin_chat())
    await deployment.stop()

    live.write_bytes(honest_copy.read_bytes())  # the operator puts the live file back…
    code, _, err = await deployment.cli(capsys, monkeypatch, "backup", "restore", name, "--yes")
    assert code == 0, err  # …and restores properly
    seen = len(deployment.admin_chat())
    deployment.clock.advance(hours=2)
    await deployment.start()
    await deployment.job(ANCHOR_JOB)
    told = [m.plain for m in deployment.admin_chat()[seen:]]
    assert not any("rolled back or cut" in t or "tampered with" in t for t in told), told
    assert any("Audit anchor" in t for t in told), "the restored head is anchored"


@pytest.mark.sqlite_only(
    reason="builds a SQLite file at the schema before keying, rows and all, with sqlite3"
)
async def test_a_sealed_archive_from_before_keying_the_chain_restores_and_is_keyed_on_top(
    deployment: Deployment, capsys, monkeypatch, tmp_path: Path, clock: FakeClock
) -> None:
    """An archive of a database whose rows still have SHA-256 links (made by this version's
    backup of an older database): the chain verifies as it was, the restore keys it."""
    old = tmp_path / "before-keying.db"
    every = migrator.available_migrations()
    keyed = next(i for i, m in enumerate(every) if m.name.endswith("anchor_keyed_audit"))
    monkeypatch.setattr(migrator, "available_migrations", lambda: every[:keyed])
    database = Database(old)
    await database.open()
    await database.close()
    monkeypatch.undo()
    with closing(sqlite3.connect(old)) as conn:
        prev = GENESIS_HASH
        for n in range(1, 4):
            body = {
                "id": n,
                "ts": f"2025-12-0{n}T00:00:00.000000Z",
                "event_type": "LOGOUT",
                "severity": "info",
                "account_id": None,
                "telegram_user_id": 100 + n,
                "details": {"note": "before keying"},
                "prev_hash": prev,
            }
            text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            link = hashlib.sha256(text.encode()).hexdigest()
            conn.execute(
                "INSERT INTO audit_events (id, ts, event_type, severity, account_id,"
                " telegram_user_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    n,
                    body["ts"],
                    "LOGOUT",
                    "info",
                    None,
                    100 + n,
                    '{"note":"before keying"}',
                    prev,
                    link,
                ),
            )
            prev = link
        conn.execute(
            "INSERT INTO audit_head (singleton, last_id, last_hash) VALUES (1, 3, ?)", (prev,)
        )
        conn.commit()
    clock.advance(minutes=1)
    name = seal_database(deployment.settings, old, clock.now())
    await deployment.stop()
    code, out, err = await deployment.cli(capsys, monkeypatch, "backup", "verify", name)
    assert code == 0 and "verified: yes" in out, out + err
    code, out, err = await deployment.cli(capsys, monkeypatch, "backup", "restore", name, "--yes")
    assert code == 0, err
    types = [t for (t,) in await deployment.rows("SELECT event_type FROM audit_events ORDER BY id")]
    assert types[:3] == ["LOGOUT"] * 3 and "AUDIT_CHAIN_KEYED" in types[3:]
    assert types[-1] == "BACKUP_RESTORED"
    code, out, err = await deployment.cli(capsys, monkeypatch, "audit", "verify")
    assert code == 0 and "kept their SHA-256 links from before keying" in out, out + err


async def test_a_rotation_keeps_old_archives_and_rows_and_is_itself_chained_and_alerted(
    deployment: Deployment, capsys, monkeypatch
) -> None:
    await some_history(deployment)
    before_rotation = await deployment.nightly()
    await deployment.stop()
    old_key, new_key = deployment.env["ENCRYPTION_MASTER_KEY"], generate_master_key()
    rotated = {**deployment.env, "ENCRYPTION_MASTER_KEY": new_key, "ENCRYPTION_OLD_KEYS": old_key}

    code, out, err = await deployment.cli(capsys, monkeypatch, "rotate-key", env=rotated)
    assert code == 0, err
    assert "audit chain: AUDIT_KEY_ROTATED chained as row" in out
    [(details,)] = await deployment.rows(
        "SELECT details FROM audit_events WHERE event_type = 'AUDIT_KEY_ROTATED'"
    )
    assert "previous_key_id" in details
    # The command's event passed the same detector as the bot's: its alert is queued.
    assert await deployment.rows("SELECT id FROM alerts WHERE status = 'pending'")
    code, out, err = await deployment.cli(capsys, monkeypatch, "audit", "verify", env=rotated)
    assert code == 0 and "audit chain OK" in out, out + err
    code, out, err = await deployment.cli(
        capsys, monkeypatch, "backup", "verify", before_rotation, env=rotated
    )
    assert code == 0 and "verified: yes" in out, err
    # After rotating, the old key may go: old rows still verify (their key is kept sealed).
    only_new = {**deployment.env, "ENCRYPTION_MASTER_KEY": new_key}
    code, out, err = await deployment.cli(capsys, monkeypatch, "audit", "verify", env=only_new)
    assert code == 0 and "audit chain OK" in out, out + err

    # The bot, restarted under the new key, delivers the rotation's alert (the command ran on
    # the machine's clock: the bot's fake one is moved past it).
    deployment.clock.advance(days=400)
    deployment.settings = load_settings(deployment.config, rotated)
    await deployment.start()
    assert deployment.bot is not None
    await deployment.job("outbox")
    await deployment.bot.wait_for(
        lambda: any("AUDIT_KEY_ROTATED" in m.plain for m in deployment.admin_chat())
    )
