"""Attacks on the off-site copies (SPEC §8a): the attacker's notebook.

- A prefix that climbs out of its folder (``..``), or a place with credentials pasted in: the
  config is refused at load, and the refusal never repeats the value.
- Write access to the bucket: keys planted under the prefix (``../``, look-alikes, deeper
  folders) must never be deleted by retention; only exact archive names directly under the
  prefix are.
- Write access to the backup folder: a pending archive swapped for another file (bigger, a
  symlink to the live database or /etc/passwd) must not be shipped off-site.
- A huge archive must not be sent to Telegram.
- The S3 credentials (the standard AWS environment) never appear in what the admins are told,
  the logs, the database or an archive's manifest.
"""

from __future__ import annotations

import logging
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.jobs.offsite import copy_offsite
from core.backups.offsite import TELEGRAM_MAX_BYTES
from core.config import Settings, load_settings
from core.errors import ConfigError
from tests.support import raw_db
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness
from tests.support.offsite_steps import (
    ACCESS_KEY,
    BUCKET,
    SECRET_KEY,
    LocalS3,
    archives,
    job_context,
    local_s3,
    nightly,
    offsite_settings,
)
from tests.support.steps import db_rows

PREFIX = "nightly/"


@pytest.fixture
def offsite() -> str:
    return f"s3://{BUCKET}/{PREFIX}"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalS3]:
    yield from local_s3(monkeypatch, tmp_path)


@pytest.fixture
def settings(
    env: dict[str, str], tmp_path: Path, offsite: str, request: pytest.FixtureRequest
) -> Settings:
    endpoint = request.getfixturevalue("s3").endpoint if offsite.startswith("s3://") else None
    return offsite_settings(env, tmp_path, offsite, endpoint)


# --- the place in the config -------------------------------------------------------------------


@pytest.mark.parametrize(
    "place",
    [
        "s3://verzek-backups/../other",
        "s3://verzek-backups/a/../../other",
        "s3://verzek-backups/..",
        "s3://verzek-backups/./a",
        "s3://verzek-backups//a",
        "s3://verzek-backups/a%2F..%2Fb",
        "s3://verzek-backups/a b",
        "s3://verzek-backups/a?versionId=1",
        "s3://verzek-backups/a#x",
        "s3://verzek-backups/a\\..\\b",
        "s3://verzek-backups/\u202egpj",
        "s3://../a",
        "s3://Verzek/a",
        "s3://192.168.0.1/a",
        "s3://",
        "S3://verzek-backups/a",
        "https://verzek-backups.s3.amazonaws.com/a",
        "file:///etc",
    ],
)
def test_a_place_outside_a_plain_prefix_is_refused(
    place: str, env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[backups]\noffsite = {place!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env)
    assert "backups.offsite" in str(refused.value)
    if place.removeprefix("s3://"):
        assert place.removeprefix("s3://") not in str(refused.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("offsite", f"s3://{ACCESS_KEY}:{SECRET_KEY}@verzek-backups/p"),
        ("offsite", f"s3://verzek-backups/p?aws_secret_access_key={SECRET_KEY}"),
        ("s3_endpoint_url", f"https://{ACCESS_KEY}:{SECRET_KEY}@s3.example.com"),
        ("s3_endpoint_url", f"http://s3.example.com/?secret={SECRET_KEY}"),  # not loopback
    ],
)
def test_credentials_pasted_into_the_config_are_refused_and_never_repeated(
    key: str, value: str, env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[backups]\n{key} = "{value}"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env)
    assert SECRET_KEY not in str(refused.value) and ACCESS_KEY not in str(refused.value)


# --- the bucket --------------------------------------------------------------------------------


async def test_keys_planted_in_the_bucket_survive_retention(
    bot: BotHarness, s3: LocalS3, settings: Settings
) -> None:
    old = "verzek-20250101T020000Z.tar.gz"  # a year old: past retention
    planted = [
        f"{PREFIX}../{old}",
        f"{PREFIX}..%2F{old}",
        f"{PREFIX}deeper/{old}",
        f"{PREFIX}{old}/",
        f"{PREFIX} {old}",
        f"{PREFIX}{old}.tmp",
        f"{PREFIX}VERZEK-20250101T020000Z.tar.gz",
        f"{PREFIX}verzek-20250101T020000Z-0.tar.gz",
        old,  # the bucket's root, outside the prefix
        f"elsewhere/{old}",
        f"nightly-not/{old}",
    ]
    for key in planted:
        s3.put(key)
    s3.put(PREFIX + old)  # a genuine old copy: this one goes
    await nightly(bot)
    (name,) = archives(settings)
    assert s3.keys() == sorted([*planted, PREFIX + name])


# --- the backup folder -------------------------------------------------------------------------


async def _a_pending_archive(bot: BotHarness, s3: LocalS3, settings: Settings) -> str:
    """A nightly archive whose upload failed (the bucket was gone): it waits for the next run."""
    s3.client().delete_bucket(Bucket=BUCKET)
    await nightly(bot)
    (name,) = archives(settings)
    s3.client().create_bucket(Bucket=BUCKET)
    [(status,)] = await db_rows(bot, "SELECT status FROM offsite_copies")
    assert status == "pending"
    return name


async def test_a_pending_archive_swapped_for_another_file_is_not_shipped(
    bot: BotHarness, s3: LocalS3, settings: Settings
) -> None:
    name = await _a_pending_archive(bot, s3, settings)
    path = settings.backups.dir / name
    path.write_bytes(path.read_bytes() + b"planted")  # the attacker's own archive
    await copy_offsite(job_context(bot), None)
    assert s3.keys() == []
    assert "changed since it was written" in bot.texts(ADMIN_CHAT_ID)[-1]
    [(status,)] = await db_rows(bot, "SELECT status FROM offsite_copies")
    assert status == "pending"


@pytest.mark.parametrize("victim", ["database", "/etc/passwd"])
async def test_a_pending_archive_replaced_by_a_symlink_is_never_followed(
    bot: BotHarness, s3: LocalS3, settings: Settings, victim: str
) -> None:
    name = await _a_pending_archive(bot, s3, settings)
    path = settings.backups.dir / name
    path.unlink()
    target = settings.database.path if victim == "database" else Path(victim)
    os.symlink(target, path)
    await copy_offsite(job_context(bot), None)
    assert s3.keys() == [], "nothing but the archive written may leave the machine"
    [(status, error)] = await db_rows(bot, "SELECT status, last_error FROM offsite_copies")
    assert status == "gone" and "never copied" in error


@pytest.mark.parametrize("offsite", ["telegram"])
async def test_a_huge_archive_is_not_sent_to_telegram(bot: BotHarness, settings: Settings) -> None:
    settings.backups.dir.mkdir(parents=True, exist_ok=True)
    name = "verzek-20260101T000000Z.tar.gz"
    with (settings.backups.dir / name).open("wb") as huge:
        huge.truncate(2 * 1024**3)  # 2 GB, sparse
    await copy_offsite(job_context(bot), name)
    assert "sendDocument" not in [method for method, _ in bot.api.calls]
    assert "Not copied off-site" in bot.texts(ADMIN_CHAT_ID)[-1]
    assert TELEGRAM_MAX_BYTES < 50 * 1024 * 1024  # under what Telegram takes from a bot


# --- the credentials ---------------------------------------------------------------------------


async def test_s3_credentials_never_reach_chat_logs_database_or_manifest(
    bot: BotHarness, s3: LocalS3, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    name = await _a_pending_archive(bot, s3, settings)  # a failure: its text is reported
    await copy_offsite(job_context(bot), None)  # then a success
    assert s3.keys() == [PREFIX + name]
    assert s3.server is not None
    s3.server.stop()
    await copy_offsite(job_context(bot), None)  # and the store down (retention listing)

    said = "\n".join(m.plain for m in bot.api.sent_to(ADMIN_CHAT_ID))
    assert said, "the failures were reported"
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.exc_info[1] if r.exc_info else ''}"
        for r in caplog.records
    )
    stored = repr(await raw_db.tables(settings, frozenset()))  # every row of every table
    with tarfile.open(settings.backups.dir / name) as archive:
        member = archive.extractfile("manifest.json")
        assert member is not None
        manifest = member.read().decode()
    for text in (said, stored, manifest):
        assert SECRET_KEY not in text and ACCESS_KEY not in text
    assert SECRET_KEY not in logged
    assert ACCESS_KEY not in "\n".join(
        r.getMessage() for r in caplog.records if r.levelno >= logging.INFO
    )
