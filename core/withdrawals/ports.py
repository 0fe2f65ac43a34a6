"""What withdrawals needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class WithdrawalStatus(StrEnum):
    """Where a withdrawal request stands (stored as its value)."""

    REQUESTED = "requested"
    COMPLETED = "completed"
    REJECTED = "rejected"


@dataclass(frozen=True)
class WithdrawalRecord:
    """A withdrawal request (``status``: requested, completed, rejected) and its outcome."""

    id: int
    account_id: int
    telegram_user_id: int
    amount_micro: int
    address: str
    status: WithdrawalStatus
    requested_at: datetime
    hold_entry_id: int | None
    decided_at: datetime | None
    decided_by_account_id: int | None
    tx_hash: str | None
    reason: str
    signature: str | None


class WithdrawalsRepository(Protocol):
    """Withdrawal requests; reads for users are scoped to the owning account."""

    async def add(
        self,
        *,
        account_id: int,
        telegram_user_id: int,
        amount_micro: int,
        address: str,
        requested_at: datetime,
    ) -> int:
        """Insert a requested withdrawal; return its id. :meth:`attach_hold` must follow in
        the same unit of work."""
        ...

    async def attach_hold(self, withdrawal_id: int, hold_entry_id: int, signature: str) -> None:
        """Store the ledger entry holding the amount and the request's signature."""
        ...

    async def get(self, withdrawal_id: int) -> WithdrawalRecord | None:
        """The withdrawal with this id (admins only: users go through :meth:`for_account`)."""
        ...

    async def by_tx_hash(self, tx_hash: str) -> WithdrawalRecord | None:
        """The withdrawal completed with this payout transaction."""
        ...

    async def for_account(self, account_id: int, limit: int) -> list[WithdrawalRecord]:
        """The account's newest withdrawals first."""
        ...

    async def requested(self, limit: int) -> list[WithdrawalRecord]:
        """Withdrawals waiting for an admin, oldest first."""
        ...

    async def totals(self, account_id: int) -> dict[WithdrawalStatus, int]:
        """Sum of the account's withdrawal amounts per status (missing statuses: none)."""
        ...

    async def decide(
        self,
        withdrawal_id: int,
        *,
        status: WithdrawalStatus,
        at: datetime,
        by_account_id: int,
        tx_hash: str | None,
        reason: str,
    ) -> bool:
        """Move a requested withdrawal to ``status``; False when it was no longer requested.
        Raises ``DuplicateError`` when ``tx_hash`` already completed another withdrawal."""
        ...
