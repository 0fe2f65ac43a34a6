"""Attacks on sealed backups by someone who can write the backup folder (SPEC §8a, issue #18):
the issue's repacked archive, a forged manifest, a swapped payload, damage to a sealed archive,
a genuine archive under another name, a sealed archive of a planted database and an audit chain
edited behind its triggers.

The attacker's notebook: "I can write the backup folder but I do not have the master key. I
take a database I can read (an old unsealed archive, a copy I made), give the admin's account
my own password hash, delete its 2FA rows, add a trigger that hands me the next admin's
password, recompute the manifest's SHA-256 and repack it, so the admins restore it."

Each variant must be refused by verify and by restore, with the reason, and the live database must
be exactly as it was: same rows, same archives listed, no audit event, no temp file left. The
attacker's tools are in tests/support/backup_attacker.py; the variants that edit or pack a SQLite
file are sqlite_only, their PostgreSQL twin is tests/attacks/test_pg_backup_tampering.py. Archives
from before sealing and the keys: tests/attacks/test_backup_keys_and_unsealed_archives.py.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from bot.bootstrap import archive_seal
from core.authz import OPERATOR
from core.backups.archive_rules import UnsealedArchive
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.support.backup_attacker import (
    ATTACK,
    EDITS_SQLITE,
    TRIGGER,
    assert_refused,
    edit,
    live_state,
    next_name,
    payload_member,
    read_members,
    recomputed,
    repack,
    sealed_backup_settings,
    setup,
    unsealed_repack,
)
from tests.support.backup_steps import seal_database, write_db


@pytest.fixture
def operator_key() -> x25519.Identity:
    """The operator's offline age key (its public half is in the config)."""
    return x25519.Identity.generate()


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path, operator_key: x25519.Identity) -> Settings:
    return sealed_backup_settings(env, tmp_path, operator_key)


# --- the issue's attack: an edited database repacked with a recomputed SHA-256 ------------------


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
