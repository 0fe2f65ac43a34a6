"""What watching the receive address needs from storage (storage/watch_repository.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from core.payments.ports import InvoiceRecord


class WatchState(StrEnum):
    """Where a transfer seen at the receive address stands (stored as its value)."""

    RETRY = "retry"  # it fits an invoice; confirming or submitting it is still to be done
    MATCHED = "matched"  # a payment holds it (the watcher's, or the payer's own /pay)
    KNOWN = "known"  # a payment that was decided already holds its hash: nothing to do
    UNMATCHED = "unmatched"  # no invoice takes it: the admins hear of it (hourly digest)


@dataclass(frozen=True)
class WatchedTransferRecord:
    """One incoming transfer the watcher has seen, once per transaction hash."""

    tx_hash: str
    to_address: str
    contract_address: str
    amount_micro: int | None
    block_ms: int
    seen_at: datetime
    state: WatchState
    reason: str  # why it is unmatched (a watch_rules.Unmatched value), or ""
    invoice_id: int | None = None
    payment_id: int | None = None
    attempts: int = 0
    alerted_at: datetime | None = None


@dataclass(frozen=True)
class WatchCursor:
    """How far the list of an address's transfers was read: every transfer with a block time
    up to ``read_to_ms``. A window up to ``backlog_top_ms`` held more transfers than one round
    reads: those after ``backlog_end_ms`` are read, the ones up to it are still to read."""

    read_to_ms: int
    backlog_end_ms: int | None = None
    backlog_top_ms: int | None = None


@dataclass(frozen=True)
class WatchCandidate:
    """An invoice that a transfer made at some time could pay, and who asked for it."""

    invoice: InvoiceRecord
    telegram_user_id: int | None


class WatchRepository(Protocol):
    """The transfers seen at receive addresses and how far the list has been read."""

    async def cursor(self, address: str) -> WatchCursor | None:
        """How far the list of ``address`` was read, if at all."""
        ...

    async def put_cursor(self, address: str, cursor: WatchCursor, *, at: datetime) -> None:
        """Remember how far the list of ``address`` was read."""
        ...

    async def add(self, record: WatchedTransferRecord) -> bool:
        """Remember a newly seen transfer; False when its hash was seen already."""
        ...

    async def get(self, tx_hash: str) -> WatchedTransferRecord | None:
        """The transfer seen with this hash."""
        ...

    async def settle(
        self,
        tx_hash: str,
        *,
        state: WatchState,
        reason: str = "",
        invoice_id: int | None = None,
        payment_id: int | None = None,
    ) -> bool:
        """Move a transfer out of ``retry``; False when it was not in ``retry``."""
        ...

    async def count_attempt(self, tx_hash: str) -> None:
        """One more try at a transfer still in ``retry``."""
        ...

    async def retrying(self, limit: int) -> list[WatchedTransferRecord]:
        """Transfers still in ``retry``, least tried first."""
        ...

    async def unalerted(self, limit: int) -> list[WatchedTransferRecord]:
        """Unmatched transfers the admins have not been told about, oldest first."""
        ...

    async def mark_alerted(self, tx_hashes: list[str], *, at: datetime) -> None:
        """The admins were told about these transfers."""
        ...

    async def candidates(
        self, address: str, *, since: datetime, until: datetime
    ) -> list[WatchCandidate]:
        """Invoices for ``address`` alive at some time between ``since`` and ``until``
        (created at or before ``until``, expiring after ``since``), whatever their status now
        (open, paid or expired)."""
        ...
