"""The audit chain's links and the rules a chain must follow (pure: no I/O).

Each row's ``hash`` is HMAC-SHA256, under a key derived from the master key for this purpose
alone, over a canonical JSON of the row (id, time, type, severity, account, Telegram user,
details, ``prev_hash`` and the id of the key it was chained under). Someone who can write the
database but has not the master key can delete or edit rows, yet cannot make the links fit
again: recomputing them with plain SHA-256 or any other key fails at the first rewritten row.

The row names its key by a fingerprint (``key_id``, see
:meth:`core.crypto.EncryptionService.audit_chain_keys`), never the key, so rows chained before a
``verzek rotate-key`` still verify while the old key is in ``ENCRYPTION_OLD_KEYS``. The key of
the chain changes only at an ``AUDIT_KEY_ROTATED`` row, the first row under the new key, whose
details name the previous key's id.

Rows written before the chain was keyed (``key_id`` NULL) keep their plain SHA-256 links: they
are never rewritten (rewriting history to make it verify is what an attacker would do). They
may only form the start of the chain, and the first keyed row after them must be the
``AUDIT_CHAIN_KEYED`` event written at the first start-up with the key: its link, keyed, covers
their last link, so from then on changing any of them breaks a keyed link.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from core.audit.ports import AuditRow
from core.clock import to_iso
from core.errors import DecryptionError

GENESIS_HASH = "0" * 64
SEALED_PURPOSE = "audit.chain_key"  # a retired chain key, sealed under the newest master key
CHAIN_KEYED = "AUDIT_CHAIN_KEYED"
KEY_ROTATED = "AUDIT_KEY_ROTATED"


@dataclass(frozen=True)
class ChainKey:
    """One HMAC key of the chain and its public id."""

    key_id: str
    secret: bytes = field(repr=False)


class Sealer(Protocol):
    """Seals a value to an owner and purpose (:class:`core.crypto.EncryptionService`)."""

    def encrypt(self, value: str, *, owner: str | int, purpose: str) -> str:
        """Seal ``value``."""
        ...

    def decrypt(self, token: str, *, owner: str | int, purpose: str) -> str:
        """Open a sealed value (raises when it was not sealed by a configured key for this)."""
        ...


class ChainKeys:
    """The chain keys, newest first (the newest chains new rows): those derived from the
    configured master keys, plus retired ones kept sealed in the database."""

    def __init__(self, keys: Sequence[tuple[str, bytes]], sealer: Sealer | None = None) -> None:
        if not keys:
            raise ValueError("the audit chain needs at least one key")
        self._keys = [ChainKey(key_id, secret) for key_id, secret in keys]
        self._configured = len(self._keys)
        self._sealer = sealer

    def sealed_old_keys(self) -> list[tuple[str, str]]:
        """(key id, sealed key) of every configured key but the newest, to keep in the
        database so rows chained under them verify after their master key is dropped."""
        if self._sealer is None:
            return []
        return [
            (
                key.key_id,
                self._sealer.encrypt(key.secret.hex(), owner=key.key_id, purpose=SEALED_PURPOSE),
            )
            for key in self._keys[1 : self._configured]
        ]

    def with_sealed(self, stored: Sequence[tuple[str, str]]) -> ChainKeys:
        """These keys plus the retired ones in ``stored`` that open under a configured master
        key (one that does not, edited or foreign, is left out: its rows then fail)."""
        if self._sealer is None or not stored:
            return self
        extra = []
        for key_id, token in stored:
            if self.get(key_id) is not None:
                continue
            try:
                secret = bytes.fromhex(
                    self._sealer.decrypt(token, owner=key_id, purpose=SEALED_PURPOSE)
                )
            except (DecryptionError, ValueError):  # not ours, or not hex once opened
                continue
            extra.append((key_id, secret))
        if not extra:
            return self
        combined = ChainKeys([(k.key_id, k.secret) for k in self._keys] + extra, self._sealer)
        combined._configured = self._configured
        return combined

    def __repr__(self) -> str:
        return f"ChainKeys({[key.key_id for key in self._keys]})"

    @property
    def current(self) -> ChainKey:
        """The key new rows are chained under."""
        return self._keys[0]

    def get(self, key_id: str) -> ChainKey | None:
        """The configured key with this id, or None."""
        return next((key for key in self._keys if key.key_id == key_id), None)


def canonical_bytes(row: AuditRow) -> bytes:
    """The exact bytes a row's link is computed over (everything but the link itself).

    A legacy row (no key id) keeps the form it was hashed in; a keyed row also covers its key
    id, so the id cannot be swapped for another."""
    body = {
        "id": row.id,
        "ts": to_iso(row.ts),  # the stored text (storage reads it back exactly)
        "event_type": row.event_type,
        "severity": row.severity,
        "account_id": row.account_id,
        "telegram_user_id": row.telegram_user_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
    }
    if row.key_id is not None:
        body["key_id"] = row.key_id
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def legacy_hash(row: AuditRow) -> str:
    """SHA-256 hex of :func:`canonical_bytes`: the link of a row from before keying."""
    return hashlib.sha256(canonical_bytes(row)).hexdigest()


def keyed_link(key: ChainKey, row: AuditRow) -> str:
    """HMAC-SHA256 hex of :func:`canonical_bytes` under ``key``."""
    return hmac.new(key.secret, canonical_bytes(row), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a full chain verification."""

    ok: bool
    checked: int
    bad_row_id: int | None = None
    reason: str = ""
    legacy_rows: int = 0  # rows from before keying (SHA-256 links, covered by the keyed seal)
    last_hash: str = GENESIS_HASH  # the link of the newest row checked
    anchors_checked: int = 0


class ChainWalk:
    """Checks rows one at a time, in id order; ``problem()`` names the first that does not fit.

    ``keys`` None checks the structure only (ids, links, where keys change), for a reader
    without the master key; nothing is then said about who made the links."""

    def __init__(self, keys: ChainKeys | None) -> None:
        self._keys = keys
        self.expected_id = 1
        self.checked = 0  # rows that fit so far (the tip is row ``checked``)
        self.prev = GENESIS_HASH
        self.key_id: str | None = None  # the key of the previous keyed row
        self.legacy = 0

    def problem(self, row: AuditRow) -> str | None:
        """Why ``row`` does not continue the chain, or None (then it becomes the tip)."""
        if row.id != self.expected_id:
            return f"row {self.expected_id} is missing (next is {row.id})"
        if row.prev_hash != self.prev:
            return "prev_hash does not match the previous row"
        why = self._legacy(row) if row.key_id is None else self._keyed(row)
        if why is None:
            self.prev, self.expected_id = row.hash, row.id + 1
            self.checked += 1
        return why

    def _legacy(self, row: AuditRow) -> str | None:
        if self.key_id is not None:
            return "an unkeyed (SHA-256) row after the chain was keyed: rewritten without the key"
        if not hmac.compare_digest(legacy_hash(row), row.hash):
            return "contents do not match its hash"
        self.legacy += 1
        return None

    def _keyed(self, row: AuditRow) -> str | None:
        assert row.key_id is not None
        if self.key_id is None and self.legacy and row.event_type != CHAIN_KEYED:
            return f"the first keyed row after the unkeyed ones is not {CHAIN_KEYED}"
        if self.key_id is not None and row.key_id != self.key_id:
            if row.event_type != KEY_ROTATED or row.details.get("previous_key_id") != self.key_id:
                return f"the chain's key changes without an {KEY_ROTATED} event"
        if self._keys is not None:
            key = self._keys.get(row.key_id)
            if key is None:
                return (
                    f"it is chained under key {row.key_id}, which is not configured "
                    "(put that master key in ENCRYPTION_OLD_KEYS)"
                )
            if not hmac.compare_digest(keyed_link(key, row), row.hash):
                return (
                    f"its link is not the HMAC of its contents under key {row.key_id} "
                    "(edited, or the chain was recomputed without the key)"
                )
        self.key_id = row.key_id
        return None
