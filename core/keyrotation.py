"""Re-encrypt every stored secret under the newest master key (``verzek rotate-key``)."""

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
