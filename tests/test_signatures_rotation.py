"""Signed rows survive a key rotation (SPEC §4, §7): old keys verify, `verzek rotate-key`
re-signs what verifies and refuses what does not, and the registry covers every signed table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from bot.cli import main
from core.accounts.sessions import Session
from core.clock import FakeClock
from core.config import EncryptionSettings, Secret, Settings, load_settings
from core.crypto import EncryptionService, generate_master_key
from core.payments.ports import PaymentRecord
from core.payments.wallet import WalletLedger
from core.services import Services
from storage.database import Database
from storage.signatures_repository import SIGNED_TABLES
from tests.support import raw_db
from tests.support.fake_tronscan import FakeTronscan, payments_config, success, tx_hash
from tests.support.services import build_services


def service(master: str, *old: str) -> EncryptionService:
    return EncryptionService(EncryptionSettings(Secret(master), tuple(Secret(k) for k in old)))


# --- the keys ------------------------------------------------------------------------------


def test_old_keys_verify_and_only_the_newest_signs() -> None:
    old, new, other = generate_master_key(), generate_master_key(), generate_master_key()
    fields = ("payment/v1", 1, 2, "abc", 29_000_000)
    by_old = service(old).sign(*fields)
    rotated = service(new, other, old)
    assert rotated.verify_signature(by_old, *fields)
    assert rotated.signed_by(by_old, *fields) == 2  # ENCRYPTION_OLD_KEYS entry 2
    assert not rotated.verify_signature(by_old, "payment/v1", 1, 2, "abc", 29_000_001)
    assert not service(new).verify_signature(by_old, *fields)  # the old key dropped

    by_new = rotated.sign(*fields)
    assert rotated.signed_by(by_new, *fields) == 0
    assert service(new).verify_signature(by_new, *fields)
    assert not service(old).verify_signature(by_new, *fields)
    for junk in ("", "zz", "é" * 64, by_old.upper()):
        assert rotated.signed_by(junk, *fields) is None


# --- the registry --------------------------------------------------------------------------


async def test_every_signed_table_is_registered_with_real_columns(tmp_path: Path) -> None:
    database = Database(tmp_path / "schema.db")
    await database.open()
    await database.close()
    async with aiosqlite.connect(tmp_path / "schema.db") as conn:
        async with conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ) as cur:
            tables = [row[0] for row in await cur.fetchall()]
        columns = {}
        for table in tables:
            async with conn.execute(f"PRAGMA table_info({table})") as cur:
                columns[table] = {row[1] for row in await cur.fetchall()}
    signed_in_schema = {table for table in tables if "signature" in columns[table]}
    registered = {spec.table for spec in SIGNED_TABLES}
    assert signed_in_schema == registered, (
        "every table with a signature column must be listed in SIGNED_TABLES "
        "(storage/signatures_repository.py), or `verzek rotate-key` will not re-sign it"
    )
    for spec in SIGNED_TABLES:
        missing = {spec.id_column, spec.signature_column, *spec.fields.fields} - columns[spec.table]
        assert not missing, f"{spec.table}: {missing} are not columns"
    labels = [spec.fields.label for spec in SIGNED_TABLES]
    assert len(set(labels)) == len(labels)


# --- rotation through the real services ----------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 11, 28, 3, 0, tzinfo=UTC))


@pytest.fixture
def fake() -> FakeTronscan:
    return FakeTronscan()


@pytest.fixture
def keys(master_key: str) -> dict[str, str]:
    return {"old": master_key, "new": generate_master_key()}


def settings_with(tmp_path: Path, env: dict[str, str], master: str, *old: str) -> Settings:
    env = {**env, "ENCRYPTION_MASTER_KEY": master, "ENCRYPTION_OLD_KEYS": ",".join(old)}
    return load_settings(payments_config(tmp_path), env)


async def started(settings: Settings, clock: FakeClock, fake: FakeTronscan) -> Services:
    return await build_services(settings, clock, chain=fake.client(settings.tronscan))


async def account(services: Services, n: int, referred_by: int | None = None) -> Session:
    async with services.uow() as uow:
        account_id = await uow.accounts.add(
            email=f"user{n}@example.com",
            password_hash="x",
            referral_code=f"CODE{n:04d}",
            referred_by=referred_by,
            created_at=services.clock.now(),
        )
        await uow.commit()
    now = services.clock.now()
    return Session(account_id * 100, account_id, 5000 + n, now, now + timedelta(hours=1))


async def buy(services: Services, fake: FakeTronscan, user: Session, n: int) -> PaymentRecord:
    """A basic plan paid on the (fake) chain and approved by verification."""
    invoice = await services.payments.create_invoice(user, "basic")
    tx = success(tx_hash=tx_hash(n), amount_str=str(invoice.amount_micro))
    payment = await services.payments.submit(user, invoice.id, fake.add(tx))
    report = await services.payments.check(payment.id)
    assert report.decided and report.payment.status == "approved"
    return report.payment


async def sql(path: raw_db.Target, statement: str, *params: object) -> list[tuple]:
    if statement.lstrip().upper().startswith("SELECT"):
        return await raw_db.rows(path, statement, *params)
    await raw_db.execute(path, statement, *params)
    return []


async def rotate(monkeypatch: pytest.MonkeyPatch, db: raw_db.Target, keys: dict[str, str]) -> int:
    monkeypatch.setenv("VERZEK_DB", str(db))
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", keys["new"])
    monkeypatch.setenv("ENCRYPTION_OLD_KEYS", keys["old"])
    return await asyncio.to_thread(main, ["rotate-key"])


class World:
    """What the old key signed: alice's and bob's basic plans, their referrer's commissions."""

    referrer: Session
    alice: Session
    bob: Session
    payments: list[PaymentRecord]
    commission: int


@pytest.fixture
async def world(
    tmp_path: Path, env: dict[str, str], keys: dict[str, str], clock: FakeClock, fake: FakeTronscan
) -> AsyncIterator[World]:
    services = await started(settings_with(tmp_path, env, keys["old"]), clock, fake)
    built = World()
    try:
        built.referrer = await account(services, 1)
        built.alice = await account(services, 2, referred_by=built.referrer.account_id)
        built.bob = await account(services, 3, referred_by=built.referrer.account_id)
        built.payments = [
            await buy(services, fake, built.alice, 1),
            await buy(services, fake, built.bob, 2),
        ]
        async with services.uow(read_only=True) as uow:
            balance = await WalletLedger(services.crypto).balance(uow, built.referrer.account_id)
        assert balance.untrusted_entry_ids == ()
        built.commission = balance.micro
    finally:
        await services.aclose()  # `verzek rotate-key` runs with the bot stopped
    yield built


async def signatures(db: raw_db.Target) -> dict[str, list[tuple]]:
    return {
        spec.table: await sql(db, f"SELECT id, signature FROM {spec.table} ORDER BY id")
        for spec in SIGNED_TABLES
    }


async def test_rotation_resigns_everything_and_the_old_key_can_go(
    tmp_path: Path,
    env: dict[str, str],
    keys: dict[str, str],
    clock: FakeClock,
    fake: FakeTronscan,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = raw_db.bot_database(env)
    before = await signatures(db)

    # The bug: the new key alone, without a rotation, trusts nothing the old key signed.
    services = await started(settings_with(tmp_path, env, keys["new"]), clock, fake)
    try:
        assert await services.licenses.status(world.alice.account_id) is None
    finally:
        await services.aclose()

    # New key with the old one kept, before any rotation: everything still verifies.
    services = await started(settings_with(tmp_path, env, keys["new"], keys["old"]), clock, fake)
    try:
        status = await services.licenses.status(world.alice.account_id)
        assert status is not None and status.tier == "basic"
        assert (await services.payments.history(world.alice.account_id)).untrusted == frozenset()
    finally:
        await services.aclose()

    capsys.readouterr()
    assert await rotate(monkeypatch, db, keys) == 0
    out = capsys.readouterr().out
    for line in (
        "invoices: 2 re-signed, 0 already current, 0 refused (bad signature)",
        "payments: 2 re-signed, 0 already current, 0 refused (bad signature)",
        "licenses: 2 re-signed, 0 already current, 0 refused (bad signature)",
        "wallet_entries: 2 re-signed, 0 already current, 0 refused (bad signature)",
        "total: 8 re-signed across",
    ):
        assert line in out
    after = await signatures(db)
    for table, rows in before.items():
        assert [row_id for row_id, _ in after[table]] == [row_id for row_id, _ in rows]
        for (_, old_sig), (_, new_sig) in zip(rows, after[table], strict=True):
            assert old_sig != new_sig  # every signed row moved to the new key

    # Running it again changes nothing.
    assert await rotate(monkeypatch, db, keys) == 0
    assert "licenses: 0 re-signed, 2 already current, 0 refused" in capsys.readouterr().out
    assert await signatures(db) == after

    # The old key dropped: licenses give their tier, balances stand, payments verify.
    services = await started(settings_with(tmp_path, env, keys["new"]), clock, fake)
    try:
        for user in (world.alice, world.bob):
            status = await services.licenses.status(user.account_id)
            assert status is not None and status.tier == "basic"
        async with services.uow(read_only=True) as uow:
            balance = await WalletLedger(services.crypto).balance(uow, world.referrer.account_id)
            invoices = [await uow.payments.invoice(p.invoice_id) for p in world.payments]
        assert balance.micro == world.commission == 2 * 2_900_000
        assert balance.untrusted_entry_ids == ()
        for invoice in invoices:
            assert invoice is not None and services.payments.invoice_is_authentic(invoice)
        for payment in world.payments:
            report = await services.payments.check(payment.id)
            assert report.signature_ok is True
        assert (await services.payments.history(world.alice.account_id)).untrusted == frozenset()
        # New rows are signed by the new key alone.
        carol = await account(services, 4, referred_by=world.referrer.account_id)
        await buy(services, fake, carol, 3)
        carol_status = await services.licenses.status(carol.account_id)
        assert carol_status is not None and carol_status.tier == "basic"
        # (The alert that the audit chain's key changed, which the rotation raises, aside.)
        findings = [
            r
            async for r in services.audit.export()
            if r.details.get("rule") not in (None, "audit_chain_key")
        ]
        assert [f.details["row"] for f in findings] == ["license"]  # only the no-rotation probe
    finally:
        await services.aclose()


async def test_rotation_refuses_rows_tampered_before_it(
    tmp_path: Path,
    env: dict[str, str],
    keys: dict[str, str],
    clock: FakeClock,
    fake: FakeTronscan,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = raw_db.bot_database(env)
    bob = world.bob.account_id
    # Bob upgrades his license and inflates his referrer's commission; a third row loses its
    # signature altogether. Rotation must not launder any of them.
    await sql(db, "UPDATE licenses SET tier = 'pro' WHERE account_id = ?", bob)
    await sql(
        db,
        "UPDATE wallet_entries SET amount_micro = 500000000 WHERE payment_id = ?",
        world.payments[1].id,
    )
    await sql(db, "UPDATE invoices SET signature = NULL WHERE account_id = ?", bob)
    before = await signatures(db)

    capsys.readouterr()
    assert await rotate(monkeypatch, db, keys) == 1
    captured = capsys.readouterr()
    for line in (
        "invoices: 1 re-signed, 0 already current, 1 refused (bad signature)",
        "payments: 2 re-signed, 0 already current, 0 refused (bad signature)",
        "licenses: 1 re-signed, 0 already current, 1 refused (bad signature)",
        "wallet_entries: 1 re-signed, 0 already current, 1 refused (bad signature)",
    ):
        assert line in captured.out
    [message] = captured.err.strip().splitlines()
    assert message.startswith("verzek: 3 signed rows fail their signature")
    # Refused rows are left exactly as they were; the others moved to the new key.
    after = await signatures(db)
    kept = {table: {row for row in rows if row in after[table]} for table, rows in before.items()}
    unchanged = {"invoices": 1, "licenses": 1, "wallet_entries": 1}  # the three tampered rows
    assert {table: len(rows) for table, rows in kept.items()} == {
        table: unchanged.get(table, 0) for table in kept
    }
    assert await sql(db, "SELECT signature FROM invoices WHERE account_id = ?", bob) == [(None,)]
    [(license_id,)] = await sql(db, "SELECT id FROM licenses WHERE account_id = ?", bob)
    assert [row_id for row_id, _ in kept["licenses"]] == [license_id]

    # Still refused on a second run, and still untrusted with or without the old key.
    assert await rotate(monkeypatch, db, keys) == 1
    assert "licenses: 0 re-signed, 1 already current, 1 refused" in capsys.readouterr().out
    for configured in ((keys["new"], keys["old"]), (keys["new"],)):
        services = await started(settings_with(tmp_path, env, *configured), clock, fake)
        try:
            assert await services.licenses.status(bob) is None
            alice = await services.licenses.status(world.alice.account_id)
            assert alice is not None and alice.tier == "basic"
            async with services.uow(read_only=True) as uow:
                balance = await WalletLedger(services.crypto).balance(
                    uow, world.referrer.account_id
                )
                bob_invoice = await uow.payments.invoice(world.payments[1].invoice_id)
            assert balance.micro == 2_900_000 and len(balance.untrusted_entry_ids) == 1
            assert bob_invoice is not None
            assert not services.payments.invoice_is_authentic(bob_invoice)
        finally:
            await services.aclose()
