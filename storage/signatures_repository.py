"""SQL for re-signing: every signed table of the schema is listed here (``SIGNED_TABLES``).

The registry mirrors ``ENCRYPTED_COLUMNS`` (storage/secrets_repository.py): ``verzek rotate-key``
re-signs exactly the tables listed below, so a signed table missing from it would keep its old-key
signatures and fail every check once the old key is dropped (tests/test_signatures_rotation.py
refuses a schema whose ``signature`` columns are not all registered).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.ports import SignedRow, SignedTable
from core.signing import (
    INVOICE_SIGNATURE,
    LICENSE_SIGNATURE,
    PAYMENT_SIGNATURE,
    STARS_INVOICE_SIGNATURE,
    STARS_PAYMENT_SIGNATURE,
    WALLET_ENTRY_SIGNATURE,
    WITHDRAWAL_SIGNATURE,
    SignedFields,
)
from storage.sql import SqlConnection


@dataclass(frozen=True)
class SignedTableSpec:
    """Where a signed table's rows live, what their signature covers, and which rows must carry
    one (``must_be_signed``, an SQL condition; rows already holding a signature are always
    checked). The signed fields are columns of the same name."""

    table: str
    fields: SignedFields
    id_column: str = "id"
    signature_column: str = "signature"
    must_be_signed: str = "TRUE"

    @property
    def public(self) -> SignedTable:
        return SignedTable(self.table, self.fields)


# Every signed table of the schema. A migration adding a table whose rows carry a signature adds
# its line here, with its field list defined once in core/signing.py and used (sign_record /
# verify_record) by the domain code that signs the rows. New kinds of wallet entries (withdrawal
# holds, releases, debits, …) written through core/wallet.py's WalletLedger need nothing: the
# wallet_entries line covers every kind.
SIGNED_TABLES: list[SignedTableSpec] = [
    SignedTableSpec("invoices", INVOICE_SIGNATURE),
    # Signed once their amount counts (approved, partial, review); others carry no signature.
    SignedTableSpec(
        "payments",
        PAYMENT_SIGNATURE,
        must_be_signed="status IN ('approved', 'partial', 'review')",
    ),
    SignedTableSpec("licenses", LICENSE_SIGNATURE),
    SignedTableSpec("stars_invoices", STARS_INVOICE_SIGNATURE),
    SignedTableSpec("stars_payments", STARS_PAYMENT_SIGNATURE),
    SignedTableSpec("wallet_entries", WALLET_ENTRY_SIGNATURE),
    SignedTableSpec("withdrawals", WITHDRAWAL_SIGNATURE),
]


class SqliteSignaturesRepository:
    """Reads signed rows and rewrites their signatures for rotation."""

    def __init__(self, conn: SqlConnection, specs: list[SignedTableSpec]) -> None:
        self._conn = conn
        self._specs = {spec.table: spec for spec in specs}

    def tables(self) -> list[SignedTable]:
        """Every signed table."""
        return [spec.public for spec in self._specs.values()]

    async def iter_rows(self, table: SignedTable) -> AsyncIterator[SignedRow]:
        """Each row that carries a signature or must carry one, with its signed fields as
        stored, in id order (1,000 rows per query)."""
        spec = self._specs[table.table]
        names = spec.fields.fields
        columns = ", ".join(names)
        last = -1
        while True:
            async with self._conn.execute(
                f"SELECT {spec.id_column}, {spec.signature_column}, {columns} "  # noqa: S608
                f"FROM {spec.table} WHERE ({spec.signature_column} IS NOT NULL"
                f" OR ({spec.must_be_signed})) AND {spec.id_column} > ? "
                f"ORDER BY {spec.id_column} LIMIT 1000",
                (last,),
            ) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return
            for row in rows:
                yield SignedRow(int(row[0]), dict(zip(names, row[2:], strict=True)), row[1])
            last = int(rows[-1][0])

    async def replace(self, table: SignedTable, row_id: int, signature: str) -> None:
        """Write a row's new signature."""
        spec = self._specs[table.table]
        await self._conn.execute(
            f"UPDATE {spec.table} SET {spec.signature_column} = ?"  # noqa: S608
            f" WHERE {spec.id_column} = ?",
            (signature, row_id),
        )
