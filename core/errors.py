"""Every exception Verzek Guard raises on purpose.

VerzekError
├── UserError           -- a refusal with a text that is safe and useful to show the user;
│                          the bot catches it centrally and replies with ``user_message``.
├── ConfigError         -- bad or missing configuration; carries one line per problem.
├── EncryptionKeyError  -- missing or malformed master key (start-up stops).
├── DecryptionError     -- a ciphertext that fails its key or its owner/purpose binding.
├── StorageError        -- the database is unusable (newer schema, failed migration).
└── ChainUnavailableError -- no trustworthy answer from the blockchain API (after retries).

None of these messages may carry a secret: they reach logs and terminals.
"""

from __future__ import annotations


class VerzekError(Exception):
    """Base of all deliberate Verzek Guard errors."""


class UserError(VerzekError):
    """A polite refusal whose text is shown to the user as is."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


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
