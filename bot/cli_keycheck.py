"""The key check at every door that opens a database: ``run``, ``shell --db`` and the CLI.

:func:`open_checked` opens (and by default migrates) the database and refuses, with one
``verzek:`` line, a master key that did not make it (see :mod:`core.keycheck`).
"""

from __future__ import annotations

from bot.bootstrap import Operations, operations
from core.config import Settings
from core.errors import VerzekError
from core.keycheck import KeyCheckResult, KeyMismatch, KeyMismatchError, ensure_key_fits


def key_mismatch_line(error: KeyMismatchError, where: str) -> str:
    """What to tell the operator (one line, after ``verzek: ``); ``where`` names the database
    (``DatabaseSettings.place()``)."""
    if error.reason is KeyMismatch.OLD_KEY:
        return (
            f"this key did not encrypt this database ({where}), but ENCRYPTION_OLD_KEYS entry "
            f"{error.old_key} did: run `verzek rotate-key` with the bot stopped to move "
            "everything to the new key"
        )
    return (
        f"this key did not encrypt this database ({where}): set ENCRYPTION_MASTER_KEY to the "
        "key it was created with (a new key cannot read it)"
    )


async def check_key(
    ops: Operations,
    *,
    write: bool = False,
    accept_old: bool = False,
    required: bool = True,
) -> KeyCheckResult | None:
    """Refuse a key that does not fit the open ``ops.database`` (as a one-line VerzekError).

    ``required=False`` skips the check when no key is configured at all (commands such as
    ``audit verify`` need none); a configured key is always checked."""
    if ops.settings.encryption.master_key is None and not required:
        return None
    crypto = ops.crypto()
    database = ops.database
    try:
        return await ensure_key_fits(
            database.unit_of_work, crypto, ops.clock, write=write, accept_old=accept_old
        )
    except KeyMismatchError as exc:
        raise VerzekError(key_mismatch_line(exc, ops.settings.database.place())) from None


async def open_checked(
    settings: Settings,
    *,
    migrate: bool = True,
    write: bool = False,
    accept_old: bool = False,
    required: bool = True,
) -> Operations:
    """The commands' services (:func:`bot.bootstrap.operations`) with their database open and
    the key checked; the database is closed again if the key is refused."""
    ops = operations(settings)
    await ops.database.open(apply_migrations=migrate)
    try:
        await check_key(ops, write=write, accept_old=accept_old, required=required)
    except BaseException:
        await ops.database.close()
        raise
    return ops
