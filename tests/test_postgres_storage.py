"""The PostgreSQL backend keeps SQLite's storage contract across instances (SPEC §13).

Two ``PostgresDatabase`` objects on one database stand for two bot instances: their writers
take turns (one audit chain, never forked), a read-only unit sees one snapshot, a unit rolls
back unless committed, a refused insert leaves its unit usable (as on SQLite), and the DSN's
password is never in what the backend prints or raises.
"""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest

from core.accounts.ports import EndReason
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import FakeClock
from core.config_values import SecretUrl
from core.errors import DuplicateError, StorageError
from storage.postgres.connection import numbered
from storage.postgres.database import PostgresDatabase
from storage.postgres.migrator import code_schema_version
from tests.support import raw_db
from tests.support.chain_keys import chain_keys

pytestmark = pytest.mark.postgres_only


def login_failed(n: int) -> AuditEvent:
    return AuditEvent(
        EventType.LOGIN_FAILED,
        Severity.WARNING,
        account_id=None,
        telegram_user_id=1000 + n,
        details={"attempt": n, "note": "ünïcode ✓"},
    )


@pytest.fixture
async def two(postgres_url: str):
    """Two instances' databases on one PostgreSQL database."""
    first, second = PostgresDatabase(postgres_url), PostgresDatabase(postgres_url)
    await first.open()
    await second.open()
    yield first, second
    await first.close()
    await second.close()


async def test_two_instances_writing_at_once_keep_one_chain(two) -> None:
    first, second = two
    logs = [AuditLog(db.unit_of_work, FakeClock(), keys=chain_keys()) for db in two]
    await asyncio.gather(
        *(logs[0].record(login_failed(n)) for n in range(60)),
        *(logs[1].record(login_failed(n)) for n in range(60)),
    )
    rows = [row async for row in logs[1].export()]
    assert [row.id for row in rows] == list(range(1, 121))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert (await logs[0].verify()).ok and (await logs[1].verify()).checked == 120
    assert first is not second


async def test_a_writer_waits_for_the_other_instances_writer(two) -> None:
    first, second = two
    order: list[str] = []
    async with first.unit_of_work() as uow:
        other = asyncio.create_task(_write_after(second, order))
        await asyncio.sleep(0.3)  # the other instance is now waiting for the writer lock
        order.append("first commits")
        await uow.commit()
    await other
    assert order == ["first commits", "second writes"]


async def _write_after(db: PostgresDatabase, order: list[str]) -> None:
    async with db.unit_of_work() as uow:
        order.append("second writes")
        await uow.commit()


async def test_a_read_only_unit_sees_one_snapshot(two, postgres_url: str) -> None:
    first, second = two
    log = AuditLog(second.unit_of_work, FakeClock(), keys=chain_keys())
    await log.record(login_failed(1))
    async with first.unit_of_work(read_only=True) as uow:
        before = await uow.audit.head()
        await log.record(login_failed(2))  # another instance commits meanwhile
        assert await uow.audit.head() == before
        assert [row.id async for row in uow.audit.iter_rows()] == [1]
    async with first.unit_of_work(read_only=True) as uow:
        head = await uow.audit.head()
        assert head is not None and head.last_id == 2


async def test_a_read_only_unit_cannot_write(two) -> None:
    first, _ = two
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with first.unit_of_work(read_only=True) as uow:
            await uow.sessions.end(1, FakeClock().now(), EndReason.LOGGED_OUT)


async def test_a_unit_rolls_back_unless_committed(two, postgres_url: str) -> None:
    first, second = two
    log = AuditLog(first.unit_of_work, FakeClock(), keys=chain_keys())
    async with first.unit_of_work() as uow:
        await log.append(uow, login_failed(1))  # never committed
    with pytest.raises(RuntimeError):
        async with first.unit_of_work() as uow:
            await log.append(uow, login_failed(2))
            raise RuntimeError("service failed half-way")
    assert await raw_db.rows(postgres_url, "SELECT COUNT(*) FROM audit_events") == [(0,)]
    # The pool's connections came back clean: the next writer of either instance proceeds.
    await AuditLog(second.unit_of_work, FakeClock(), keys=chain_keys()).record(login_failed(3))
    assert await raw_db.rows(postgres_url, "SELECT id FROM audit_events") == [(1,)]


async def test_a_refused_insert_leaves_the_unit_usable_as_on_sqlite(two, postgres_url) -> None:
    first, _ = two
    now = FakeClock().now()
    async with first.unit_of_work() as uow:
        kept = await uow.accounts.add(
            email="a@example.com", password_hash="x", referral_code="AAAA0001",
            referred_by=None, created_at=now,
        )  # fmt: skip
        with pytest.raises(DuplicateError):
            await uow.accounts.add(
                email="a@example.com", password_hash="y", referral_code="AAAA0002",
                referred_by=None, created_at=now,
            )  # fmt: skip
        other = await uow.accounts.add(
            email="b@example.com", password_hash="z", referral_code="AAAA0003",
            referred_by=None, created_at=now,
        )  # fmt: skip
        await uow.commit()
    emails = await raw_db.rows(postgres_url, "SELECT id, email FROM users ORDER BY id")
    assert emails == [(kept, "a@example.com"), (other, "b@example.com")]


async def test_a_unit_inside_another_fails_fast_instead_of_deadlocking(two) -> None:
    first, _ = two
    async with first.unit_of_work():
        with pytest.raises(RuntimeError, match="inside another one"):
            async with first.unit_of_work(read_only=True):
                pass
    async with first.unit_of_work(read_only=True):  # the gate was left properly
        pass


async def test_exclusive_holds_off_the_other_instances_writers(two) -> None:
    first, second = two
    order: list[str] = []
    async with first.exclusive() as close:
        other = asyncio.create_task(_write_after(second, order))
        async with first.unit_of_work_in_exclusive() as uow:
            await uow.commit()  # the holder itself may still write
        await asyncio.sleep(0.3)
        order.append("restore done")
        await close()
    await other
    assert order == ["restore done", "second writes"]
    assert await first.schema_version() == code_schema_version()  # reopened on leaving


async def test_schema_version_and_reopen(postgres_url: str) -> None:
    db = PostgresDatabase(postgres_url)
    assert await db.open() == []  # the template is migrated already
    assert await db.schema_version() == code_schema_version()
    await db.close()
    await db.close()  # twice is harmless
    with pytest.raises(StorageError, match="not open"):
        async with db.unit_of_work():
            pass


def test_placeholders_are_numbered_outside_quotes_and_comments() -> None:
    sql = "SELECT '?', \"a?\" FROM t -- what?\nWHERE a = ? AND b = '' || ? /* ? */ AND c = ?"
    assert numbered(sql) == (
        "SELECT '?', \"a?\" FROM t -- what?\nWHERE a = $1 AND b = '' || $2 /* ? */ AND c = $3"
    )
    assert numbered("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', $1"


# -- the password in the DSN ----------------------------------------------------------------------

PASSWORD = "pw-Zq8v!never-shown"


async def test_the_dsn_password_is_never_shown(postgres_server) -> None:
    url = postgres_server.url("no_such_database", user="nobody", password=PASSWORD)
    db = PostgresDatabase(url)
    assert PASSWORD not in repr(db) and PASSWORD not in str(db)
    assert PASSWORD not in repr(db.dsn) and db.dsn.get() == url
    with pytest.raises(StorageError) as refused:
        await db.open()
    shown = f"{refused.value} {refused.value!r} {refused.value.__cause__!r}"
    assert PASSWORD not in shown and "***" in shown
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_the_config_masks_the_database_url() -> None:
    from core.config import load_settings

    settings = load_settings(None, {"VERZEK_DATABASE_URL": f"postgresql://u:{PASSWORD}@db/v"})
    assert settings.database.url == SecretUrl(f"postgresql://u:{PASSWORD}@db/v")
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.database.place()
    with pytest.raises(Exception) as wrong:
        load_settings(None, {"VERZEK_DATABASE_URL": f"mysql://u:{PASSWORD}@db/v"})
    assert PASSWORD not in str(wrong.value)
