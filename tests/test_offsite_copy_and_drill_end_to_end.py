"""Off-site copies and the restore drill, end to end: the nightly sealed archive goes to S3
(moto's server on a loopback port) and the copy passes the drill, a pending copy swapped for a
same-size forgery never leaves, with ``offsite = "telegram"`` the archive is a silent document in
the backups topic, and the drill job reports with row counts, silently, and audits its outcome.

Issue #18 end to end: the bot runs as it does in production (the real PTB Application against the
fake Bot API, tests/support/running_deployment.py) and the commands run through ``verzek``'s entry
point with the bot stopped, over the same files. The attack variants live in
tests/attacks/test_offsite_copies.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.jobs.backups import DRILL_JOB_NAME, JOB_NAME, restore_drill
from bot.jobs.offsite import copy_offsite
from core.audit.log import Severity
from core.clock import FakeClock
from core.config import Settings, load_settings
from tests.support import postgres, raw_db
from tests.support.offsite_steps import BUCKET, LocalS3, local_s3
from tests.support.running_deployment import (
    BACKUPS_TOPIC,
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
