"""SQL for key rotation: every encrypted column of the schema is listed here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.ports import EncryptedColumn, EncryptedValue
from storage.sql import SqlConnection


@dataclass(frozen=True)
class EncryptedColumnSpec:
    """Where a column's values live and which column names their owner."""

    table: str
    column: str
    purpose: str
    owner_column: str
    id_column: str = "id"

    @property
    def public(self) -> EncryptedColumn:
        return EncryptedColumn(self.table, self.column, self.purpose)


# Every encrypted column of the schema. A migration adding one adds its line here.
ENCRYPTED_COLUMNS: list[EncryptedColumnSpec] = [
    EncryptedColumnSpec(
        "mfa", "secret_enc", "totp", owner_column="account_id", id_column="account_id"
    ),
    # Sealed as "<purpose>#<row id>" (see core/apikeys.py): bound to the row, not only the owner.
    EncryptedColumnSpec("api_keys", "key_enc", "apikey.key", owner_column="account_id"),
    EncryptedColumnSpec("api_keys", "secret_enc", "apikey.secret", owner_column="account_id"),
    EncryptedColumnSpec(
        "api_keys", "passphrase_enc", "apikey.passphrase", owner_column="account_id"
    ),
    # Retired audit chain keys (core/audit/chain.py), sealed to their key id.
    EncryptedColumnSpec("audit_chain_keys", "key_enc", "audit.chain_key", owner_column="key_id"),
]


class SqliteSecretsRepository:
    """Reads and rewrites encrypted columns for rotation."""

    def __init__(self, conn: SqlConnection, specs: list[EncryptedColumnSpec]) -> None:
        self._conn = conn
        self._specs = {(spec.table, spec.column): spec for spec in specs}

    def columns(self) -> list[EncryptedColumn]:
        """Every encrypted column."""
        return [spec.public for spec in self._specs.values()]

    async def iter_values(self, column: EncryptedColumn) -> AsyncIterator[EncryptedValue]:
        """Each non-NULL value of ``column`` with its row id and owner, in id order."""
        spec = self._specs[(column.table, column.column)]
        last = -1
        while True:
            async with self._conn.execute(
                f"SELECT {spec.id_column}, {spec.owner_column}, {spec.column} "  # noqa: S608
                f"FROM {spec.table} WHERE {spec.column} IS NOT NULL AND {spec.id_column} > ? "
                f"ORDER BY {spec.id_column} LIMIT 1000",
                (last,),
            ) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return
            for row in rows:
                yield EncryptedValue(int(row[0]), row[1], str(row[2]))
            last = int(rows[-1][0])

    async def replace(self, column: EncryptedColumn, row_id: int, token: str) -> None:
        """Write the re-encrypted ``token`` back to its row."""
        spec = self._specs[(column.table, column.column)]
        await self._conn.execute(
            f"UPDATE {spec.table} SET {spec.column} = ? WHERE {spec.id_column} = ?",  # noqa: S608
            (token, row_id),
        )
