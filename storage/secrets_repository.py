"""SQL for key rotation: every column of the schema that stores sealed tokens is listed here
(tests/test_rotation_coverage.py fails when one is not)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.ports import EncryptedColumn, EncryptedValue, RowKey
from storage.sql import SqlConnection


@dataclass(frozen=True)
class EncryptedColumnSpec:
    """Where a column's values live, which column names their owner (None: the owner the
    tokens are bound to is not a column) and which columns are the row's key."""

    table: str
    column: str
    purpose: str
    owner_column: str | None
    key_columns: tuple[str, ...] = ("id",)

    @property
    def public(self) -> EncryptedColumn:
        return EncryptedColumn(self.table, self.column, self.purpose)


# Every column of the schema that holds tokens of the encryption service. A migration adding
# one adds its line here.
ENCRYPTED_COLUMNS: list[EncryptedColumnSpec] = [
    EncryptedColumnSpec(
        "mfa", "secret_enc", "totp", owner_column="account_id", key_columns=("account_id",)
    ),
    # Sealed as "<purpose>#<row id>" (see core/apikeys.py): bound to the row, not only the owner.
    EncryptedColumnSpec("api_keys", "key_enc", "apikey.key", owner_column="account_id"),
    EncryptedColumnSpec("api_keys", "secret_enc", "apikey.secret", owner_column="account_id"),
    EncryptedColumnSpec(
        "api_keys", "passphrase_enc", "apikey.passphrase", owner_column="account_id"
    ),
    # Retired audit chain keys (core/audit/chain.py), sealed to their key id.
    EncryptedColumnSpec("audit_chain_keys", "key_enc", "audit.chain_key", owner_column="key_id"),
    # Users' places in their flows (bot/persistence.py), bound to the JSON [kind, name, key]:
    # a register draft holds a password hash, so a rotation must not leave them under the old key.
    EncryptedColumnSpec(
        "conversation_state",
        "sealed",
        "conversation-state",
        owner_column=None,
        key_columns=("kind", "name", "key"),
    ),
    # What shown buttons stand for (bot/button_sheets.py), bound to "<store>:<sheet_id>".
    EncryptedColumnSpec(
        "button_sheets",
        "sealed",
        "button-sheet",
        owner_column="store || ':' || sheet_id",
        key_columns=("token_hash",),
    ),
]

_PAGE = 1000


class SqliteSecretsRepository:
    """Reads and rewrites encrypted columns for rotation (portable SQL: SQLite and PostgreSQL)."""

    def __init__(self, conn: SqlConnection, specs: list[EncryptedColumnSpec]) -> None:
        self._conn = conn
        self._specs = {(spec.table, spec.column): spec for spec in specs}

    def columns(self) -> list[EncryptedColumn]:
        """Every encrypted column."""
        return [spec.public for spec in self._specs.values()]

    async def iter_values(self, column: EncryptedColumn) -> AsyncIterator[EncryptedValue]:
        """Each non-NULL value of ``column`` with its row key and owner, in key order (pages
        of 1000 rows, each after the last key of the one before: row values compare in order)."""
        spec = self._specs[(column.table, column.column)]
        keys = ", ".join(spec.key_columns)
        width = len(spec.key_columns)
        marks = ", ".join("?" * width)
        owner = spec.owner_column or "NULL"
        select = (
            f"SELECT {keys}, {owner}, {spec.column} FROM {spec.table} "  # noqa: S608
            f"WHERE {spec.column} IS NOT NULL"
        )
        order = f" ORDER BY {keys} LIMIT {_PAGE}"
        last: RowKey | None = None
        while True:
            params: RowKey = ()
            if last is None:
                sql = select + order
            else:
                sql, params = select + f" AND ({keys}) > ({marks})" + order, last
            async with self._conn.execute(sql, params) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return
            for row in rows:
                yield EncryptedValue(tuple(row[:width]), row[width], str(row[width + 1]))
            last = tuple(rows[-1][:width])

    async def replace(self, column: EncryptedColumn, row_id: RowKey, token: str) -> None:
        """Write the re-encrypted ``token`` back to its row."""
        spec = self._specs[(column.table, column.column)]
        where = " AND ".join(f"{name} = ?" for name in spec.key_columns)
        await self._conn.execute(
            f"UPDATE {spec.table} SET {spec.column} = ? WHERE {where}",  # noqa: S608
            (token, *row_id),
        )
