"""Attacks on backups by someone who can write the backup folder (SPEC §8a, issue #18).

The attacker's notebook: "I can write the backup folder but I do not have the master key. I
take a database I can read (an old unsealed archive, a copy I made), give the admin's account
my own password hash, delete its 2FA rows, add a trigger that hands me the next admin's
password, recompute the manifest's SHA-256 and repack it, so the admins restore it."

Each variant must be refused by verify and by restore, with the reason, and the live database
must be exactly as it was: same rows, same archives listed, no audit event, no temp file left.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from bot import texts
from bot.bootstrap import archive_seal
from core.authz import OPERATOR
from core.backups.archive_rules import BackupError, UnsealedArchive
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.errors import ConfigError
from core.services import Services
from storage.snapshot import check_file
from tests.support import raw_db
from tests.support.backup_steps import (
    member_names,
    open_archive,
    seal_database,
    unsealed_archive,
    write_db,
)
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.steps import enable_2fa

# The variants that edit the SQLite file inside an archive (sqlite3) or pack one are
# sqlite_only; their PostgreSQL twin is tests/attacks/test_pg_backup_tampering.py. Damage to the
# sealed archive itself, its name and its keys are the same on both engines.
EDITS_SQLITE = pytest.mark.sqlite_only(reason="edits or packs a SQLite file inside an archive")

ATTACKER_HASH = "$argon2id$v=19$m=65536,t=3,p=4$attacker$attacker"
TRIGGER = (
    "CREATE TRIGGER steal AFTER UPDATE OF password_hash ON users BEGIN "
    "INSERT INTO alerts (kind, details, created_at) VALUES ('x', new.password_hash, 'x'); END;"
)
ATTACK = (
    f"UPDATE users SET password_hash = '{ATTACKER_HASH}';DELETE FROM mfa; DELETE FROM backup_codes;"
)


@pytest.fixture
def operator_key() -> x25519.Identity:
    """The operator's offline age key (its public half is in the config)."""
    return x25519.Identity.generate()


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path, operator_key: x25519.Identity) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
        f'age_recipients = ["{operator_key.to_public()}"]\n'
    )
    return load_settings(config, env)


# --- the attacker's tools -----------------------------------------------------------------------


def edit(db: bytes, folder: Path, sql: str) -> bytes:
    path = write_db(db, folder, "attacker.db")
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.executescript(sql)
    data = path.read_bytes()
    path.unlink()
    return data


def repack(path: Path, members: list[tuple[str, bytes]]) -> None:
    """A .tar.gz of these members, as `tar czf` would make it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())


def read_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]  # regular files only


def recomputed(manifest: dict, db: bytes, **changes: object) -> bytes:
    """The manifest with the SHA-256, size and row counts of ``db``: all anyone can compute."""
    import tempfile

    body = json.loads(json.dumps(manifest))
    body["database"]["size"] = len(db)
    body["database"]["sha256"] = hashlib.sha256(db).hexdigest()
    with tempfile.TemporaryDirectory() as folder:
        body["row_counts"] = check_file(write_db(db, Path(folder))).row_counts
    body.update(changes)
    return json.dumps(body, indent=2, sort_keys=True).encode()


def dump(path: Path) -> dict[str, list[tuple]]:
    with closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
        schema = sorted(conn.execute("SELECT type, name, sql FROM sqlite_schema").fetchall())
        rows = {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }
    return {"__schema__": schema, **rows}


async def live_state(services: Services) -> tuple:
    folder = services.backups.directory
    on_postgres = services.settings.database.url is not None
    return (
        await raw_db.tables(services.settings, frozenset())
        if on_postgres
        else dump(services.settings.database.path),
        sorted(p.name for p in folder.iterdir()),
        [row.hash async for row in services.audit.export()],
    )


async def setup(services: Services) -> tuple[str, dict, bytes]:
    """An admin with 2FA, a genuine sealed backup; its manifest and (decrypted) database."""
    user = await services.accounts.register(
        email="admin@example.com",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$real$real",
        referral_code=None,
        telegram_user_id=ADMIN_ID,
    )
    await raw_db.execute(
        services.settings,
        "INSERT INTO mfa (account_id, secret_enc, created_at, enabled_at) "
        "VALUES (?, 'sealed-secret', 'x', 'x')",
        user.id,
    )
    good = await services.backups.create(OPERATOR)
    archive_path = services.backups.directory / good.name
    manifest = json.loads(read_members(archive_path)["manifest.json"])
    _, db = open_archive(services.settings, archive_path)
    return good.name, manifest, db


async def assert_refused(
    services: Services, name: str, pattern: str, before: tuple, *, allow_unsealed: bool = False
) -> None:
    import re

    with pytest.raises(BackupError) as refused:
        await services.backups.restore(OPERATOR, name, allow_unsealed=allow_unsealed)
    assert re.search(pattern, refused.value.problem), refused.value.problem
    verdict = await services.backups.verify(OPERATOR, name, allow_unsealed=allow_unsealed)
    assert not verdict.verified and re.search(pattern, verdict.problem or ""), verdict.problem
    assert await live_state(services) == before, "the live database and folder are untouched"
    listed = {i.name: i for i in await services.backups.list_backups(OPERATOR)}
    assert not listed[name].verified, "never listed as verified"


def next_name(good: str, number: int = 1) -> str:
    """A free name of the genuine archive's second (a sealed manifest's time must fit it)."""
    return good.replace(".tar.gz", f"-{number}.tar.gz")


# --- the issue's attack: an edited database repacked with a recomputed SHA-256 ------------------


def unsealed_repack(folder: Path, good: str, manifest: dict, db: bytes, tmp: Path) -> str:
    evil = edit(db, tmp, ATTACK + TRIGGER)
    body = {k: v for k, v in manifest.items() if k not in {"mac", "sealing"}}
    body["format_version"] = 1
    body["database"] = {**body["database"], "file": "verzek.db"}
    name = next_name(good)
    repack(folder / name, [("manifest.json", recomputed(body, evil)), ("verzek.db", evil)])
    return name


@EDITS_SQLITE
async def test_the_repacked_archive_of_the_issue_is_refused(
    services: Services, tmp_path: Path
) -> None:
    good, manifest, db = await setup(services)
    name = unsealed_repack(services.backups.directory, good, manifest, db, tmp_path)
    before = await live_state(services)
    # In the old format (all the attacker can make): refused for not being sealed…
    await assert_refused(services, name, "not sealed", before)
    with pytest.raises(UnsealedArchive):
        await services.backups.restore(OPERATOR, name)
    # …and even with --allow-unsealed, its planted trigger gives it away.
    await assert_refused(services, name, "extra trigger 'steal'", before, allow_unsealed=True)


@EDITS_SQLITE
async def test_a_forged_sealed_manifest_is_refused_for_its_mac(
    services: Services, tmp_path: Path, operator_key: x25519.Identity
) -> None:
    good, manifest, db = await setup(services)
    evil = edit(db, tmp_path, ATTACK)
    folder = services.backups.directory
    # The payload sealed to every recipient the attacker can know (the operator's is in the
    # config; say they learned the derived one too): only the MAC stands in the way.
    recipients = [
        operator_key.to_public(),
        x25519.Recipient.from_str(archive_seal(services.settings).age.recipient),
    ]
    import gzip

    payload = pyrage.encrypt(gzip.compress(evil), recipients)
    for number, mac in enumerate(["0" * 64, hashlib.sha256(evil).hexdigest()], start=1):
        name = next_name(good, number)
        forged = recomputed(manifest, evil, mac=mac)
        repack(folder / name, [("manifest.json", forged), ("verzek.db.gz.age", payload)])
        before = await live_state(services)
        await assert_refused(services, name, "MAC does not match", before)


@EDITS_SQLITE
async def test_a_genuine_manifest_with_a_swapped_payload_is_refused(
    services: Services, tmp_path: Path, operator_key: x25519.Identity
) -> None:
    import gzip

    good, _manifest, db = await setup(services)
    evil = gzip.compress(edit(db, tmp_path, ATTACK))
    genuine = read_members(services.backups.directory / good)["manifest.json"]
    ours = x25519.Recipient.from_str(archive_seal(services.settings).age.recipient)
    variants: list[tuple[bytes, str]] = [
        (pyrage.encrypt(evil, [operator_key.to_public()]), "none of the configured keys"),
        (pyrage.encrypt(evil, [ours]), "checksum mismatch|bytes but the manifest says"),
    ]
    for number, (payload, pattern) in enumerate(variants, start=1):
        name = next_name(good, number)
        repack(
            services.backups.directory / name,
            [("manifest.json", genuine), ("verzek.db.gz.age", payload)],
        )
        before = await live_state(services)
        await assert_refused(services, name, pattern, before)


# --- damage to a sealed archive ---------------------------------------------------------------


def payload_member(members: dict[str, bytes]) -> str:
    """The sealed database's member: verzek.db.gz.age (SQLite) or verzek.pgdump.gz.age."""
    [name] = [name for name in members if name != "manifest.json"]
    return name


def _flip_in_payload(members: dict[str, bytes]) -> dict[str, bytes]:
    payload = bytearray(members[payload_member(members)])
    payload[len(payload) // 2] ^= 0x01
    return {**members, payload_member(members): bytes(payload)}


def _truncate_payload(members: dict[str, bytes]) -> dict[str, bytes]:
    payload = members[payload_member(members)]
    return {**members, payload_member(members): payload[: len(payload) - 100]}


def _drop_last_chunk(members: dict[str, bytes]) -> dict[str, bytes]:
    payload = members[payload_member(members)]
    cut = payload[: len(payload) - (len(payload) - 200) % 65552]
    return {**members, payload_member(members): cut}


def _append_to_payload(members: dict[str, bytes]) -> dict[str, bytes]:
    name = payload_member(members)
    return {**members, name: members[name] + b"\0" * 64}


def _edit_manifest(members: dict[str, bytes]) -> dict[str, bytes]:
    body = json.loads(members["manifest.json"])
    body["reason"] = "nightly"
    return {**members, "manifest.json": json.dumps(body).encode()}


def _edit_row_counts(members: dict[str, bytes]) -> dict[str, bytes]:
    body = json.loads(members["manifest.json"])
    body["row_counts"]["mfa"] = 0
    return {**members, "manifest.json": json.dumps(body).encode()}


DAMAGE: dict[str, tuple[Callable[[dict[str, bytes]], dict[str, bytes]], str]] = {
    "flipped byte in the age payload": (_flip_in_payload, "fails to authenticate"),
    "truncated age payload": (_truncate_payload, "fails to authenticate|cut short|not a valid"),
    "age payload cut at a chunk boundary": (
        _drop_last_chunk,
        "fails to authenticate|cut short|not a valid",
    ),
    "bytes appended to the age payload": (
        _append_to_payload,
        "fails to authenticate|after its end",
    ),
    "manifest edited without the MAC key": (_edit_manifest, "MAC does not match"),
    "row counts edited without the MAC key": (_edit_row_counts, "MAC does not match"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
async def test_a_damaged_or_edited_sealed_archive_is_refused(services: Services, kind: str) -> None:
    good, _, _ = await setup(services)
    damage, pattern = DAMAGE[kind]
    members = damage(read_members(services.backups.directory / good))
    name = next_name(good)
    repack(services.backups.directory / name, list(members.items()))
    before = await live_state(services)
    await assert_refused(services, name, pattern, before)


async def test_a_genuine_archive_under_another_name_is_refused(services: Services) -> None:
    good, _, _ = await setup(services)
    name = "verzek-20200101T000000Z.tar.gz"
    (services.backups.directory / name).write_bytes(
        (services.backups.directory / good).read_bytes()
    )
    before = await live_state(services)
    await assert_refused(services, name, "time is not the one in the archive's name", before)


# --- a sealed archive made with the key over a planted database ---------------------------------

PLANTED: dict[str, tuple[str, str]] = {
    "trigger": (TRIGGER, "extra trigger 'steal'"),
    "view": ("CREATE VIEW creds AS SELECT email, password_hash FROM users;", "extra view 'creds'"),
    "index": ("CREATE INDEX users_by_hash ON users (password_hash);", "extra index"),
    "table": ("CREATE TABLE notes (x TEXT);", "extra table 'notes'"),
    "column": ("ALTER TABLE users ADD COLUMN backdoor TEXT;", "changed table 'users'"),
    "dropped trigger": (
        "DROP TRIGGER IF EXISTS audit_events_no_update;",
        "no trigger 'audit_events_no_update'|schema is not",
    ),
    "audit row deleted": (
        "DROP TRIGGER IF EXISTS audit_events_no_delete;DELETE FROM audit_events WHERE id = 1;",
        "audit chain|schema is not",
    ),
}


@EDITS_SQLITE
@pytest.mark.parametrize("kind", list(PLANTED))
async def test_a_sealed_archive_of_a_planted_database_is_refused(
    services: Services, clock: FakeClock, tmp_path: Path, kind: str
) -> None:
    _good, _, db = await setup(services)
    sql, pattern = PLANTED[kind]
    planted = write_db(edit(db, tmp_path, sql), tmp_path, "planted.db")
    clock.advance(seconds=5)
    name = seal_database(services.settings, planted, clock.now())
    before = await live_state(services)
    await assert_refused(services, name, pattern, before)


@EDITS_SQLITE
async def test_an_audit_chain_edited_behind_its_triggers_is_refused(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    _good, _, db = await setup(services)
    with closing(sqlite3.connect(write_db(db, tmp_path, "peek.db"))) as conn:
        triggers = [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'audit_events'"
            )
        ]
    # Drop the append-only triggers, rewrite a row, put the triggers back: schema intact.
    sql = (
        "".join(f"DROP TRIGGER {t.split()[2]};" for t in triggers)
        + 'UPDATE audit_events SET details = \'{"archive": "x"}\' WHERE id = 1;'
        + "".join(f"{t};" for t in triggers)
    )
    planted = write_db(edit(db, tmp_path, sql), tmp_path, "planted.db")
    clock.advance(seconds=5)
    name = seal_database(services.settings, planted, clock.now())
    before = await live_state(services)
    await assert_refused(services, name, "audit chain does not verify", before)


# --- archives from before sealing -----------------------------------------------------------------


@EDITS_SQLITE
async def test_an_unsealed_archive_needs_allow_unsealed(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    good, _, db = await setup(services)
    clock.advance(seconds=5)
    name = unsealed_archive(services.settings, write_db(db, tmp_path, "old.db"), clock.now())
    before = await live_state(services)
    await assert_refused(services, name, "not sealed", before)
    listed = {i.name: i for i in await services.backups.list_backups(OPERATOR)}
    assert listed[name].unsealed and listed[good].verified
    # The operator, on the server, vouches for it: then every other check still runs.
    verdict = await services.backups.verify(OPERATOR, name, allow_unsealed=True)
    assert verdict.verified, verdict.problem
    listed = {i.name: i for i in await services.backups.list_backups(OPERATOR)}
    assert not listed[name].verified, "a verdict allowed on the command line is not remembered"
    await services.backups.restore(OPERATOR, name, allow_unsealed=True)


@EDITS_SQLITE
async def test_telegram_refuses_unsealed_archives_with_a_clear_text(
    bot: BotHarness, clock: FakeClock, tmp_path: Path
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    await enable_2fa(bot, admin, clock)
    services = bot.services
    good, manifest, db = await _backup_through_core(services)
    name = unsealed_repack(services.backups.directory, good, manifest, db, tmp_path)
    before = await live_state(services)
    (listing,) = await bot.send(admin, "/backups")
    assert "NOT sealed" in listing.plain and "cannot be restored from Telegram" in listing.plain
    (refused,) = await bot.send(admin, f"/restore {name}")
    assert "is not sealed" in refused.plain and "--allow-unsealed" in refused.plain
    assert "current database was not changed" in refused.plain and not refused.buttons
    assert texts.RESTORE_UNSEALED.split("<code>")[0] in refused.plain
    assert await live_state(services) == before


async def _backup_through_core(services: Services) -> tuple[str, dict, bytes]:
    good = await services.backups.create(OPERATOR)
    path = services.backups.directory / good.name
    return (
        good.name,
        json.loads(read_members(path)["manifest.json"]),
        open_archive(services.settings, path)[1],
    )


# --- the keys -----------------------------------------------------------------------------------


async def test_the_operators_offline_key_alone_opens_an_archive(
    services: Services, operator_key: x25519.Identity
) -> None:
    import gzip

    good, _, db = await setup(services)
    path = services.backups.directory / good
    members = read_members(path)
    assert member_names(path) == ["manifest.json", payload_member(members)]
    assert payload_member(members) in {"verzek.db.gz.age", "verzek.pgdump.gz.age"}
    payload = members[payload_member(members)]
    # What `age -d -i key.txt verzek.db.gz.age | gunzip` does, with the offline key only.
    assert gzip.decompress(pyrage.decrypt(payload, [operator_key])) == db
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(payload, [x25519.Identity.generate()])
    manifest = read_members(path)["manifest.json"].decode()
    assert "admin@example.com" not in manifest and "argon2" not in manifest
    assert str(operator_key.to_public()) not in manifest and "age1" not in manifest


async def test_archives_made_before_a_key_rotation_still_open(
    services: Services, env: dict[str, str], tmp_path: Path, operator_key: x25519.Identity
) -> None:
    from core.crypto import generate_master_key

    good, _, db = await setup(services)
    config = tmp_path / "rotated.toml"
    config.write_text(f'[backups]\ndir = "{services.backups.directory}"\n')
    rotated = load_settings(
        config,
        {
            **env,
            "ENCRYPTION_MASTER_KEY": generate_master_key(),
            "ENCRYPTION_OLD_KEYS": env["ENCRYPTION_MASTER_KEY"],
        },
    )
    manifest, opened = open_archive(rotated, services.backups.directory / good)
    assert opened == db and manifest.sealed
    alone = load_settings(config, {**env, "ENCRYPTION_MASTER_KEY": generate_master_key()})
    with pytest.raises(BackupError, match="MAC does not match"):
        from core.adapters import backup_archive as archive
        from core.backups.sealing import Seals

        seals = Seals(lambda: archive_seal(alone))
        archive.unpack(
            services.backups.directory / good,
            tmp_path / "x.db",
            accept=seals.acceptor(good),
        )


@pytest.mark.parametrize(
    "value",
    ['["age1notarecipient"]', '["AGE1QQQ"]', '"age1…"', "[42]", '["ssh-ed25519 AAAA"]'],
)
def test_a_bad_age_recipient_refuses_to_start(
    env: dict[str, str], tmp_path: Path, value: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[backups]\nage_recipients = {value}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env)
    assert "backups.age_recipients" in str(refused.value) and "age1" in str(refused.value)


# --- a trigger planted in the live database -------------------------------------------------------


@EDITS_SQLITE
async def test_a_trigger_planted_in_the_live_database_fails_the_backup_and_restore_removes_it(
    services: Services, clock: FakeClock
) -> None:
    good, _, _ = await setup(services)
    path = services.settings.database.path
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(TRIGGER.rstrip(";"))
    names_before = sorted(p.name for p in services.backups.directory.iterdir())
    # The nightly backup refuses to archive it, naming what was planted (the job alerts).
    with pytest.raises(BackupError, match="extra trigger 'steal'"):
        await services.backups.create(OPERATOR)
    assert sorted(p.name for p in services.backups.directory.iterdir()) == names_before
    # Restoring the good archive is the remedy: the planted database is kept as the safety
    # backup (listed as not verifying), and the trigger is gone from the live file.
    clock.advance(seconds=5)
    result = await services.backups.restore(OPERATOR, good)
    assert result.safety_backup is not None
    safety = await services.backups.verify(OPERATOR, result.safety_backup)
    assert not safety.verified and "extra trigger 'steal'" in (safety.problem or "")
    with closing(sqlite3.connect(path)) as conn:
        assert not conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'steal'").fetchall()
