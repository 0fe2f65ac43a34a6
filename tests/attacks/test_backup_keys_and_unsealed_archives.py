"""Attacks on backups by someone who can write the backup folder (SPEC §8a, issue #18): archives
from before sealing need ``--allow-unsealed`` (never from Telegram), the operator's offline key
alone opens an archive, archives made before a key rotation still open, a bad age recipient
refuses to start, and a trigger planted in the live database fails the backup.

The attacker's notebook: "I can write the backup folder but I do not have the master key. I
take a database I can read (an old unsealed archive, a copy I made), give the admin's account
my own password hash, delete its 2FA rows, add a trigger that hands me the next admin's
password, recompute the manifest's SHA-256 and repack it, so the admins restore it."

Each variant must be refused by verify and by restore, with the reason, and the live database must
be exactly as it was: same rows, same archives listed, no audit event, no temp file left. The
attacker's tools are in tests/support/backup_attacker.py; the variants that edit or pack a SQLite
file are sqlite_only, their PostgreSQL twin is tests/attacks/test_pg_backup_tampering.py. Forged
and damaged sealed archives: tests/attacks/test_sealed_backup_tampering.py.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from bot import texts
from bot.bootstrap import archive_seal
from core.authz import OPERATOR
from core.backups.archive_rules import BackupError
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.errors import ConfigError
from core.services import Services
from tests.support.backup_attacker import (
    EDITS_SQLITE,
    TRIGGER,
    assert_refused,
    live_state,
    payload_member,
    read_members,
    sealed_backup_settings,
    setup,
    unsealed_repack,
)
from tests.support.backup_steps import member_names, open_archive, unsealed_archive, write_db
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.steps import enable_2fa


@pytest.fixture
def operator_key() -> x25519.Identity:
    """The operator's offline age key (its public half is in the config)."""
    return x25519.Identity.generate()


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path, operator_key: x25519.Identity) -> Settings:
    return sealed_backup_settings(env, tmp_path, operator_key)


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
