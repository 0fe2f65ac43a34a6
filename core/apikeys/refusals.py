"""Why API key operations refuse: one Reason per case (words: bot/texts/en/apikeys.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import Reason


class Credential(StrEnum):
    """Which credential of a key a check is about."""

    KEY = "key"
    SECRET = "secret"  # noqa: S105 -- the name of a field, not a secret


@dataclass(frozen=True)
class ExchangeUnknown(Reason):
    """Not one of the supported exchanges."""


@dataclass(frozen=True)
class LabelInvalid(Reason):
    """Not a label of 1 to ``maximum`` allowed characters."""

    maximum: int


@dataclass(frozen=True)
class CredentialMalformed(Reason):
    """The API key or secret (``credential``) is not ``minimum``–``maximum`` plain characters."""

    credential: Credential
    minimum: int
    maximum: int


@dataclass(frozen=True)
class SecretIsKey(Reason):
    """The secret sent is the key again."""


@dataclass(frozen=True)
class PassphraseMalformed(Reason):
    """Not ``minimum``–``maximum`` characters on one line."""

    minimum: int
    maximum: int


@dataclass(frozen=True)
class PassphraseMissing(Reason):
    """The ``exchange`` needs a passphrase and none came."""

    exchange: str


@dataclass(frozen=True)
class DeleteNeedsCode(Reason):
    """Deleting a key with 2FA on needs a code."""


@dataclass(frozen=True)
class ApiKeyNotFound(Reason):
    """No key ``key_id`` for this account (the same whether it exists for someone else)."""

    key_id: int


@dataclass(frozen=True)
class ApiKeysFull(Reason):
    """The account holds ``maximum`` keys already."""

    maximum: int
