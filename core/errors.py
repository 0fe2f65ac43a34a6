"""Every exception Verzek Guard raises on purpose.

VerzekError
├── Refusal             -- core said no to what a user asked, for a typed ``reason``;
│   │                      the bot catches it (centrally or in the step) and renders the reason.
│   ├── CodeBlocked, Halted, AlreadySet, CoolingDown, KeyUnavailable, WithdrawalRefused …
│   │                      -- kinds a handler tells apart (a flow ends, a notice differs); each
│   │                      is defined next to its feature and still carries a Reason.
│   └── BackupError       -- its reason BackupFailed carries the operator's diagnostic (a
│                            file, a check, the system's error text), shown as is, untranslated.
├── ConfigError         -- bad or missing configuration; carries one line per problem.
├── EncryptionKeyError  -- missing or malformed master key (start-up stops).
├── DecryptionError     -- a ciphertext that fails its key or its owner/purpose binding.
├── StorageError        -- the database is unusable (newer schema, failed migration).
└── ChainUnavailableError -- no trustworthy answer from the blockchain API (after retries).

Reasons, not words (as django-otp's ``VerifyNotAllowed``): a :class:`Reason` is a small frozen
dataclass, one class per way of refusing; its fields are the parameters the words may use
(``invoice_id``, ``seconds``, ``until``). A feature package keeps its reasons in its
``refusals.py`` (``core/payments/refusals.py``); a module with one or two keeps them beside the
code (``core/authz.py``: the admin ones; ``core/safety/service.py``; ``core/accounts/cooldown.py``).
Core never writes a sentence a user reads, a bot command name or HTML: ``bot/texts`` maps every
Reason class to its text per language, and tests/test_texts_catalogue.py fails when one is missing.

The operator-facing errors (ConfigError, EncryptionKeyError, StorageError, …) keep their plain
messages: they are read in logs and terminals by whoever runs the service, not shown to users.

None of these messages or reason fields may carry a secret: they reach logs and terminals.
"""

from __future__ import annotations

from dataclasses import dataclass


class VerzekError(Exception):
    """Base of all deliberate Verzek Guard errors."""


@dataclass(frozen=True)
class Reason:
    """Why core refused; subclass it (a frozen dataclass) once per way of refusing."""


class Refusal(VerzekError):
    """Core refused what was asked, for ``reason``; the bot renders the words."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)  # str() is the reason's repr: fine for logs, no words
        self.reason = reason


class ConfigError(VerzekError):
    """Configuration problems, one human-readable line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class EncryptionKeyError(VerzekError):
    """The master key is missing or malformed."""


class DecryptionError(VerzekError):
    """A value could not be decrypted for the owner and purpose asked."""


class StorageError(VerzekError):
    """The database cannot be used as it is."""


class DuplicateError(VerzekError):
    """A unique value (email, referral code, transaction hash) is already taken."""


class ChainUnavailableError(VerzekError):
    """The blockchain API gave no trustworthy answer (timeouts, throttling, 5xx, bad JSON).

    The message names the kind of failure only, never a URL with credentials or a header.
    """
