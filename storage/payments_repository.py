"""SQL for invoices and payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import DuplicateError
from core.payments.ports import InvoiceRecord, InvoiceStatus, PaymentRecord, PaymentStatus
from storage.columns import read_time, read_time_or_none, stored_time
from storage.sql import INTEGRITY_ERRORS, SqlConnection, inserted_id

_INVOICE_COLUMNS = (
    "id, account_id, plan, tier, days, amount_micro, receive_address, created_at, expires_at,"
    " status, signature"
)
_PAYMENT_COLUMNS = (
    "id, invoice_id, account_id, telegram_user_id, tx_hash, expected_micro, status, note,"
    " submitted_at, checked_at, checks, decided_at, amount_micro, approved_at,"
    " approved_by_account_id, signature"
)


def _invoice(row: Any) -> InvoiceRecord:
    return InvoiceRecord(
        id=row[0],
        account_id=row[1],
        plan=row[2],
        tier=row[3],
        days=row[4],
        amount_micro=row[5],
        receive_address=row[6],
        created_at=read_time(row[7]),
        expires_at=read_time(row[8]),
        status=InvoiceStatus(row[9]),
        signature=row[10],
    )


def _payment(row: Any) -> PaymentRecord:
    return PaymentRecord(
        id=row[0],
        invoice_id=row[1],
        account_id=row[2],
        telegram_user_id=row[3],
        tx_hash=row[4],
        expected_micro=row[5],
        status=PaymentStatus(row[6]),
        note=row[7],
        submitted_at=read_time(row[8]),
        checked_at=read_time_or_none(row[9]),
        checks=row[10],
        decided_at=read_time_or_none(row[11]),
        amount_micro=row[12],
        approved_at=read_time_or_none(row[13]),
        approved_by_account_id=row[14],
        signature=row[15],
    )


def _placeholders(values: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in values)


class SqlitePaymentsRepository:
    """Invoices and payments in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    # --- invoices --------------------------------------------------------------------------

    async def add_invoice(
        self,
        *,
        account_id: int,
        plan: str,
        tier: str,
        days: int,
        amount_micro: int,
        receive_address: str,
        created_at: datetime,
        expires_at: datetime,
        telegram_user_id: int | None = None,
    ) -> int:
        """Insert an open invoice and return its id."""
        try:
            new_id = await inserted_id(
                self._conn,
                "INSERT INTO invoices (account_id, plan, tier, days, amount_micro,"
                " receive_address, created_at, expires_at, telegram_user_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    account_id,
                    plan,
                    tier,
                    days,
                    amount_micro,
                    receive_address,
                    stored_time(created_at),
                    stored_time(expires_at),
                    telegram_user_id,
                ),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("an open invoice already has this amount") from exc
        return new_id

    async def sign_invoice(self, invoice_id: int, signature: str) -> None:
        """Store the invoice's signature."""
        await self._conn.execute(
            "UPDATE invoices SET signature = ? WHERE id = ?", (signature, invoice_id)
        )

    async def invoice(self, invoice_id: int) -> InvoiceRecord | None:
        """The invoice with this id."""
        rows = await self._rows(
            f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE id = ?",  # noqa: S608
            (invoice_id,),
        )
        return _invoice(rows[0]) if rows else None

    async def open_invoice(
        self, account_id: int, plan: str, *, now: datetime
    ) -> InvoiceRecord | None:
        """The account's newest open, unexpired invoice for ``plan``."""
        rows = await self._rows(
            f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE account_id = ? AND plan = ?"  # noqa: S608
            " AND status = 'open' AND expires_at > ? ORDER BY id DESC LIMIT 1",
            (account_id, plan, stored_time(now)),
        )
        return _invoice(rows[0]) if rows else None

    async def open_invoice_of_telegram_user(
        self, telegram_user_id: int, plan: str, *, now: datetime
    ) -> InvoiceRecord | None:
        """The newest open, unexpired invoice for ``plan`` that ``telegram_user_id`` asked for,
        or that belongs to an account registered from it, whichever account it is on."""
        rows = await self._rows(
            f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE plan = ?"  # noqa: S608
            " AND status = 'open' AND expires_at > ? AND (telegram_user_id = ? OR account_id IN"
            " (SELECT id FROM users WHERE registered_telegram_user_id = ?))"
            " ORDER BY id DESC LIMIT 1",
            (plan, stored_time(now), telegram_user_id, telegram_user_id),
        )
        return _invoice(rows[0]) if rows else None

    async def open_amounts(self, low: int, high: int) -> list[int]:
        """Amounts of open invoices in ``[low, high]`` (the partial unique index answers)."""
        rows = await self._rows(
            "SELECT amount_micro FROM invoices WHERE status = 'open'"
            " AND amount_micro BETWEEN ? AND ? ORDER BY amount_micro",
            (low, high),
        )
        return [int(row[0]) for row in rows]

    async def invoices_for(self, account_id: int, limit: int) -> list[InvoiceRecord]:
        """The account's newest invoices first."""
        rows = await self._rows(
            f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE account_id = ?"  # noqa: S608
            " ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
        return [_invoice(row) for row in rows]

    async def set_invoice_status(
        self, invoice_id: int, status: InvoiceStatus, *, was: InvoiceStatus
    ) -> bool:
        """Compare-and-set of an invoice's status."""
        cursor = await self._conn.execute(
            "UPDATE invoices SET status = ? WHERE id = ? AND status = ?", (status, invoice_id, was)
        )
        return cursor.rowcount == 1

    async def expire_invoices(self, now: datetime) -> int:
        """Expire open invoices past their time that no pending payment still waits on."""
        cursor = await self._conn.execute(
            "UPDATE invoices SET status = 'expired' WHERE status = 'open' AND expires_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM payments"
            " WHERE payments.invoice_id = invoices.id AND payments.status = 'pending')",
            (stored_time(now),),
        )
        return cursor.rowcount

    # --- payments --------------------------------------------------------------------------

    async def add_payment(
        self,
        *,
        invoice_id: int,
        account_id: int,
        telegram_user_id: int,
        tx_hash: str,
        expected_micro: int,
        submitted_at: datetime,
    ) -> int:
        """Insert a pending payment; the partial unique index refuses a hash a pending or
        approved payment holds (failed, rejected and expired ones let go of it)."""
        try:
            new_id = await inserted_id(
                self._conn,
                "INSERT INTO payments (invoice_id, account_id, telegram_user_id, tx_hash,"
                " expected_micro, submitted_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    invoice_id,
                    account_id,
                    telegram_user_id,
                    tx_hash,
                    expected_micro,
                    stored_time(submitted_at),
                ),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("a payment holds this transaction hash") from exc
        return new_id

    async def payment(self, payment_id: int) -> PaymentRecord | None:
        """The payment with this id."""
        rows = await self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = ?",  # noqa: S608
            (payment_id,),
        )
        return _payment(rows[0]) if rows else None

    async def payment_by_tx(self, tx_hash: str) -> PaymentRecord | None:
        """The payment holding this hash (pending or approved), else the newest that used it."""
        rows = await self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE tx_hash = ?"  # noqa: S608
            " ORDER BY status IN ('pending', 'approved', 'partial', 'review') DESC, id DESC"
            " LIMIT 1",
            (tx_hash,),
        )
        return _payment(rows[0]) if rows else None

    async def rejected_by(self, account_id: int, tx_hash: str) -> int | None:
        """The id of a payment of this account with this hash that an admin rejected, if any."""
        rows = await self._rows(
            "SELECT id FROM payments WHERE account_id = ? AND tx_hash = ? AND status = ?"
            " ORDER BY id DESC LIMIT 1",
            (account_id, tx_hash, PaymentStatus.REJECTED.value),
        )
        return int(rows[0][0]) if rows else None

    async def payments_for(self, account_id: int, limit: int) -> list[PaymentRecord]:
        """The account's newest payments first."""
        rows = await self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE account_id = ?"  # noqa: S608
            " ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
        return [_payment(row) for row in rows]

    async def pending(self, limit: int) -> list[PaymentRecord]:
        """Pending payments, never-checked and least recently checked first."""
        rows = await self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE status = 'pending'"  # noqa: S608
            " ORDER BY checked_at IS NOT NULL, checked_at, id LIMIT ?",
            (limit,),
        )
        return [_payment(row) for row in rows]

    async def pending_count(self, invoice_id: int) -> int:
        """Pending payments of one invoice."""
        rows = await self._rows(
            "SELECT COUNT(*) FROM payments WHERE invoice_id = ? AND status = 'pending'",
            (invoice_id,),
        )
        return int(rows[0][0])

    async def record_check(self, payment_id: int, *, at: datetime, note: str) -> None:
        """A verification that left the payment pending."""
        await self._conn.execute(
            "UPDATE payments SET checked_at = ?, checks = checks + 1, note = ?"
            " WHERE id = ? AND status = 'pending'",
            (stored_time(at), note, payment_id),
        )

    async def decide(
        self,
        payment_id: int,
        *,
        status: PaymentStatus,
        note: str,
        at: datetime,
        was: tuple[PaymentStatus, ...],
    ) -> bool:
        """Compare-and-set of a payment's status (never to approved: see :meth:`approve`)."""
        if status is PaymentStatus.APPROVED:
            raise ValueError("approvals go through approve(), which stores the signature")
        cursor = await self._conn.execute(
            "UPDATE payments SET status = ?, note = ?, decided_at = ?, checked_at = ?,"  # noqa: S608
            f" checks = checks + 1 WHERE id = ? AND status IN ({_placeholders(was)})",
            (status, note, stored_time(at), stored_time(at), payment_id, *was),
        )
        return cursor.rowcount == 1

    async def approve(
        self,
        payment_id: int,
        *,
        amount_micro: int,
        approved_at: datetime,
        approved_by_account_id: int | None,
        signature: str,
        note: str,
        was: tuple[PaymentStatus, ...],
    ) -> bool:
        """Approve (with its signature) a payment whose status is in ``was``;
        ``DuplicateError`` when another payment holds its hash meanwhile."""
        at = stored_time(approved_at)
        try:
            cursor = await self._conn.execute(
                "UPDATE payments SET status = 'approved', amount_micro = ?, approved_at = ?,"  # noqa: S608
                " approved_by_account_id = ?, signature = ?, note = ?, decided_at = ?,"
                " checked_at = ?, checks = checks + 1"
                f" WHERE id = ? AND status IN ({_placeholders(was)})",
                (
                    amount_micro,
                    at,
                    approved_by_account_id,
                    signature,
                    note,
                    at,
                    at,
                    payment_id,
                    *was,
                ),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("another payment holds this transaction hash") from exc
        return cursor.rowcount == 1

    async def failed_since(self, account_id: int, since: datetime) -> int:
        """Payments of the account that failed verification after ``since``."""
        rows = await self._rows(
            "SELECT COUNT(*) FROM payments WHERE account_id = ? AND status = 'failed'"
            " AND decided_at > ?",
            (account_id, stored_time(since)),
        )
        return int(rows[0][0])

    async def hold(
        self,
        payment_id: int,
        *,
        status: PaymentStatus,
        amount_micro: int | None,
        held_at: datetime,
        signature: str | None,
        note: str,
        was: tuple[PaymentStatus, ...],
    ) -> bool:
        """Compare-and-set to partial or review, storing the amount that reached us."""
        if status not in (PaymentStatus.PARTIAL, PaymentStatus.REVIEW):
            raise ValueError("hold() only moves payments to partial or review")
        at = stored_time(held_at)
        cursor = await self._conn.execute(
            "UPDATE payments SET status = ?, amount_micro = ?, approved_at = ?, signature = ?,"  # noqa: S608
            " note = ?, decided_at = ?, checked_at = ?, checks = checks + 1"
            f" WHERE id = ? AND status IN ({_placeholders(was)})",
            (status, amount_micro, at, signature, note, at, at, payment_id, *was),
        )
        return cursor.rowcount == 1

    async def partials(self, invoice_id: int) -> list[PaymentRecord]:
        """The invoice's partial payments, by id."""
        rows = await self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE invoice_id = ?"  # noqa: S608
            " AND status = 'partial' ORDER BY id",
            (invoice_id,),
        )
        return [_payment(row) for row in rows]

    async def awaiting_at(self, at: datetime) -> list[InvoiceRecord]:
        """Unpaid invoices whose open time covers ``at``."""
        when = stored_time(at)
        rows = await self._rows(
            f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE status <> 'paid'"  # noqa: S608
            " AND created_at <= ? AND expires_at > ? ORDER BY id",
            (when, when),
        )
        return [_invoice(row) for row in rows]

    async def stale_partials(self, expired_before: datetime, limit: int) -> list[PaymentRecord]:
        """Partial payments of unpaid invoices that expired before ``expired_before``."""
        rows = await self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE status = 'partial'"  # noqa: S608
            " AND invoice_id IN (SELECT id FROM invoices WHERE status <> 'paid'"
            " AND expires_at < ?) ORDER BY id LIMIT ?",
            (stored_time(expired_before), limit),
        )
        return [_payment(row) for row in rows]

    async def awaiting_admin(self, limit: int) -> list[PaymentRecord]:
        """Payments in review, oldest first."""
        rows = await self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE status = 'review'"  # noqa: S608
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [_payment(row) for row in rows]
