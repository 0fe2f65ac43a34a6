"""Shared by the first-day tests: ``verzek`` as a subprocess, and databases made by a key."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from core.clock import from_iso, to_iso
from core.config import EncryptionSettings, Secret
from core.crypto import EncryptionService

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0
CONFIG_PREFIXES = ("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "TRONSCAN_", "ADMIN_")


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any bot configuration, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    return {**env, "PYTHONPATH": str(REPO_ROOT), "PYTHONIOENCODING": "utf-8", **extra}


def verzek(
    *args: str, env: dict[str, str], cwd: Path, stdin: str = "", timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """``verzek ARGS`` exactly as an operator runs it (``python -m bot.cli``)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def verzek_lines(stderr: str) -> list[str]:
    """The ``verzek:`` lines of an output."""
    return [line for line in stderr.splitlines() if line.startswith("verzek:")]


def assert_one_line_failure(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit non-zero, exactly one ``verzek:`` line holding ``words``, nothing else on stderr
    (no traceback, no log noise before it); returns the line."""
    assert done.returncode != 0, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("verzek: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


def crypto_for(key: str, *old: str) -> EncryptionService:
    return EncryptionService(EncryptionSettings(Secret(key), tuple(Secret(o) for o in old)))


def sql(path: Path, statement: str, *params: object) -> list[tuple[Any, ...]]:
    """One statement on the database file, committed."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        return list(conn.execute(statement, params).fetchall())


def add_totp_secret(path: Path, key: str, account_id: int = 1) -> None:
    """A user with a TOTP secret encrypted under ``key``, as /2fa_enroll stores one."""
    token = crypto_for(key).encrypt("JBSWY3DPEHPK3PXP", owner=account_id, purpose="totp")
    sql(
        path,
        "INSERT INTO users (id, email, password_hash, referral_code, created_at) "
        "VALUES (?, ?, 'x', ?, '2026-01-01T00:00:00.000000Z')",
        account_id,
        f"user{account_id}@example.com",
        f"REF{account_id:05d}",
    )
    sql(
        path,
        "INSERT INTO mfa (account_id, secret_enc, created_at) "
        "VALUES (?, ?, '2026-01-01T00:00:00.000000Z')",
        account_id,
        token,
    )


def make_pre_check(path: Path) -> None:
    """Turn a database into one from before the key check existed (no table, older schema).

    When later migrations follow the key check's (numbers are assigned at merge), undoing it
    alone would leave a gap: then only its row goes, which the code treats the same way."""
    [(version,)] = sql(path, "SELECT version FROM schema_migrations WHERE name = 'key_check'")
    [(latest,)] = sql(path, "SELECT MAX(version) FROM schema_migrations")
    if version != latest:
        sql(path, "DELETE FROM key_check")
        return
    sql(path, "DROP TABLE key_check")
    sql(path, "DELETE FROM schema_migrations WHERE version = ?", version)
    sql(path, f"PRAGMA user_version = {int(version) - 1}")


def key_check_rows(path: Path) -> list[tuple[object, ...]]:
    try:
        return sql(path, "SELECT id, mac, written_at FROM key_check")
    except sqlite3.OperationalError:
        return []


def table_counts(path: Path) -> dict[str, int]:
    """Rows per table: what "nothing was written" is checked against."""
    names = [row[0] for row in sql(path, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {str(name): int(sql(path, f"SELECT COUNT(*) FROM {name}")[0][0]) for name in names}


def add_signed_invoice(path: Path, key: str, account_id: int = 2) -> None:
    """A user with an invoice signed under ``key`` (and no encrypted secret at all)."""
    from core.payments.ports import InvoiceRecord, InvoiceStatus
    from core.signing import INVOICE_SIGNATURE, sign_record

    sql(
        path,
        "INSERT INTO users (id, email, password_hash, referral_code, created_at) "
        "VALUES (?, ?, 'x', ?, '2026-01-01T00:00:00.000000Z')",
        account_id,
        f"user{account_id}@example.com",
        f"REF{account_id:05d}",
    )
    invoice = InvoiceRecord(
        id=1,
        account_id=account_id,
        plan="basic",
        tier="basic",
        days=30,
        amount_micro=29_000_000,
        receive_address="TZD1sZDTkX2EBJbznmRxs4zLWv88adepJa",
        created_at=from_iso("2026-01-01T00:00:00.000000Z"),
        expires_at=from_iso("2026-01-02T00:00:00.000000Z"),
        status=InvoiceStatus.OPEN,
        signature=None,
    )
    sql(
        path,
        "INSERT INTO invoices (id, account_id, plan, tier, days, amount_micro, receive_address, "
        "created_at, expires_at, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        invoice.id,
        invoice.account_id,
        invoice.plan,
        invoice.tier,
        invoice.days,
        invoice.amount_micro,
        invoice.receive_address,
        to_iso(invoice.created_at),
        to_iso(invoice.expires_at),
        sign_record(crypto_for(key), INVOICE_SIGNATURE, invoice),
    )
