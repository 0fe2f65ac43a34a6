"""Exchange API keys (SPEC §3 ``/apikeys``, ``/apikey_add``, ``/apikey_delete``; §4).

- Stored only encrypted. Key, secret and passphrase are separate tokens, each sealed to the
  owning account and to its column *and row* (purpose ``apikey.key#<row id>``), so a token
  copied to another account, another column or another key row fails to decrypt.
- Lists show the exchange, the label and the key's last 4 characters (``…abcd``); that hint is
  the only part of a credential ever stored, shown, audited or sent in a notice.
- An account names a key by exchange + label: adding the same pair again replaces the key
  (API_KEY_UPDATED) and keeps its id; a new pair adds one (API_KEY_ADDED).
- Adding or replacing a key needs a fresh 2FA code when 2FA is on, the password otherwise
  (SPEC §4); deleting needs a confirmation and, when 2FA is on, a fresh code (SPEC §3).
- Every read and delete is scoped to the owning account: another account's id behaves exactly
  like an id that does not exist.
- The kill switch (:mod:`core.safety.service`) halts every change, checked again inside the write.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from core.accounts.service import AccountService
from core.accounts.sessions import ReauthProof, Session
from core.apikeys.ports import ApiKeyRecord, ApiKeyTokens
from core.apikeys.refusals import (
    ApiKeyNotFound,
    ApiKeysFull,
    Credential,
    CredentialMalformed,
    DeleteNeedsCode,
    ExchangeUnknown,
    LabelInvalid,
    PassphraseMalformed,
    PassphraseMissing,
    SecretIsKey,
)
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import Clock
from core.crypto import EncryptionService
from core.errors import Refusal
from core.ports import UnitOfWork
from core.safety.service import Action, SafetyService
from core.twofactor.service import TwoFactorService

EXCHANGES: tuple[str, ...] = ("binance", "bybit", "okx", "kucoin", "other")
EXCHANGE_NAMES: dict[str, str] = {
    "binance": "Binance",
    "bybit": "Bybit",
    "okx": "OKX",
    "kucoin": "KuCoin",
    "other": "Other",
}
PASSPHRASE_EXCHANGES: frozenset[str] = frozenset({"okx", "kucoin"})

LABEL_MAX = 32
CREDENTIAL_MIN, CREDENTIAL_MAX = 8, 512
PASSPHRASE_MIN, PASSPHRASE_MAX = 4, 128
HINT_LENGTH = 4
MAX_KEYS = 20  # per account: bounds what one (possibly hijacked) account can store

PURPOSE_KEY = "apikey.key"
PURPOSE_SECRET = "apikey.secret"  # noqa: S105 (a label, not a secret)
PURPOSE_PASSPHRASE = "apikey.passphrase"  # noqa: S105

_LABEL_EXTRA = frozenset(" -_.")
_CREDENTIAL = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no whitespace
_SPACES = re.compile(r"\s+")


def sealed_purpose(purpose: str, key_id: int) -> str:
    """The purpose a column's token is sealed with: the column's purpose plus the row."""
    return f"{purpose}#{key_id}"


def mask(hint: str) -> str:
    """``abcd`` → ``…abcd`` (what lists, audit details and notices show of a key)."""
    return f"…{hint}"


def exchange_name(exchange: str) -> str:
    """The exchange as people write it (``okx`` → ``OKX``)."""
    return EXCHANGE_NAMES.get(exchange, exchange)


def needs_passphrase(exchange: str) -> bool:
    """True for exchanges whose API keys come with a passphrase (OKX, KuCoin)."""
    return exchange in PASSPHRASE_EXCHANGES


def validate_exchange(text: str) -> str:
    """One of :data:`EXCHANGES`, or Refusal."""
    exchange = text.strip().lower()
    if exchange not in EXCHANGES:
        raise Refusal(ExchangeUnknown())
    return exchange


def validate_label(text: str) -> str:
    """1–32 letters, digits, spaces, ``-``, ``_`` or ``.`` (inner spaces folded)."""
    label = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if (
        not label
        or len(label) > LABEL_MAX
        or not all(ch.isalnum() or ch in _LABEL_EXTRA for ch in label)
    ):
        raise Refusal(LabelInvalid(LABEL_MAX))
    return label


def validate_credential(text: str, what: Credential) -> str:
    """An API key or secret: 8–512 printable characters without spaces (edges trimmed)."""
    value = text.strip()
    if not (CREDENTIAL_MIN <= len(value) <= CREDENTIAL_MAX) or not _CREDENTIAL.match(value):
        raise Refusal(CredentialMalformed(what, CREDENTIAL_MIN, CREDENTIAL_MAX))
    return value


def validate_secret(text: str, key: str) -> str:
    """An API secret: like a key (:func:`validate_credential`), and not the key itself."""
    secret = validate_credential(text, Credential.SECRET)
    if secret == key:
        raise Refusal(SecretIsKey())
    return secret


def validate_passphrase(text: str) -> str:
    """An API passphrase: 4–128 printable characters (edges trimmed)."""
    value = text.strip()
    if not (PASSPHRASE_MIN <= len(value) <= PASSPHRASE_MAX) or any(
        unicodedata.category(ch)[0] in ("C", "Z") and ch != " " for ch in value
    ):
        raise Refusal(PassphraseMalformed(PASSPHRASE_MIN, PASSPHRASE_MAX))
    return value


@dataclass(frozen=True)
class ApiKeyDraft:
    """A key the user typed in, not stored yet. Credentials never appear in ``repr``."""

    exchange: str
    label: str
    key: str = field(repr=False)
    secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)

    def validated(self) -> ApiKeyDraft:
        """The same draft, checked and normalised; raises Refusal on bad input."""
        exchange = validate_exchange(self.exchange)
        key = validate_credential(self.key, Credential.KEY)
        secret = validate_secret(self.secret, key)
        passphrase = None
        if needs_passphrase(exchange):
            if self.passphrase is None:
                raise Refusal(PassphraseMissing(exchange))
            passphrase = validate_passphrase(self.passphrase)
        return ApiKeyDraft(exchange, validate_label(self.label), key, secret, passphrase)


@dataclass(frozen=True)
class ApiKeyView:
    """A stored key as its owner sees it: never more of the key than its last 4 characters."""

    id: int
    exchange: str
    label: str
    masked_key: str
    created_at: datetime
    updated_at: datetime | None

    @property
    def exchange_name(self) -> str:
        """The exchange as people write it."""
        return exchange_name(self.exchange)


@dataclass(frozen=True)
class SavedKey:
    """The outcome of :meth:`ApiKeyService.save`."""

    key: ApiKeyView
    updated: bool  # True when an existing key (same exchange + label) was replaced


@dataclass(frozen=True)
class ApiCredentials:
    """Decrypted credentials, for the code that talks to the exchange; never shown."""

    key: str = field(repr=False)
    secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)


def _view(record: ApiKeyRecord) -> ApiKeyView:
    return ApiKeyView(
        record.id,
        record.exchange,
        record.label,
        mask(record.key_hint),
        record.created_at,
        record.updated_at,
    )


class KeyUnavailable(Refusal):
    """No such key for this account, or no room for another: retrying the same won't help."""


def _not_found(key_id: int) -> KeyUnavailable:
    # The same words whether the id does not exist or belongs to someone else.
    return KeyUnavailable(ApiKeyNotFound(key_id))


class ApiKeyService:
    """Lists, adds, replaces and deletes an account's exchange API keys."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        crypto: EncryptionService,
        accounts: AccountService,
        twofactor: TwoFactorService,
        safety: SafetyService,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self._crypto = crypto
        self._accounts = accounts
        self._twofactor = twofactor
        self._safety = safety

    # --- reading ---------------------------------------------------------------------------

    async def keys(self, account_id: int) -> list[ApiKeyView]:
        """The account's keys, oldest first."""
        async with self._uow(read_only=True) as uow:
            return [_view(r) for r in await uow.apikeys.for_account(account_id)]

    async def get(self, account_id: int, key_id: int) -> ApiKeyView:
        """One of the account's keys; Refusal when the account has no key with that id."""
        async with self._uow(read_only=True) as uow:
            record = await uow.apikeys.get(account_id, key_id)
        if record is None:
            raise _not_found(key_id)
        return _view(record)

    async def credentials(self, account_id: int, key_id: int) -> ApiCredentials:
        """Decrypt one of the account's keys (for the trading engine, never for display)."""
        async with self._uow(read_only=True) as uow:
            tokens = await uow.apikeys.tokens(account_id, key_id)
        if tokens is None:
            raise _not_found(key_id)

        def open_(token: str, purpose: str) -> str:
            return self._crypto.decrypt(
                token, owner=account_id, purpose=sealed_purpose(purpose, key_id)
            )

        return ApiCredentials(
            open_(tokens.key_enc, PURPOSE_KEY),
            open_(tokens.secret_enc, PURPOSE_SECRET),
            open_(tokens.passphrase_enc, PURPOSE_PASSPHRASE) if tokens.passphrase_enc else None,
        )

    async def needs_code(self, account_id: int) -> bool:
        """True when changes are confirmed with a 2FA code (2FA on), False for the password."""
        return await self._twofactor.is_enabled(account_id)

    async def prepare(self, session: Session, exchange: str, label: str) -> ApiKeyView | None:
        """Before the user sends any secret: may this key be added? Returns the key it would
        replace (same exchange + label), if any. Raises Refusal when it may not."""
        exchange, label = validate_exchange(exchange), validate_label(label)
        async with self._uow(read_only=True) as uow:
            await self._safety.check(uow, Action.API_KEYS)
            existing = await uow.apikeys.by_label(session.account_id, exchange, label)
            count = await uow.apikeys.count(session.account_id)
        if existing is None and count >= MAX_KEYS:
            raise _full()
        return _view(existing) if existing else None

    # --- changes ---------------------------------------------------------------------------

    async def save(self, session: Session, draft: ApiKeyDraft, confirmation: str) -> SavedKey:
        """Store a new key, or replace the one with the same exchange + label.

        ``confirmation`` is a fresh 2FA code when 2FA is on, the password otherwise. The
        draft is validated again here, and the kill switch checked inside the write, so
        nothing is half-written: either the whole key and its audit event commit, or nothing.
        """
        draft = draft.validated()
        await self._safety.ensure_allowed(Action.API_KEYS)
        proof = await self._confirm(session, confirmation, "api_key_add")
        account_id = session.account_id
        hint = draft.key[-HINT_LENGTH:]
        now = self._clock.now()
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, session, proof)
            await self._safety.check(uow, Action.API_KEYS)
            existing = await uow.apikeys.by_label(account_id, draft.exchange, draft.label)
            if existing is None:
                if await uow.apikeys.count(account_id) >= MAX_KEYS:
                    raise _full()
                key_id = await uow.apikeys.add(
                    account_id=account_id,
                    exchange=draft.exchange,
                    label=draft.label,
                    created_at=now,
                )
            else:
                key_id = existing.id
            await uow.apikeys.set_credentials(
                account_id,
                key_id,
                tokens=self._seal(account_id, key_id, draft),
                key_hint=hint,
                updated_at=None if existing is None else now,
            )
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.API_KEY_ADDED if existing is None else EventType.API_KEY_UPDATED,
                    account_id=account_id,
                    telegram_user_id=session.telegram_user_id,
                    details={
                        "key_id": key_id,
                        "exchange": draft.exchange,
                        "label": existing.label if existing else draft.label,
                        "masked_key": mask(hint),
                    },
                ),
            )
            record = await uow.apikeys.get(account_id, key_id)
            await uow.commit()
        assert record is not None
        return SavedKey(_view(record), updated=existing is not None)

    async def delete(self, session: Session, key_id: int, code: str | None = None) -> ApiKeyView:
        """Delete one of the account's keys. With 2FA on, ``code`` must be a fresh 2FA code.

        The caller asks the user to confirm first (SPEC §3: a confirmation button).
        """
        await self._safety.ensure_allowed(Action.API_KEYS)
        await self.get(session.account_id, key_id)  # not found: refuse before asking for a code
        proof: ReauthProof | None = None
        if await self._twofactor.is_enabled(session.account_id):
            if code is None:
                raise Refusal(DeleteNeedsCode())
            proof = await self._twofactor.proof_for_action(session, code, "api_key_delete")
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, session, proof)
            await self._safety.check(uow, Action.API_KEYS)
            record = await uow.apikeys.get(session.account_id, key_id)
            if record is None or not await uow.apikeys.delete(session.account_id, key_id):
                raise _not_found(key_id)
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.API_KEY_DELETED,
                    Severity.INFO,
                    account_id=session.account_id,
                    telegram_user_id=session.telegram_user_id,
                    details={
                        "key_id": key_id,
                        "exchange": record.exchange,
                        "label": record.label,
                        "masked_key": mask(record.key_hint),
                    },
                ),
            )
            await uow.commit()
        return _view(record)

    # --- helpers ---------------------------------------------------------------------------

    async def _confirm(self, session: Session, confirmation: str, action: str) -> ReauthProof:
        """A fresh 2FA code when 2FA is on, else the password (SPEC §4); Refusal if wrong.
        The proof is checked again in the writing transaction."""
        if await self._twofactor.is_enabled(session.account_id):
            return await self._twofactor.proof_for_action(session, confirmation, action)
        return await self._accounts.reauthenticate(session, confirmation)

    def _seal(self, account_id: int, key_id: int, draft: ApiKeyDraft) -> ApiKeyTokens:
        def seal(value: str, purpose: str) -> str:
            return self._crypto.encrypt(
                value, owner=account_id, purpose=sealed_purpose(purpose, key_id)
            )

        return ApiKeyTokens(
            seal(draft.key, PURPOSE_KEY),
            seal(draft.secret, PURPOSE_SECRET),
            seal(draft.passphrase, PURPOSE_PASSPHRASE) if draft.passphrase is not None else None,
        )


def _full() -> KeyUnavailable:
    return KeyUnavailable(ApiKeysFull(MAX_KEYS))
