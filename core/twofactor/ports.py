"""What twofactor needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class MfaRecord:
    """An account's TOTP enrolment (pending while ``enabled_at`` is None)."""

    account_id: int
    secret_enc: str
    created_at: datetime
    enabled_at: datetime | None
    last_used_step: int


@dataclass(frozen=True)
class BackupCodeRecord:
    """An unused backup code's hash."""

    id: int
    code_hash: str


class TwoFactorRepository(Protocol):
    """TOTP secrets, backup codes and wrong-code attempts."""

    async def get(self, account_id: int) -> MfaRecord | None:
        """The account's 2FA row."""
        ...

    async def put_pending(self, account_id: int, secret_enc: str, created_at: datetime) -> None:
        """Start or restart an enrolment (an enabled row is left alone)."""
        ...

    async def enable(self, account_id: int, at: datetime, step: int) -> bool:
        """Complete a pending enrolment; False when it was already enabled (or gone)."""
        ...

    async def use_step(self, account_id: int, step: int) -> bool:
        """Record an accepted step; False when not newer than the last (replay)."""
        ...

    async def delete(self, account_id: int) -> None:
        """Remove 2FA and its backup codes."""
        ...

    async def replace_backup_codes(self, account_id: int, hashes: list[str], at: datetime) -> None:
        """Void the old set, store the new hashes."""
        ...

    async def unused_backup_codes(self, account_id: int) -> list[BackupCodeRecord]:
        """Codes not used yet."""
        ...

    async def use_backup_code(self, code_id: int, at: datetime) -> bool:
        """Spend one code; False when already spent."""
        ...

    async def add_failure(self, account_id: int, at: datetime) -> int:
        """Record a wrong (or reserved, not yet checked) code; return its id."""
        ...

    async def remove_failure(self, failure_id: int) -> None:
        """Withdraw a reserved failure whose code turned out to be right."""
        ...

    async def failures_since(self, account_id: int, since: datetime) -> list[datetime]:
        """Wrong-code times since ``since``."""
        ...
