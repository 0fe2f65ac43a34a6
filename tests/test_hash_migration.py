"""Migration 0012 (a hash is held only while its payment is pending or approved) on a database
that already has payments, licenses and wallet entries pointing at them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import storage.migrator as migrator
from storage.audit_repository import SqliteAuditRepository
from storage.database import Database

T = "2025-11-28T03:00:00Z"


def _fill(path: Path) -> None:
    """Rows as version 11 stores them: two payments, a license and a ledger entry on #1."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, referral_code, created_at)"
            " VALUES (1, 'a@example.com', 'x', 'CODE', ?)",
            (T,),
        )
        conn.execute(
            "INSERT INTO invoices (id, account_id, plan, tier, days, amount_micro,"
            " receive_address, created_at, expires_at, status, signature)"
            " VALUES (1, 1, 'basic', 'basic', 30, 29000000, 'T', ?, ?, 'paid', 'sig')",
            (T, T),
        )
        for n, status in ((1, "approved"), (2, "failed"), (3, "failed")):
            conn.execute(
                "INSERT INTO payments (id, invoice_id, account_id, telegram_user_id, tx_hash,"
                " expected_micro, status, submitted_at) VALUES (?, 1, 1, 5, ?, 29000000, ?, ?)",
                (n, f"{n:064x}", status, T),
            )
        conn.execute("DELETE FROM payments WHERE id = 3")  # the newest id was used once
        conn.execute(
            "INSERT INTO licenses (account_id, payment_id, plan, tier, starts_at, ends_at,"
            " created_at) VALUES (1, 1, 'basic', 'basic', ?, '2025-12-28T03:00:00Z', ?)",
            (T, T),
        )
        conn.execute(
            "INSERT INTO wallet_entries (account_id, amount_micro, kind, payment_id, created_at)"
            " VALUES (1, 100, 'referral_commission', 1, ?)",
            (T,),
        )


async def test_0012_keeps_rows_ids_and_foreign_keys_and_holds_hashes_while_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    every = migrator.available_migrations()
    assert (every[11].version, every[11].foreign_keys_off) == (12, True)
    monkeypatch.setattr(migrator, "available_migrations", lambda: every[:11])
    old = Database(path)
    await old.open()
    await old.close()
    _fill(path)
    monkeypatch.undo()

    db = Database(path)
    applied = await db.open()
    # 12 and every migration after it (never a hard-coded last number: later ones are added).
    assert [m.version for m in applied] == list(range(12, migrator.code_schema_version() + 1))
    async with db.unit_of_work(read_only=True) as uow:
        assert isinstance(uow.audit, SqliteAuditRepository)
        conn = uow.audit._conn
        async with conn.execute("PRAGMA foreign_keys") as cur:
            assert await cur.fetchone() == (1,)  # back on after the rebuild
    await db.close()

    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA foreign_keys = ON")
        assert raw.execute("SELECT id, status FROM payments ORDER BY id").fetchall() == [
            (1, "approved"),
            (2, "failed"),
        ]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        assert raw.execute("SELECT payment_id FROM licenses").fetchall() == [(1,)]
        indexes = {row[1] for row in raw.execute("PRAGMA index_list(payments)")}
        assert {"payments_tx_hash_held", "payments_pending", "payments_by_invoice"} <= indexes
        insert = (
            "INSERT INTO payments (invoice_id, account_id, telegram_user_id, tx_hash,"
            " expected_micro, submitted_at) VALUES (1, 1, 5, ?, 29000000, ?)"
        )
        # A failed payment's hash is free again; a payment id is never reused.
        cursor = raw.execute(insert, (f"{2:064x}", T))
        assert cursor.lastrowid == 4
        with pytest.raises(sqlite3.IntegrityError):  # the approved one still holds its hash
            raw.execute(insert, (f"{1:064x}", T))
        with pytest.raises(sqlite3.IntegrityError):  # so does the pending one just added
            raw.execute(insert, (f"{2:064x}", T))
        with pytest.raises(sqlite3.IntegrityError):  # money rows are never cascaded away
            raw.execute("DELETE FROM payments WHERE id = 1")
