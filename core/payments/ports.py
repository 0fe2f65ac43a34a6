"""What payments needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class InvoiceStatus(StrEnum):
    """Where an invoice stands (stored as its value)."""

    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"


class PaymentStatus(StrEnum):
    """Where a submitted transfer stands (stored as its value)."""

    PENDING = "pending"
    APPROVED = "approved"
    FAILED = "failed"  # the chain says this transfer can never pay the invoice
    REJECTED = "rejected"  # an admin said no
    EXPIRED = "expired"  # the invoice expired before the transfer was found
    PARTIAL = "partial"  # a final transfer of less than the invoice: counts toward it (signed)
    REVIEW = "review"  # money reached us but no rule may decide alone: an admin does (signed)


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice: what to pay, where, until when (``status``: open, paid, expired)."""

    id: int
    account_id: int
    plan: str
    tier: str
    days: int
    amount_micro: int
    receive_address: str
    created_at: datetime
    expires_at: datetime
    status: InvoiceStatus
    signature: str | None


@dataclass(frozen=True)
class PaymentRecord:
    """A submitted transfer (``status``: pending, approved, failed, rejected, expired, partial,
    review). ``amount_micro``/``approved_at``/``signature`` are set (and signed) once the
    transfer's amount counts: approved, partial or review."""

    id: int
    invoice_id: int
    account_id: int
    telegram_user_id: int
    tx_hash: str
    expected_micro: int
    status: PaymentStatus
    note: str
    submitted_at: datetime
    checked_at: datetime | None
    checks: int
    decided_at: datetime | None
    amount_micro: int | None
    approved_at: datetime | None
    approved_by_account_id: int | None
    signature: str | None


class PaymentsRepository(Protocol):
    """Invoices and the payments submitted against them."""

    async def add_invoice(
        self,
        *,
        account_id: int,
        plan: str,
        tier: str,
        days: int,
        amount_micro: int,
        receive_address: str,
        created_at: datetime,
        expires_at: datetime,
        telegram_user_id: int | None = None,
    ) -> int:
        """Insert an open invoice; return its id. ``DuplicateError`` if the amount is taken.
        ``telegram_user_id``: who asked for it."""
        ...

    async def sign_invoice(self, invoice_id: int, signature: str) -> None:
        """Store the invoice's signature."""
        ...

    async def invoice(self, invoice_id: int) -> InvoiceRecord | None:
        """The invoice with this id."""
        ...

    async def open_invoice(
        self, account_id: int, plan: str, *, now: datetime
    ) -> InvoiceRecord | None:
        """The account's newest open, unexpired invoice for ``plan``."""
        ...

    async def open_invoice_of_telegram_user(
        self, telegram_user_id: int, plan: str, *, now: datetime
    ) -> InvoiceRecord | None:
        """The newest open, unexpired invoice for ``plan`` asked for by ``telegram_user_id``
        or on an account registered from it (any account)."""
        ...

    async def open_amounts(self, low: int, high: int) -> list[int]:
        """Amounts of open invoices between ``low`` and ``high`` (inclusive)."""
        ...

    async def invoices_for(self, account_id: int, limit: int) -> list[InvoiceRecord]:
        """The account's newest invoices first."""
        ...

    async def set_invoice_status(
        self, invoice_id: int, status: InvoiceStatus, *, was: InvoiceStatus
    ) -> bool:
        """Move an invoice from status ``was`` to ``status``; False when it was not ``was``."""
        ...

    async def expire_invoices(self, now: datetime) -> int:
        """Mark open invoices past their expiry and without pending payments expired."""
        ...

    async def add_payment(
        self,
        *,
        invoice_id: int,
        account_id: int,
        telegram_user_id: int,
        tx_hash: str,
        expected_micro: int,
        submitted_at: datetime,
    ) -> int:
        """Insert a pending payment; ``DuplicateError`` when a payment holds the hash."""
        ...

    async def payment(self, payment_id: int) -> PaymentRecord | None:
        """The payment with this id."""
        ...

    async def payment_by_tx(self, tx_hash: str) -> PaymentRecord | None:
        """The payment holding this hash (pending or approved), else the newest that used it."""
        ...

    async def rejected_by(self, account_id: int, tx_hash: str) -> int | None:
        """The id of a payment of this account with this hash that an admin rejected, if any."""
        ...

    async def payments_for(self, account_id: int, limit: int) -> list[PaymentRecord]:
        """The account's newest payments first."""
        ...

    async def pending(self, limit: int) -> list[PaymentRecord]:
        """Pending payments, least recently checked first."""
        ...

    async def pending_count(self, invoice_id: int) -> int:
        """Pending payments of one invoice."""
        ...

    async def record_check(self, payment_id: int, *, at: datetime, note: str) -> None:
        """Remember a verification run that left the payment pending."""
        ...

    async def decide(
        self,
        payment_id: int,
        *,
        status: PaymentStatus,
        note: str,
        at: datetime,
        was: tuple[PaymentStatus, ...],
    ) -> bool:
        """Move a payment whose status is in ``was`` to ``status``; False when it was not."""
        ...

    async def approve(
        self,
        payment_id: int,
        *,
        amount_micro: int,
        approved_at: datetime,
        approved_by_account_id: int | None,
        signature: str,
        note: str,
        was: tuple[PaymentStatus, ...],
    ) -> bool:
        """Approve a payment whose status is in ``was``; False when it was not."""
        ...

    async def failed_since(self, account_id: int, since: datetime) -> int:
        """Payments of the account that failed verification since ``since``."""
        ...

    async def hold(
        self,
        payment_id: int,
        *,
        status: PaymentStatus,
        amount_micro: int | None,
        held_at: datetime,
        signature: str | None,
        note: str,
        was: tuple[PaymentStatus, ...],
    ) -> bool:
        """Move a payment whose status is in ``was`` to partial or review with the amount that
        reached us (signed, ``held_at`` stored as ``approved_at``); False when it was not."""
        ...

    async def partials(self, invoice_id: int) -> list[PaymentRecord]:
        """The invoice's partial payments (the transfers that count toward it), by id."""
        ...

    async def awaiting_at(self, at: datetime) -> list[InvoiceRecord]:
        """Invoices that were open at ``at`` (created before, expiring after) and are unpaid."""
        ...

    async def stale_partials(self, expired_before: datetime, limit: int) -> list[PaymentRecord]:
        """Partial payments of unpaid invoices that expired before ``expired_before``."""
        ...

    async def awaiting_admin(self, limit: int) -> list[PaymentRecord]:
        """Payments waiting for an admin (review), oldest first."""
        ...


@dataclass(frozen=True)
class LicenseRecord:
    """One paid period of a plan, bought by a USDT payment (``payment_id``) or a Telegram Stars
    payment (``stars_payment_id``, core/payments/stars.py): exactly one of the two is set."""

    id: int
    account_id: int
    payment_id: int | None
    plan: str
    tier: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    signature: str | None
    stars_payment_id: int | None = None


class LicensesRepository(Protocol):
    """Licenses bought with payments."""

    async def add(
        self,
        *,
        account_id: int,
        payment_id: int | None,
        plan: str,
        tier: str,
        starts_at: datetime,
        ends_at: datetime,
        created_at: datetime,
        stars_payment_id: int | None = None,
    ) -> int:
        """Insert a license; return its id."""
        ...

    async def of_stars_payment(self, stars_payment_id: int) -> LicenseRecord | None:
        """The license a Stars payment bought, if any."""
        ...

    async def end_at(self, license_id: int, ends_at: datetime, signature: str) -> None:
        """Move a license's end (a refund) and store its new signature."""
        ...

    async def sign(self, license_id: int, signature: str) -> None:
        """Store the license's signature."""
        ...

    async def ending_after(self, account_id: int, when: datetime) -> list[LicenseRecord]:
        """The account's licenses that end after ``when``, by start."""
        ...


@dataclass(frozen=True)
class WalletEntryRecord:
    """One ledger line: a signed amount (credit > 0, debit < 0) and what caused it."""

    id: int
    account_id: int
    amount_micro: int
    kind: str
    payment_id: int | None
    created_at: datetime
    signature: str | None
    stars_payment_id: int | None = None  # a Telegram Stars payment caused it (unsigned link)


class WalletRepository(Protocol):
    """The wallet ledger; a balance is the sum of an account's entries."""

    async def add(
        self,
        *,
        account_id: int,
        amount_micro: int,
        kind: str,
        payment_id: int | None,
        created_at: datetime,
        stars_payment_id: int | None = None,
    ) -> int:
        """Append an entry; ``DuplicateError`` when the payment already caused this kind."""
        ...

    async def of_stars_payment(self, kind: str, stars_payment_id: int) -> WalletEntryRecord | None:
        """The entry of ``kind`` a Stars payment caused, if any."""
        ...

    async def sign(self, entry_id: int, signature: str) -> None:
        """Store the entry's signature."""
        ...

    async def entries(self, account_id: int, limit: int) -> list[WalletEntryRecord]:
        """The account's newest entries first."""
        ...

    async def balance(self, account_id: int) -> int:
        """The sum of the account's entries."""
        ...
