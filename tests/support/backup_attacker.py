"""The tools of someone who can write the backup folder but has no master key (SPEC §8a, #18).

``setup`` makes an admin with 2FA and a genuine sealed backup and returns its manifest and
decrypted database; ``edit`` runs SQL on a database file, ``recomputed`` gives a manifest the
SHA-256, size and row counts of any database (all anyone can compute), ``repack`` packs members
as `tar czf` would and ``unsealed_repack`` does the issue's attack in one go. ``live_state`` and
``assert_refused`` check that verify and restore refuse with the reason and leave the live
database and folder exactly as they were. ``sealed_backup_settings`` is the configuration these
attacks run with (the operator's offline age key among the recipients).
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
from contextlib import closing
from pathlib import Path

import pytest
from pyrage import x25519

from core.authz import OPERATOR
from core.backups.archive_rules import BackupError
from core.config import Settings, load_settings
from core.services import Services
from storage.snapshot import check_file
from tests.support import raw_db
from tests.support.backup_steps import open_archive, write_db
from tests.support.constants import ADMIN_ID

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


# --- the attack: an edited database repacked with a recomputed SHA-256 ------------------


def unsealed_repack(folder: Path, good: str, manifest: dict, db: bytes, tmp: Path) -> str:
    evil = edit(db, tmp, ATTACK + TRIGGER)
    body = {k: v for k, v in manifest.items() if k not in {"mac", "sealing"}}
    body["format_version"] = 1
    body["database"] = {**body["database"], "file": "verzek.db"}
    name = next_name(good)
    repack(folder / name, [("manifest.json", recomputed(body, evil)), ("verzek.db", evil)])
    return name


# --- damage to a sealed archive ---------------------------------------------------------------


def payload_member(members: dict[str, bytes]) -> str:
    """The sealed database's member: verzek.db.gz.age (SQLite) or verzek.pgdump.gz.age."""
    [name] = [name for name in members if name != "manifest.json"]
    return name


def sealed_backup_settings(
    env: dict[str, str], tmp_path: Path, operator_key: x25519.Identity
) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
        f'age_recipients = ["{operator_key.to_public()}"]\n'
    )
    return load_settings(config, env)
