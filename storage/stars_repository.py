"""SQL for Telegram Stars invoices and payments (core/payments/stars.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import DuplicateError
from core.payments.stars_rules import StarsInvoiceRecord, StarsInvoiceStatus, StarsPaymentRecord
from storage.columns import read_time, read_time_or_none, stored_time, stored_time_or_none
from storage.sql import INTEGRITY_ERRORS, SqlConnection, inserted_id

_INVOICE = (
    "id, reference, account_id, telegram_user_id, plan, tier, days, price_stars, created_at,"
    " status, signature"
)
_PAYMENT = (
    "id, invoice_id, account_id, telegram_user_id, charge_id, amount_stars, is_recurring,"
    " subscription_expires_at, approved_at, status, refunded_at, renewal_cancelled, signature"
)


def _invoice(row: Any) -> StarsInvoiceRecord:
    return StarsInvoiceRecord(
        id=row[0],
        reference=row[1],
        account_id=row[2],
        telegram_user_id=row[3],
        plan=row[4],
        tier=row[5],
        days=row[6],
        price_stars=row[7],
        created_at=read_time(row[8]),
        status=StarsInvoiceStatus(row[9]),
        signature=row[10],
    )


def _payment(row: Any) -> StarsPaymentRecord:
    return StarsPaymentRecord(
        id=row[0],
        invoice_id=row[1],
        account_id=row[2],
        telegram_user_id=row[3],
        charge_id=row[4],
        amount_stars=row[5],
        is_recurring=bool(row[6]),
        subscription_expires_at=read_time_or_none(row[7]),
        approved_at=read_time(row[8]),
        status=row[9],
        refunded_at=read_time_or_none(row[10]),
        renewal_cancelled=bool(row[11]),
        signature=row[12],
    )


class SqliteStarsRepository:
    """Stars invoices and payments in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def add_invoice(
        self,
        *,
        reference: str,
        account_id: int,
        telegram_user_id: int,
        plan: str,
        tier: str,
        days: int,
        price_stars: int,
        created_at: datetime,
    ) -> int:
        """Insert an open invoice; return its id."""
        new_id = await inserted_id(
            self._conn,
            "INSERT INTO stars_invoices (reference, account_id, telegram_user_id, plan, tier,"
            " days, price_stars, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                reference,
                account_id,
                telegram_user_id,
                plan,
                tier,
                days,
                price_stars,
                stored_time(created_at),
            ),
        )
        return new_id

    async def sign_invoice(self, invoice_id: int, signature: str) -> None:
        """Store an invoice's signature."""
        await self._conn.execute(
            "UPDATE stars_invoices SET signature = ? WHERE id = ?", (signature, invoice_id)
        )

    async def _one_invoice(self, where: str, value: object) -> StarsInvoiceRecord | None:
        async with self._conn.execute(
            f"SELECT {_INVOICE} FROM stars_invoices WHERE {where} = ?",  # noqa: S608
            (value,),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else _invoice(row)

    async def invoice_by_reference(self, reference: str) -> StarsInvoiceRecord | None:
        """The invoice of that reference."""
        return await self._one_invoice("reference", reference)

    async def invoice(self, invoice_id: int) -> StarsInvoiceRecord | None:
        """The invoice of that id."""
        return await self._one_invoice("id", invoice_id)

    async def set_invoice_status(
        self, invoice_id: int, status: StarsInvoiceStatus, *, was: StarsInvoiceStatus
    ) -> bool:
        """Move an invoice from ``was`` to ``status``; False when it was not ``was``."""
        cursor = await self._conn.execute(
            "UPDATE stars_invoices SET status = ? WHERE id = ? AND status = ?",
            (status.value, invoice_id, was.value),
        )
        return cursor.rowcount == 1

    async def add_payment(
        self,
        *,
        invoice_id: int,
        account_id: int,
        telegram_user_id: int,
        charge_id: str,
        amount_stars: int,
        is_recurring: bool,
        subscription_expires_at: datetime | None,
        approved_at: datetime,
    ) -> int:
        """Insert a payment; DuplicateError when its charge id is stored already."""
        try:
            new_id = await inserted_id(
                self._conn,
                "INSERT INTO stars_payments (invoice_id, account_id, telegram_user_id,"
                " charge_id, amount_stars, is_recurring, subscription_expires_at, approved_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    invoice_id,
                    account_id,
                    telegram_user_id,
                    charge_id,
                    amount_stars,
                    int(is_recurring),
                    stored_time_or_none(subscription_expires_at),
                    stored_time(approved_at),
                ),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("this charge is stored already") from exc
        return new_id

    async def sign_payment(self, payment_id: int, signature: str) -> None:
        """Store a payment's signature."""
        await self._conn.execute(
            "UPDATE stars_payments SET signature = ? WHERE id = ?", (signature, payment_id)
        )

    async def payment(self, payment_id: int) -> StarsPaymentRecord | None:
        """The payment of that id."""
        async with self._conn.execute(
            f"SELECT {_PAYMENT} FROM stars_payments WHERE id = ?",  # noqa: S608
            (payment_id,),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else _payment(row)

    async def payments_for(self, account_id: int, limit: int) -> list[StarsPaymentRecord]:
        """The account's payments, newest first."""
        async with self._conn.execute(
            f"SELECT {_PAYMENT} FROM stars_payments WHERE account_id = ?"  # noqa: S608
            " ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        ) as cur:
            return [_payment(row) for row in await cur.fetchall()]

    async def mark_refunded(self, payment_id: int, at: datetime) -> bool:
        """approved -> refunded; False when it was not approved."""
        cursor = await self._conn.execute(
            "UPDATE stars_payments SET status = 'refunded', refunded_at = ?"
            " WHERE id = ? AND status = 'approved'",
            (stored_time(at), payment_id),
        )
        return cursor.rowcount == 1

    async def set_renewal_cancelled(self, payment_id: int, cancelled: bool) -> None:
        """Remember whether the subscription of this payment renews."""
        await self._conn.execute(
            "UPDATE stars_payments SET renewal_cancelled = ? WHERE id = ?",
            (int(cancelled), payment_id),
        )
