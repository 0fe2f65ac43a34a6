"""Off-site copies of the nightly archives (SPEC §8a, issue #18), through the real bot.

S3 is moto's server on a loopback port (started and stopped per test, no network); Telegram
is the fake Bot API. Each test runs the nightly job as the JobQueue would, then reads what
reached the store, what the admin chat was told, and what the database recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import BadRequest, NetworkError

from bot.jobs.offsite import copy_offsite
from core.authz import OPERATOR, SYSTEM
from core.backups.offsite import (
    TELEGRAM_MAX_BYTES,
    CopyStatus,
    OffsiteCopy,
    OffsiteKind,
    decide,
    parse_offsite,
    remote_doomed,
)
from core.clock import FakeClock
from core.config import Settings
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness
from tests.support.offsite_steps import (
    BUCKET,
    LocalS3,
    archives,
    job_context,
    local_s3,
    nightly,
    offsite_settings,
)
from tests.support.steps import db_rows

PREFIX = "verzek/nightly/"


@pytest.fixture
def offsite() -> str:
    """``backups.offsite`` of the test (parametrize to change it)."""
    return f"s3://{BUCKET}/{PREFIX}"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalS3]:
    yield from local_s3(monkeypatch, tmp_path)


@pytest.fixture
def settings(
    env: dict[str, str], tmp_path: Path, offsite: str, request: pytest.FixtureRequest
) -> Settings:
    endpoint = None
    if offsite.startswith("s3://"):
        endpoint = request.getfixturevalue("s3").endpoint
    return offsite_settings(env, tmp_path, offsite, endpoint)


async def copies(bot: BotHarness) -> list[tuple]:
    return await db_rows(
        bot, "SELECT archive, status, attempts, last_error FROM offsite_copies ORDER BY archive"
    )


def admin_chat(bot: BotHarness) -> list[str]:
    return bot.texts(ADMIN_CHAT_ID)


# --- S3 ----------------------------------------------------------------------------------------


async def test_each_nightly_archive_is_uploaded_under_the_prefix(
    bot: BotHarness, s3: LocalS3, settings: Settings
) -> None:
    await nightly(bot)
    (name,) = archives(settings)
    assert s3.keys() == [PREFIX + name]
    local = (settings.backups.dir / name).read_bytes()
    assert s3.body(PREFIX + name) == local, "the copy is the archive, byte for byte"
    assert await copies(bot) == [(name, "sent", 1, None)]
    [(ref,)] = await db_rows(bot, "SELECT remote_ref FROM offsite_copies")
    assert ref == f"s3://{BUCKET}/{PREFIX}{name}"
    assert admin_chat(bot) == [], "a copy that worked is no news"


async def test_a_missing_bucket_alerts_keeps_the_archive_and_is_retried_next_night(
    bot: BotHarness, s3: LocalS3, settings: Settings, clock: FakeClock
) -> None:
    s3.client().delete_bucket(Bucket=BUCKET)
    await nightly(bot)
    (first,) = archives(settings)
    (alert,) = admin_chat(bot)
    assert "Off-site copy failed" in alert and first in alert and "NoSuchBucket" in alert
    assert "next nightly run tries again" in alert
    [(archive, status, attempts, error)] = await copies(bot)
    assert (archive, status, attempts) == (first, "pending", 1) and "NoSuchBucket" in error
    assert (settings.backups.dir / first).is_file()

    s3.client().create_bucket(Bucket=BUCKET)  # the operator fixes it
    clock.advance(days=1)
    await nightly(bot)
    second = archives(settings)[-1]
    assert s3.keys() == sorted([PREFIX + first, PREFIX + second])
    assert [(a, st, n) for a, st, n, _ in await copies(bot)] == [
        (first, "sent", 2),
        (second, "sent", 1),
    ]
    assert len(admin_chat(bot)) == 1, "no alert for the run that worked"


async def test_a_store_that_is_down_alerts_and_the_local_archive_stays(
    bot: BotHarness, s3: LocalS3, settings: Settings
) -> None:
    assert s3.server is not None
    s3.server.stop()
    await nightly(bot)
    (name,) = archives(settings)
    (alert,) = admin_chat(bot)
    assert "Off-site copy failed" in alert and "Could not connect" in alert
    assert [(a, st) for a, st, _, _ in await copies(bot)] == [(name, "pending")]
    assert (await bot.services.backups.verify(SYSTEM, name)).verified


async def test_retention_applies_off_site_and_never_deletes_the_newest(
    bot: BotHarness, s3: LocalS3, settings: Settings, clock: FakeClock
) -> None:
    old = "verzek-20251101T020000Z.tar.gz"  # two months before the clock
    recent = "verzek-20251215T020000Z.tar.gz"  # 17 days before
    for key in (PREFIX + old, PREFIX + recent):
        s3.put(key)
    others = [
        f"{PREFIX}notes.txt",  # a person's file
        f"{PREFIX}sub/{old}",  # deeper than the prefix
        f"verzek/{old}",  # beside it
        f"{PREFIX}{old}.bak",
    ]
    for key in others:
        s3.put(key)
    await nightly(bot)
    (name,) = archives(settings)
    assert s3.keys() == sorted([*others, PREFIX + recent, PREFIX + name])

    # Months later every copy is past retention: the newest one stays all the same.
    clock.advance(days=90)
    report = await copy_offsite(job_context(bot), None)
    assert report is not None and report.removed == [recent]
    assert s3.keys() == sorted([*others, PREFIX + name])


# --- Telegram ----------------------------------------------------------------------------------


@pytest.mark.parametrize("offsite", ["telegram"])
async def test_telegram_gets_each_nightly_archive_as_a_document(
    bot: BotHarness, settings: Settings
) -> None:
    await nightly(bot)
    (name,) = archives(settings)
    (document,) = bot.api.sent_to(ADMIN_CHAT_ID)
    assert document.document == (settings.backups.dir / name).read_bytes()
    assert document.document_name == name
    assert f"Off-site copy of backup {name}" in document.plain
    [(archive, status, attempts, error)] = await copies(bot)
    assert (archive, status, attempts, error) == (name, "sent", 1, None)
    [(ref,)] = await db_rows(bot, "SELECT remote_ref FROM offsite_copies")
    assert ref == f"telegram message {document.message_id} in chat {ADMIN_CHAT_ID}"


@pytest.mark.parametrize("offsite", ["telegram"])
async def test_a_refused_document_is_retried_next_night_and_sent_once(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    bot.api.fail("sendDocument", status=500)
    await nightly(bot)
    (first,) = archives(settings)
    (alert,) = admin_chat(bot)
    assert "Off-site copy failed" in alert and first in alert
    clock.advance(days=1)
    await nightly(bot)
    second = archives(settings)[-1]
    documents = [m.document_name for m in bot.api.sent_to(ADMIN_CHAT_ID) if m.document]
    assert documents == [first, second]
    await copy_offsite(job_context(bot), None)  # another run: nothing is pending
    assert [m.document_name for m in bot.api.sent_to(ADMIN_CHAT_ID) if m.document] == documents


@pytest.mark.parametrize("offsite", ["telegram"])
async def test_an_archive_over_45_mb_is_not_sent_and_the_admins_are_told(
    bot: BotHarness, settings: Settings
) -> None:
    settings.backups.dir.mkdir(parents=True, exist_ok=True)
    name = "verzek-20260101T000000Z.tar.gz"
    with (settings.backups.dir / name).open("wb") as big:
        big.truncate(TELEGRAM_MAX_BYTES + 1)  # sparse: costs no disk
    await copy_offsite(job_context(bot), name)
    assert "sendDocument" not in [method for method, _ in bot.api.calls]
    (alert,) = admin_chat(bot)
    assert f"Not copied off-site: {name} is 45.0 MB" in alert and "over the 45.0 MB" in alert
    assert await copies(bot) == [(name, "too_big", 0, None)]
    await copy_offsite(job_context(bot), None)  # not pending: not tried, not re-alerted
    assert len(admin_chat(bot)) == 1


async def test_the_fake_bot_api_takes_documents_as_telegram_does(
    bot: BotHarness, tmp_path: Path
) -> None:
    sent = await bot.app.bot.send_document(ADMIN_CHAT_ID, b"archive", filename="a.tar.gz")
    assert sent.document is not None and sent.document.file_name == "a.tar.gz"
    assert sent.document.file_size == len(b"archive")
    with pytest.raises(BadRequest, match=r"(?i)file must be non-empty"):
        await bot.app.bot.send_document(ADMIN_CHAT_ID, b"", filename="empty.tar.gz")
    with pytest.raises(NetworkError):  # Telegram answers 413 Request Entity Too Large
        await bot.app.bot.send_document(
            ADMIN_CHAT_ID, b"\0" * (50 * 1024 * 1024 + 1), filename="big.tar.gz"
        )


# --- nothing configured, and the pure rules ------------------------------------------------


@pytest.mark.parametrize("offsite", [""])
async def test_without_offsite_nothing_is_recorded_or_sent(
    bot: BotHarness, settings: Settings
) -> None:
    await nightly(bot)
    assert len(archives(settings)) == 1
    assert await copies(bot) == []
    assert bot.api.sent_to(ADMIN_CHAT_ID) == []


def test_the_place_is_parsed_strictly() -> None:
    target = parse_offsite("s3://my.bucket-1/a/b")
    assert target is not None and target.kind is OffsiteKind.S3
    assert (target.bucket, target.prefix, target.key("x")) == ("my.bucket-1", "a/b/", "a/b/x")
    bare, telegram = parse_offsite("s3://bucket"), parse_offsite(" telegram ")
    assert bare is not None and bare.prefix == ""
    assert telegram is not None and telegram.kind is OffsiteKind.TELEGRAM
    assert parse_offsite("") is None


def test_remote_retention_keeps_the_newest_and_ignores_other_names() -> None:
    clock = FakeClock()
    now = clock.now()
    names = ["verzek-20251101T020000Z.tar.gz", "verzek-20251102T020000Z.tar.gz", "x.tar.gz"]
    assert remote_doomed(names, now, 30) == ["verzek-20251101T020000Z.tar.gz"]
    assert remote_doomed(names[:1], now, 30) == []
    assert remote_doomed([], now, 30) == []
    later = now + timedelta(days=1)
    assert remote_doomed(["verzek-20251231T020000Z.tar.gz", names[0]], later, 30) == [names[0]]


def test_a_changed_or_gone_archive_is_not_sent() -> None:
    clock = FakeClock()
    copy = OffsiteCopy(
        "verzek-20260101T000000Z.tar.gz", "telegram", CopyStatus.PENDING, 10, 0, clock.now()
    )
    target = parse_offsite("telegram")
    assert target is not None
    assert decide(copy, target, 10).action is CopyStatus.SENT
    assert decide(copy, target, None).action is CopyStatus.GONE
    changed = decide(copy, target, 11)
    assert changed.action is CopyStatus.PENDING and "changed since it was written" in str(
        changed.problem
    )


@pytest.mark.parametrize("offsite", ["telegram"])
async def test_a_restore_does_not_send_again_what_was_copied_since_its_backup(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """The off-site state is about files a restore leaves alone: the live record wins."""
    bot.api.fail("sendDocument", status=500)
    await nightly(bot)  # A: not sent, pending
    (first,) = archives(settings)
    clock.advance(hours=1)
    taken = await bot.services.backups.create(OPERATOR)  # holds A as pending
    clock.advance(days=1)
    await nightly(bot)  # sends A, then C
    sent = [m.document_name for m in bot.api.sent_to(ADMIN_CHAT_ID) if m.document]
    assert sent[0] == first and len(sent) == 2

    await bot.services.backups.restore(OPERATOR, taken.name)
    clock.advance(days=1)
    await nightly(bot)  # D only: A and C were sent already
    again = [m.document_name for m in bot.api.sent_to(ADMIN_CHAT_ID) if m.document]
    assert again[:2] == sent and len(again) == 3, again
