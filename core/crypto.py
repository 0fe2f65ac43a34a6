"""Encryption at rest: MultiFernet under keys derived from the master key.

The master key (``ENCRYPTION_MASTER_KEY``, urlsafe base64 of 32 random bytes) is never used
directly: HKDF derives one key per use (Fernet for secrets at rest, HMAC for signatures), so a
signature key can never decrypt a secret and vice versa.

Every ciphertext is bound to its owner and purpose: the context is sealed inside the Fernet
token next to the value and compared on decrypt, so a token copied into another row (another
account, or an API secret copied into a TOTP column) fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.config import EncryptionSettings
from core.errors import DecryptionError, EncryptionKeyError

_KEYGEN_HINT = "make one with `verzek keygen` and set it in the environment"
_FORMAT = "vz1"
# The key check (core/keycheck.py): an HMAC of this fixed label under a key of its own purpose,
# so the stored check can neither decrypt a secret nor forge a signature.
_KEY_CHECK_PURPOSE = b"verzek/key-check/v1"
_KEY_CHECK_LABEL = b"this database belongs to this Verzek Guard master key"
# The audit chain's links (core/audit/chain.py): HMAC keys of their own purpose, each named by a
# fingerprint (an HMAC of a fixed label under it), never by the key itself.
_AUDIT_CHAIN_PURPOSE = b"verzek/audit-chain/v1"
_AUDIT_KEY_ID_LABEL = b"verzek audit chain key id"


def generate_master_key() -> str:
    """Return a new master key: urlsafe base64 of 32 random bytes (44 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def _decode_key(text: str, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise EncryptionKeyError(
            f"{name} is malformed (expected urlsafe base64 of 32 bytes); {_KEYGEN_HINT}"
        ) from None
    if len(raw) != 32 or len(text) != 44:
        raise EncryptionKeyError(
            f"{name} is malformed (expected 44 characters encoding 32 bytes); {_KEYGEN_HINT}"
        )
    return raw


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


def _fernet_for(master: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(master, b"verzek/at-rest/v1")))


class EncryptionService:
    """Encrypts and decrypts secrets bound to an owner and a purpose."""

    def __init__(self, settings: EncryptionSettings) -> None:
        if settings.master_key is None:
            raise EncryptionKeyError(f"ENCRYPTION_MASTER_KEY is not set; {_KEYGEN_HINT}")
        master = _decode_key(settings.master_key.get(), "ENCRYPTION_MASTER_KEY")
        olds = [
            _decode_key(key.get(), f"ENCRYPTION_OLD_KEYS entry {index}")
            for index, key in enumerate(settings.old_keys, start=1)
        ]
        self._fernets = [_fernet_for(key) for key in [master, *olds]]
        self._fernet = MultiFernet(self._fernets)
        self._primary = self._fernets[0]
        self._check_keys = [_derive(key, _KEY_CHECK_PURPOSE) for key in [master, *olds]]
        # One HMAC key per configured master key, newest first: signing uses the newest,
        # verification accepts any (rows signed before a rotation still verify until
        # `verzek rotate-key` re-signs them and the old key is dropped).
        self._hmac_keys = [_derive(key, b"verzek/signatures/v1") for key in [master, *olds]]
        self._key_count = 1 + len(olds)
        self._chain_keys = [_derive(key, _AUDIT_CHAIN_PURPOSE) for key in [master, *olds]]

    def __repr__(self) -> str:
        return f"EncryptionService(keys={self._key_count})"

    @staticmethod
    def _context(owner: str | int, purpose: str) -> str:
        return f"{purpose}:{owner}"

    def encrypt(self, value: str, *, owner: str | int, purpose: str) -> str:
        """Encrypt ``value`` for ``owner`` and ``purpose``; returns an ASCII token."""
        payload = json.dumps(
            {"f": _FORMAT, "c": self._context(owner, purpose), "v": value},
            separators=(",", ":"),
        )
        return self._fernet.encrypt(payload.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, owner: str | int, purpose: str) -> str:
        """Decrypt a token made by :meth:`encrypt` for exactly this owner and purpose."""
        try:
            payload = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeEncodeError):
            raise DecryptionError(
                f"a stored {purpose} secret could not be decrypted (wrong key or damaged value)"
            ) from None
        expected = self._context(owner, purpose)
        if (
            not isinstance(payload, dict)
            or payload.get("f") != _FORMAT
            or not hmac.compare_digest(str(payload.get("c", "")), expected)
            or not isinstance(payload.get("v"), str)
        ):
            raise DecryptionError(
                f"a stored {purpose} secret does not belong to this record (refused)"
            )
        return str(payload["v"])

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key, keeping its sealed context."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise DecryptionError(
                "a stored secret could not be decrypted with any configured key"
            ) from None

    def audit_chain_keys(self) -> list[tuple[str, bytes]]:
        """The audit chain's HMAC keys, newest first, each with its id (a 16-hex fingerprint
        that names the key in every row chained under it and reveals nothing of it)."""
        return [
            (self._mac(key, _AUDIT_KEY_ID_LABEL)[:16].decode("ascii"), key)
            for key in self._chain_keys
        ]

    def key_check(self) -> str:
        """The key check of the newest key: HMAC-SHA256 of a fixed label, hex."""
        return self._mac(self._check_keys[0], _KEY_CHECK_LABEL).decode("ascii")

    def key_check_made_by(self, check: str) -> int | None:
        """Which configured key made ``check``: 0 for the newest, 1… for ``ENCRYPTION_OLD_KEYS``
        in order, None for none of them. Every key is compared, each in constant time."""
        given = str(check).encode("utf-8", "replace")
        matches = [
            hmac.compare_digest(given, self._mac(key, _KEY_CHECK_LABEL)) for key in self._check_keys
        ]
        return matches.index(True) if any(matches) else None

    def encrypted_by(self, token: str) -> int | None:
        """Which configured key encrypted ``token`` (0 newest, 1… old keys), None for none.

        Only the key is tested, not the owner/purpose binding: this answers "is this the
        database's key", for the key check of a database from before it was stored."""
        for index, fernet in enumerate(self._fernets):
            try:
                fernet.decrypt(token.encode("ascii"))
            except (InvalidToken, UnicodeEncodeError):
                continue
            return index
        return None

    def is_current(self, token: str) -> bool:
        """True when ``token`` is already encrypted under the newest key."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return False
        return True

    @staticmethod
    def _message(fields: tuple[str | int, ...]) -> bytes:
        return json.dumps([str(item) for item in fields], separators=(",", ":")).encode("utf-8")

    @staticmethod
    def _mac(key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, hashlib.sha256).hexdigest().encode("ascii")

    def sign(self, *fields: str | int) -> str:
        """HMAC-SHA256 over the fields (unambiguous encoding), hex, under the newest key."""
        return self._mac(self._hmac_keys[0], self._message(fields)).decode("ascii")

    def signed_by(self, signature: str, *fields: str | int) -> int | None:
        """Which configured key made ``signature`` over the fields: 0 for the newest (current),
        1… for ``ENCRYPTION_OLD_KEYS`` in order, None for none of them (tampered, or made by a
        key that is no longer configured). Every key is compared, each in constant time."""
        given, message = str(signature).encode("utf-8", "replace"), self._message(fields)
        matches = [hmac.compare_digest(given, self._mac(key, message)) for key in self._hmac_keys]
        return matches.index(True) if any(matches) else None

    def verify_signature(self, signature: str, *fields: str | int) -> bool:
        """Constant-time check of a signature made by :meth:`sign` under any configured key."""
        return self.signed_by(signature, *fields) is not None


# Sealed backups (SPEC §8a): the age identity the archives are encrypted to and the key their
# manifests are MACed with, each under its own purpose, so neither opens the other's door.
_BACKUP_AGE_PURPOSE = b"verzek/backup-age-x25519/v1"
_BACKUP_MAC_PURPOSE = b"verzek/backup-manifest-mac/v1"


class BackupKeys:
    """The backup keys of every configured master key, newest first: archives are sealed with
    the first, and any of them opens (and authenticates) an archive made before a rotation."""

    def __init__(self, age_secrets: tuple[bytes, ...], mac_keys: tuple[bytes, ...]) -> None:
        self.age_secrets = age_secrets  # 32-byte X25519 secrets (the age adapter spells them)
        self.mac_keys = mac_keys

    def __repr__(self) -> str:
        return f"BackupKeys(keys={len(self.mac_keys)})"


def backup_keys(settings: EncryptionSettings) -> BackupKeys:
    """Derive the backup keys from ``ENCRYPTION_MASTER_KEY`` and ``ENCRYPTION_OLD_KEYS``;
    raises :class:`EncryptionKeyError` when the master key is missing or malformed."""
    if settings.master_key is None:
        raise EncryptionKeyError(f"ENCRYPTION_MASTER_KEY is not set; {_KEYGEN_HINT}")
    keys = [_decode_key(settings.master_key.get(), "ENCRYPTION_MASTER_KEY")] + [
        _decode_key(key.get(), f"ENCRYPTION_OLD_KEYS entry {index}")
        for index, key in enumerate(settings.old_keys, start=1)
    ]
    return BackupKeys(
        tuple(_derive(key, _BACKUP_AGE_PURPOSE) for key in keys),
        tuple(_derive(key, _BACKUP_MAC_PURPOSE) for key in keys),
    )
