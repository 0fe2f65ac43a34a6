"""age encryption of a backup's database (SPEC §8a), through pyrage (Rust's ``age`` crate).

The archive's database is encrypted to the X25519 recipient of an identity derived from the
master key (:func:`core.crypto.backup_keys`) and to any ``backups.age_recipients``, in the
standard age v1 format (https://age-encryption.org/v1: 64 KiB chunks, each authenticated,
the last one marked), so ``age -d -i KEY`` opens an archive without Verzek Guard. Nothing
here is a cipher of our own: this module only spells the derived secret as an age identity
and streams through pyrage's file-object API, so no payload is ever held in memory whole.
"""

from __future__ import annotations

from typing import Protocol

import pyrage
from pyrage import x25519

from core.backups.archive_rules import BackupError
from core.bech32 import encode
from core.errors import ConfigError

_IDENTITY_HRP = "age-secret-key-"


class Readable(Protocol):
    """What pyrage reads from: ``read(size)``, ``b""`` at the end."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes."""
        ...


class Writable(Protocol):
    """What pyrage writes to; ``write`` returns how many bytes it took."""

    def write(self, data: bytes, /) -> int:
        """Take ``data``."""
        ...


def identity_text(secret: bytes) -> str:
    """``AGE-SECRET-KEY-1…`` for a 32-byte X25519 secret (what ``age-keygen`` writes)."""
    if len(secret) != 32:
        raise ValueError("an X25519 secret is 32 bytes")
    return encode(_IDENTITY_HRP, secret).upper()


class AgeSeal:
    """Encrypts to the newest derived recipient plus the extra ones; decrypts with any
    derived identity (older keys from ``ENCRYPTION_OLD_KEYS`` included)."""

    def __init__(self, secrets: tuple[bytes, ...], extra_recipients: tuple[str, ...] = ()) -> None:
        if not secrets:
            raise ValueError("no backup key")
        self._identities = [x25519.Identity.from_str(identity_text(s)) for s in secrets]
        recipients = [self._identities[0].to_public()]
        for index, text in enumerate(extra_recipients, start=1):
            try:
                recipients.append(x25519.Recipient.from_str(text))
            except pyrage.RecipientError as exc:
                raise ConfigError(
                    [f"backups.age_recipients entry {index} is not an age recipient ({exc})"]
                ) from None
        self._recipients = recipients

    def __repr__(self) -> str:
        return f"AgeSeal(identities={len(self._identities)}, recipients={len(self._recipients)})"

    @property
    def recipient(self) -> str:
        """The newest derived recipient (``age1…``): public, but kept out of manifests."""
        return str(self._recipients[0])

    def encrypt(self, source: Readable, sink: Writable) -> None:
        """Stream ``source`` into ``sink`` as an age file to every recipient."""
        try:
            pyrage.encrypt_io(source, sink, self._recipients)
        except pyrage.EncryptError as exc:
            raise BackupError(f"sealing the database failed ({exc})") from None

    def decrypt(self, source: Readable, sink: Writable) -> None:
        """Stream the age file ``source`` into ``sink``; raises :class:`BackupError` when no
        configured key opens it or any chunk fails to authenticate (flipped, cut, appended).

        ``sink`` may already have received the chunks before the failing one: the caller
        writes into a temp file that is discarded on failure."""
        try:
            pyrage.decrypt_io(source, sink, self._identities)
        except pyrage.DecryptError as exc:
            if "no matching keys" in str(exc).lower():
                raise BackupError(
                    "the sealed database opens with none of the configured keys (sealed under "
                    "another master key, or its age header was edited)"
                ) from None
            raise BackupError(f"the sealed database is not a valid age file ({exc})") from None
        except OSError as exc:  # how pyrage reports a chunk that fails to authenticate
            raise BackupError(
                f"the sealed database fails to authenticate: a chunk was edited, cut or "
                f"appended ({exc.strerror or exc})"
            ) from None
