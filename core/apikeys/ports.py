"""What apikeys needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ApiKeyRecord:
    """An exchange API key as lists show it (no ciphertexts)."""

    id: int
    account_id: int
    exchange: str
    label: str
    key_hint: str  # the key's last 4 characters at most
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class ApiKeyTokens:
    """The encrypted credentials of one key row."""

    key_enc: str
    secret_enc: str
    passphrase_enc: str | None


class ApiKeysRepository(Protocol):
    """Exchange API keys. Every read and delete is scoped to the owning account."""

    async def for_account(self, account_id: int) -> list[ApiKeyRecord]:
        """The account's keys, oldest first."""
        ...

    async def get(self, account_id: int, key_id: int) -> ApiKeyRecord | None:
        """The key with this id if it belongs to the account."""
        ...

    async def by_label(self, account_id: int, exchange: str, label: str) -> ApiKeyRecord | None:
        """The account's key for this exchange and label (label compared case-insensitively)."""
        ...

    async def count(self, account_id: int) -> int:
        """How many keys the account has."""
        ...

    async def add(self, *, account_id: int, exchange: str, label: str, created_at: datetime) -> int:
        """Insert a row and return its id; :meth:`set_credentials` must follow in the same
        unit of work (the ciphertexts are bound to the id)."""
        ...

    async def set_credentials(
        self,
        account_id: int,
        key_id: int,
        *,
        tokens: ApiKeyTokens,
        key_hint: str,
        updated_at: datetime | None,
    ) -> None:
        """Store (or replace) the encrypted credentials of the account's key row."""
        ...

    async def tokens(self, account_id: int, key_id: int) -> ApiKeyTokens | None:
        """The encrypted credentials of the account's key."""
        ...

    async def delete(self, account_id: int, key_id: int) -> bool:
        """Remove the account's key; False when there was none with that id."""
        ...
