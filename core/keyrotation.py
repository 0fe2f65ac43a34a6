"""Move everything under the newest master key (``verzek rotate-key``): re-encrypt every stored
secret (:func:`rotate_all`) and re-sign every signed row (:func:`resign_all`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.crypto import EncryptionService
from core.errors import DecryptionError
from core.ports import UnitOfWork


@dataclass(frozen=True)
class RotationCount:
    """What happened to one encrypted column."""

    column: str
    rotated: int
    already_current: int
    failed: int


async def rotate_all(
    uow_factory: Callable[..., UnitOfWork],
    crypto: EncryptionService,
    progress: Callable[[str, int], None] | None = None,
) -> list[RotationCount]:
    """Rotate each encrypted column in a transaction of its own; return the counts.

    A value no configured key can decrypt is left as it is and counted as failed (never
    destroyed), so a forgotten old key can still be added and the command run again.
    """
    counts: list[RotationCount] = []
    async with uow_factory(read_only=True) as uow:
        columns = uow.secrets.columns()
    for column in columns:
        name = f"{column.table}.{column.column}"
        rotated = current = failed = 0
        async with uow_factory() as uow:
            pending = []
            async for value in uow.secrets.iter_values(column):
                if crypto.is_current(value.token):
                    current += 1
                    continue
                try:
                    pending.append((value.row_id, crypto.rotate(value.token)))
                except DecryptionError:
                    failed += 1
            for row_id, token in pending:
                await uow.secrets.replace(column, row_id, token)
                rotated += 1
                if progress and rotated % 1000 == 0:
                    progress(name, rotated)
            await uow.commit()
        counts.append(RotationCount(name, rotated, current, failed))
    return counts


@dataclass(frozen=True)
class ResignCount:
    """What happened to the rows of one signed table."""

    table: str
    resigned: int
    already_current: int
    refused: int


async def resign_all(
    uow_factory: Callable[..., UnitOfWork],
    crypto: EncryptionService,
    progress: Callable[[str, int], None] | None = None,
) -> list[ResignCount]:
    """Re-sign each signed table under the newest key, in a transaction of its own; return the
    counts.

    Only a row whose stored signature verifies under some configured key is re-signed (over
    the same fields, by the same field list the domain code uses). A row whose signature
    verifies under none of them, or that lacks the signature it must carry, is refused: left
    exactly as it is, so a tampered row stays detectably tampered instead of being laundered by
    the rotation. (A row signed by a key that is no longer configured is refused too; add that
    key to ``ENCRYPTION_OLD_KEYS`` and run again.)
    """
    counts: list[ResignCount] = []
    async with uow_factory(read_only=True) as uow:
        tables = uow.signatures.tables()
    for table in tables:
        resigned = current = refused = 0
        async with uow_factory() as uow:
            pending = []
            async for row in uow.signatures.iter_rows(table):
                message = table.fields.message_from(row.values)
                key = None if row.signature is None else crypto.signed_by(row.signature, *message)
                if key is None:
                    refused += 1
                elif key == 0:
                    current += 1
                else:
                    pending.append((row.row_id, crypto.sign(*message)))
            for row_id, signature in pending:
                await uow.signatures.replace(table, row_id, signature)
                resigned += 1
                if progress and resigned % 1000 == 0:
                    progress(table.table, resigned)
            await uow.commit()
        counts.append(ResignCount(table.table, resigned, current, refused))
    return counts
