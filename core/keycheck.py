"""Does the configured master key belong to this database? Answered before anything runs.

A well-formed but wrong ``ENCRYPTION_MASTER_KEY`` (a new one generated at every paste, a
throwaway one) used to start the bot normally; then every 2FA login failed to decrypt, every
signed row looked tampered and wallets froze. Now the first start stores a *key check* (an HMAC
of a fixed label under a key derived for that purpose alone, see
:meth:`core.crypto.EncryptionService.key_check`) and every later start compares it first.

A database from before the check existed gets one only when the key really opens what is
stored there: a sample of encrypted secrets must decrypt, or signed rows verify, under the
newest key. An empty database takes the key it is first started with.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from core.clock import Clock
from core.crypto import EncryptionService
from core.errors import VerzekError
from core.ports import UnitOfWork

# Values looked at per encrypted column and per signed table in a database without a check.
SAMPLE_PER_SOURCE = 20


class KeyMismatch(enum.Enum):
    """Why a key was refused."""

    WRONG_KEY = "wrong_key"  # no configured key made this database's secrets or check
    OLD_KEY = "old_key"  # an ENCRYPTION_OLD_KEYS entry did: a rotation is pending


class KeyMismatchError(VerzekError):
    """The configured key does not fit the database; ``old_key`` numbers the entry of
    ``ENCRYPTION_OLD_KEYS`` (from 1) that does, for :attr:`KeyMismatch.OLD_KEY`."""

    def __init__(self, reason: KeyMismatch, old_key: int | None = None) -> None:
        self.reason = reason
        self.old_key = old_key
        super().__init__(
            "this key did not encrypt this database"
            + (f" (ENCRYPTION_OLD_KEYS entry {old_key} did)" if old_key else "")
        )


class KeyCheckResult(enum.Enum):
    """What :func:`ensure_key_fits` found."""

    MATCHED = "matched"  # the stored check was made by the newest key
    MATCHED_OLD = "matched_old"  # made by an old key (only accepted with accept_old)
    WRITTEN = "written"  # none was stored; the key fits, and the check is now stored
    UNCHECKED = "unchecked"  # none stored, the key fits, but writing was not asked for


@dataclass(frozen=True)
class _Evidence:
    """Which key made each sampled secret or signature of a database without a check."""

    keys: frozenset[int | None]

    @property
    def empty(self) -> bool:
        return not self.keys


async def _sample(uow: UnitOfWork, crypto: EncryptionService) -> _Evidence:
    found: set[int | None] = set()
    for column in uow.secrets.columns():
        seen = 0
        async for value in uow.secrets.iter_values(column):
            found.add(crypto.encrypted_by(value.token))
            seen += 1
            if seen >= SAMPLE_PER_SOURCE:
                break
    for table in uow.signatures.tables():
        seen = 0
        async for row in uow.signatures.iter_rows(table):
            if row.signature is not None:
                message = table.fields.message_from(row.values)
                found.add(crypto.signed_by(row.signature, *message))
                seen += 1
            if seen >= SAMPLE_PER_SOURCE:
                break
    return _Evidence(frozenset(found))


def _oldest_fit(keys: frozenset[int | None]) -> int | None:
    olds = sorted(key for key in keys if key)
    return olds[0] if olds else None


async def ensure_key_fits(
    uow_factory: Callable[..., UnitOfWork],
    crypto: EncryptionService,
    clock: Clock,
    *,
    write: bool = True,
    accept_old: bool = False,
) -> KeyCheckResult:
    """Refuse (:class:`KeyMismatchError`) a master key that did not make this database.

    With a stored check, it must be the newest key's (or, with ``accept_old`` as
    ``verzek rotate-key`` passes, an old key's). Without one, sampled secrets and signatures
    decide: any made by the newest key (or none stored at all) and the check is written (when
    ``write``); only old keys' and the error asks for a rotation; none and the key is wrong.
    """
    async with uow_factory(read_only=not write) as uow:
        stored = await uow.key_check.get()
        if stored is not None:
            key = crypto.key_check_made_by(stored)
            if key == 0:
                return KeyCheckResult.MATCHED
            if key is None:
                raise KeyMismatchError(KeyMismatch.WRONG_KEY)
            if accept_old:
                return KeyCheckResult.MATCHED_OLD
            raise KeyMismatchError(KeyMismatch.OLD_KEY, key)
        evidence = await _sample(uow, crypto)
        if not evidence.empty and 0 not in evidence.keys:
            old = _oldest_fit(evidence.keys)
            if old is None:
                raise KeyMismatchError(KeyMismatch.WRONG_KEY)
            if accept_old:
                return KeyCheckResult.MATCHED_OLD
            raise KeyMismatchError(KeyMismatch.OLD_KEY, old)
        if not write:
            return KeyCheckResult.UNCHECKED
        await uow.key_check.put(crypto.key_check(), clock.now())
        await uow.commit()
        return KeyCheckResult.WRITTEN


async def store_key_check(
    uow_factory: Callable[..., UnitOfWork], crypto: EncryptionService, clock: Clock
) -> None:
    """Store the newest key's check (after ``verzek rotate-key`` moved everything to it)."""
    async with uow_factory() as uow:
        await uow.key_check.put(crypto.key_check(), clock.now())
        await uow.commit()
