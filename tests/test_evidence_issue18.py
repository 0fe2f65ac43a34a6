"""Issue #18 end to end: each "Must be true" bullet walked through the real system.

The bot runs as it does in production (the real PTB Application against the fake Bot API) and
its jobs are run through their JobQueue entries; the commands run through ``verzek``'s entry
point with the bot stopped, over the same files; S3 is moto's server on a loopback port. The
attack variants of each bullet live in tests/attacks/ (test_sealed_backups, test_audit_evidence,
test_offsite_copies); this file proves the pieces work together: the nightly archive that is
sealed is the one anchored, copied off-site, drilled and restored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import tarfile
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from telegram.ext import CallbackContext

import storage.migrator as migrator
from bot.cli import main
from bot.fake_telegram import FakeBotAPI, Message
from bot.jobs.anchors import JOB_NAME as ANCHOR_JOB
from bot.jobs.backups import DRILL_JOB_NAME, JOB_NAME, nightly_backup, restore_drill
from bot.jobs.offsite import copy_offsite
from core.audit.chain import GENESIS_HASH, legacy_hash
from core.audit.log import AuditEvent, EventType, Severity
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.crypto import generate_master_key
from core.errors import Refusal
from core.services import Services
from storage.audit_repository import COLUMNS, read_row
from storage.database import Database
from tests.support import postgres, raw_db
from tests.support.backup_steps import (
    member_names,
    open_archive,
    seal_database,
    unsealed_archive,
    write_db,
)
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness
from tests.support.offsite_steps import BUCKET, LocalS3, local_s3
from tests.support.services import build_services
from tests.support.steps import register

PREFIX = "nightly/"
BACKUPS_TOPIC = 41
SECRET_EMAIL = "evidence-owner@example.com"
ALERT = "Admin command by a non-admin"
DETAILS = '{"note":"before keying"}'


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalS3]:
    yield from local_s3(monkeypatch, tmp_path)


def write_config(tmp_path: Path, offsite: str, endpoint: str | None = None) -> Path:
    config = tmp_path / "config.toml"
    endpoint_line = f's3_endpoint_url = "{endpoint}"\n' if endpoint else ""
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\noffsite = "{offsite}"\n{endpoint_line}'
        "drill_days = 30\n"
        f"[alerts.topics]\nbackups = {BACKUPS_TOPIC}\n"
    )
    return config


@pytest.fixture
def config(tmp_path: Path, s3: LocalS3) -> Path:
    return write_config(tmp_path, f"s3://{BUCKET}/{PREFIX}", s3.endpoint)


@pytest.fixture
def settings(env: dict[str, str], config: Path) -> Settings:
    return load_settings(config, env)


@dataclass
class Deployment:
    """The bot as it runs, stoppable so the commands can work on its files, and restartable
    (the same Telegram, so what it pinned and was sent stays)."""

    settings: Settings
    config: Path
    env: dict[str, str]
    clock: FakeClock
    api: FakeBotAPI
    services: Services | None = None
    bot: BotHarness | None = None

    async def start(self) -> BotHarness:
        self.services = await build_services(self.settings, self.clock)
        self.bot = BotHarness(self.settings, self.services, self.api)
        await self.bot.start()
        return self.bot

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
        if self.services is not None:
            await self.services.aclose()
        self.bot = self.services = None

    async def job(self, name: str) -> None:
        """One run of the job ``name`` as the JobQueue runs it."""
        assert self.bot is not None and self.bot.app.job_queue is not None
        [job] = self.bot.app.job_queue.get_jobs_by_name(name)
        await job.run(self.bot.app)

    def context(self, name: str) -> CallbackContext:
        assert self.bot is not None and self.bot.app.job_queue is not None
        [job] = self.bot.app.job_queue.get_jobs_by_name(name)
        return CallbackContext.from_job(job, self.bot.app)

    async def nightly(self) -> str:
        """The nightly backup job, through its JobQueue entry; the new archive's name."""
        before = set(self.archives())
        await nightly_backup(self.context(JOB_NAME))
        [name] = set(self.archives()) - before
        return name

    def archives(self) -> list[str]:
        return sorted(p.name for p in self.settings.backups.dir.glob("verzek-*.tar.gz"))

    def admin_chat(self) -> list[Message]:
        return self.api.sent_to(ADMIN_CHAT_ID)

    async def rows(self, sql: str, *params: object) -> list[tuple]:
        """The rows ``sql`` selects from the bot's database (either engine), read directly."""
        return await raw_db.rows(self.settings, sql, *params)

    def on_postgres(self) -> bool:
        return self.settings.database.url is not None

    async def cli(
        self,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        *argv: str,
        env: dict[str, str] | None = None,
        config: Path | None = None,
    ) -> tuple[int, str, str]:
        """``verzek ARGV --config …`` as the operator runs it, in this deployment's
        environment (or ``env``)."""
        for name in ("ENCRYPTION_MASTER_KEY", "ENCRYPTION_OLD_KEYS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in (env or self.env).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, "--config", str(config or self.config)])
        out, err = capsys.readouterr()
        return code, out, err


@pytest.fixture
async def deployment(
    settings: Settings, config: Path, env: dict[str, str], clock: FakeClock
) -> AsyncIterator[Deployment]:
    api = FakeBotAPI(clock=lambda: clock.now().timestamp())
    api.forums.add(ADMIN_CHAT_ID, BACKUPS_TOPIC)
    running = Deployment(settings, config, env, clock, api)
    await running.start()
    yield running
    await running.stop()


async def some_history(deployment: Deployment) -> None:
    """Things worth keeping: an account, whose email must not be readable in an archive."""
    assert deployment.bot is not None
    await register(deployment.bot, deployment.bot.user(777, "Owner"), email=SECRET_EMAIL)


async def drop_audit_triggers(deployment: Deployment) -> None:
    """What someone who can write the database does first: the append-only triggers go."""
    if deployment.on_postgres():
        await raw_db.execute(deployment.settings, "ALTER TABLE audit_events DISABLE TRIGGER USER")
        await raw_db.execute(deployment.settings, "ALTER TABLE audit_head DISABLE TRIGGER USER")
        return
    query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
    for (trigger,) in await deployment.rows(query):
        await raw_db.execute(deployment.settings, f'DROP TRIGGER "{trigger}"')


# The first bytes of a database in an archive: a SQLite file, or pg_dump's custom format.
MAGIC = {False: b"SQLite format 3", True: b"PGDMP"}


@contextmanager
def elsewhere_database(deployment: Deployment) -> Iterator[str | None]:
    """On PostgreSQL, the URL of another empty (migrated) database, dropped after; on SQLite
    None (the other machine's file is its own path)."""
    if not deployment.on_postgres():
        yield None
        return
    database = postgres.fresh_database()
    try:
        yield database.url
    finally:
        postgres.drop_database(database.name)


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


# --- Off-site copies and the restore drill ----------------------------------------------------


async def test_the_nightly_sealed_archive_goes_to_s3_and_the_copy_passes_the_drill(
    deployment: Deployment, s3: LocalS3, capsys, monkeypatch, tmp_path: Path
) -> None:
    await some_history(deployment)
    name = await deployment.nightly()
    assert s3.keys() == [PREFIX + name]
    copy = s3.body(PREFIX + name)
    assert copy == (deployment.settings.backups.dir / name).read_bytes()
    assert SECRET_EMAIL.encode() not in copy, "what leaves the machine is sealed"
    assert await deployment.rows("SELECT status FROM offsite_copies") == [("sent",)]
    await deployment.stop()

    # The machine is lost: the copy, fetched into an empty folder elsewhere, is drilled there
    # (no database next to it) with every check of a real restore.
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "backups").mkdir(parents=True)
    (elsewhere / "backups" / name).write_bytes(copy)
    other_config = elsewhere / "config.toml"
    other_config.write_text(
        deployment.config.read_text().replace(str(tmp_path / "backups"), str(elsewhere / "backups"))
    )
    other_env = {**deployment.env, "VERZEK_DB": str(elsewhere / "data" / "verzek.db")}
    with elsewhere_database(deployment) as other_url:
        if other_url is not None:  # a new server's database: migrated, empty
            other_env["VERZEK_DATABASE_URL"] = other_url
        code, out, err = await deployment.cli(
            capsys, monkeypatch, "backup", "drill", env=other_env, config=other_config
        )
        assert code == 0 and "restore drill passed" in out and name in out, err
        assert not (elsewhere / "data" / "verzek.db").exists(), "drilling created no database"
        other: raw_db.Target = other_url or elsewhere / "data" / "verzek.db"
        if other_url is not None:
            assert await raw_db.rows(other, "SELECT count(*) FROM users") == [(0,)]

        # …and it restores there.
        code, out, err = await deployment.cli(
            capsys, monkeypatch, "backup", "restore", name, "--yes", env=other_env,
            config=other_config,
        )  # fmt: skip
        assert code == 0 and f"restored {name}" in out, err
        query = "SELECT count(*) FROM users WHERE email = ?"
        assert await raw_db.rows(other, query, SECRET_EMAIL) == [(1,)]


async def test_a_pending_copy_swapped_for_a_same_size_forgery_never_leaves(
    deployment: Deployment, s3: LocalS3
) -> None:
    """The size check alone would ship it: the manifest's MAC is checked before each upload."""
    s3.client().delete_bucket(Bucket=BUCKET)
    name = await deployment.nightly()  # the upload fails: pending for the next run
    s3.client().create_bucket(Bucket=BUCKET)
    path = deployment.settings.backups.dir / name
    forged = bytearray(path.read_bytes())
    forged[20] ^= 0xFF  # inside the manifest, the first member: same size, not ours
    path.write_bytes(bytes(forged))
    await copy_offsite(deployment.context(JOB_NAME), None)
    assert s3.keys() == [], "only a sealed archive this key made leaves the machine"
    [(status, error)] = await deployment.rows("SELECT status, last_error FROM offsite_copies")
    assert status == "pending" and error.startswith("not copied: ")
    assert "Off-site copy failed" in deployment.admin_chat()[-1].plain


class TestOffsiteTelegram:
    @pytest.fixture
    def config(self, tmp_path: Path) -> Path:
        return write_config(tmp_path, "telegram")

    async def test_the_sealed_archive_is_a_silent_document_in_the_backups_topic(
        self, deployment: Deployment
    ) -> None:
        await some_history(deployment)
        name = await deployment.nightly()
        [document] = [m for m in deployment.admin_chat() if m.document is not None]
        assert document.document_name == name
        assert document.document == (deployment.settings.backups.dir / name).read_bytes()
        assert SECRET_EMAIL.encode() not in document.document
        assert document.disable_notification, "routine: alerts.routing.offsite_copy is silent"
        assert document.message_thread_id == BACKUPS_TOPIC
        assert await deployment.rows("SELECT status FROM offsite_copies") == [("sent",)]


async def test_the_drill_job_reports_with_row_counts_silently_and_audits_its_outcome(
    deployment: Deployment, clock: FakeClock, capsys, monkeypatch
) -> None:
    await some_history(deployment)
    name = await deployment.nightly()
    context = deployment.context(DRILL_JOB_NAME)
    await restore_drill(context)
    assert deployment.bot is not None
    await deployment.bot.wait_for(
        lambda: any("Restore drill passed" in m.plain for m in deployment.admin_chat())
    )
    [report] = [m for m in deployment.admin_chat() if "Restore drill passed" in m.plain]
    assert name in report.plain and " rows in " in report.plain
    assert report.disable_notification and report.message_thread_id == BACKUPS_TOPIC
    [(details, severity)] = await deployment.rows(
        "SELECT details, severity FROM audit_events WHERE event_type = 'BACKUP_DRILL'"
    )
    assert json.loads(details) == {
        "archive": name,
        "passed": True,
        "problem": None,
        "rows": json.loads(details)["rows"],
    }
    assert severity == Severity.INFO

    # A damaged newest archive a month later: loud, and audited as a warning.
    clock.advance(days=31)
    path = deployment.settings.backups.dir / name
    path.write_bytes(path.read_bytes()[:-2000])
    await restore_drill(context)
    await deployment.bot.wait_for(
        lambda: any("Restore drill failed" in m.plain for m in deployment.admin_chat())
    )
    [failed] = [m for m in deployment.admin_chat() if "Restore drill failed" in m.plain]
    assert not failed.disable_notification
    assert await deployment.rows(
        "SELECT severity FROM audit_events WHERE event_type = 'BACKUP_DRILL' ORDER BY id"
    ) == [("info",), ("warning",)]

    # `verzek backup drill` audits too, in the same chain, which still verifies.
    await deployment.stop()
    code, out, err = await deployment.cli(capsys, monkeypatch, "backup", "drill")
    assert code == 1 and "restore drill failed" in err
    assert (
        len(await deployment.rows("SELECT id FROM audit_events WHERE event_type = 'BACKUP_DRILL'"))
        == 3
    )
    code, out, err = await deployment.cli(capsys, monkeypatch, "audit", "verify")
    assert code == 0, out + err


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
