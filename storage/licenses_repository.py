"""SQL for licenses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import DuplicateError
from core.payments.ports import LicenseRecord
from storage.columns import read_time, stored_time
from storage.sql import INTEGRITY_ERRORS, SqlConnection, inserted_id

_LICENSE_COLUMNS = (
    "id, account_id, payment_id, plan, tier, starts_at, ends_at, created_at, signature,"
    " stars_payment_id"
)


def _license(row: Any) -> LicenseRecord:
    return LicenseRecord(
        id=row[0],
        account_id=row[1],
        payment_id=row[2],
        plan=row[3],
        tier=row[4],
        starts_at=read_time(row[5]),
        ends_at=read_time(row[6]),
        created_at=read_time(row[7]),
        signature=row[8],
        stars_payment_id=row[9],
    )


class SqliteLicensesRepository:
    """Licenses in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        account_id: int,
        payment_id: int | None,
        plan: str,
        tier: str,
        starts_at: datetime,
        ends_at: datetime,
        created_at: datetime,
        stars_payment_id: int | None = None,
    ) -> int:
        """Insert a license (one per payment) and return its id."""
        try:
            new_id = await inserted_id(
                self._conn,
                "INSERT INTO licenses (account_id, payment_id, stars_payment_id, plan, tier,"
                " starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    account_id,
                    payment_id,
                    stars_payment_id,
                    plan,
                    tier,
                    stored_time(starts_at),
                    stored_time(ends_at),
                    stored_time(created_at),
                ),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("this payment already has a license") from exc
        return new_id

    async def sign(self, license_id: int, signature: str) -> None:
        """Store the license's signature."""
        await self._conn.execute(
            "UPDATE licenses SET signature = ? WHERE id = ?", (signature, license_id)
        )

    async def ending_after(self, account_id: int, when: datetime) -> list[LicenseRecord]:
        """The account's licenses ending after ``when``, by start."""
        async with self._conn.execute(
            f"SELECT {_LICENSE_COLUMNS} FROM licenses WHERE account_id = ? AND ends_at > ?"  # noqa: S608
            " ORDER BY starts_at, id",
            (account_id, stored_time(when)),
        ) as cur:
            return [_license(row) for row in await cur.fetchall()]

    async def of_stars_payment(self, stars_payment_id: int) -> LicenseRecord | None:
        """The license a Stars payment bought, if any."""
        async with self._conn.execute(
            f"SELECT {_LICENSE_COLUMNS} FROM licenses WHERE stars_payment_id = ?",  # noqa: S608
            (stars_payment_id,),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else _license(row)

    async def end_at(self, license_id: int, ends_at: datetime, signature: str) -> None:
        """Move a license's end (a refund) and store its new signature."""
        await self._conn.execute(
            "UPDATE licenses SET ends_at = ?, signature = ? WHERE id = ?",
            (stored_time(ends_at), signature, license_id),
        )
