"""What payments needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
    created_at: str
    expires_at: str
    status: str
    signature: str | None


@dataclass(frozen=True)
class PaymentRecord:
    """A submitted transfer (``status``: pending, approved, failed, rejected, expired)."""

    id: int
    invoice_id: int
    account_id: int
    telegram_user_id: int
    tx_hash: str
    expected_micro: int
    status: str
    note: str
    submitted_at: str
    checked_at: str | None
    checks: int
    decided_at: str | None
    amount_micro: int | None
    approved_at: str | None
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
        created_at: str,
        expires_at: str,
    ) -> int:
        """Insert an open invoice; return its id. ``DuplicateError`` if the amount is taken."""
        ...

    async def sign_invoice(self, invoice_id: int, signature: str) -> None:
        """Store the invoice's signature."""
        ...

    async def invoice(self, invoice_id: int) -> InvoiceRecord | None:
        """The invoice with this id."""
        ...

    async def open_invoice(self, account_id: int, plan: str, *, now: str) -> InvoiceRecord | None:
        """The account's newest open, unexpired invoice for ``plan``."""
        ...

    async def open_amounts(self, low: int, high: int) -> list[int]:
        """Amounts of open invoices between ``low`` and ``high`` (inclusive)."""
        ...

    async def invoices_for(self, account_id: int, limit: int) -> list[InvoiceRecord]:
        """The account's newest invoices first."""
        ...

    async def set_invoice_status(self, invoice_id: int, status: str, *, was: str) -> bool:
        """Move an invoice from status ``was`` to ``status``; False when it was not ``was``."""
        ...

    async def expire_invoices(self, now: str) -> int:
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
        submitted_at: str,
    ) -> int:
        """Insert a pending payment; ``DuplicateError`` when the hash was ever used."""
        ...

    async def payment(self, payment_id: int) -> PaymentRecord | None:
        """The payment with this id."""
        ...

    async def payment_by_tx(self, tx_hash: str) -> PaymentRecord | None:
        """The payment that used this transaction hash."""
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

    async def record_check(self, payment_id: int, *, at: str, note: str) -> None:
        """Remember a verification run that left the payment pending."""
        ...

    async def decide(
        self, payment_id: int, *, status: str, note: str, at: str, was: tuple[str, ...]
    ) -> bool:
        """Move a payment whose status is in ``was`` to ``status``; False when it was not."""
        ...

    async def approve(
        self,
        payment_id: int,
        *,
        amount_micro: int,
        approved_at: str,
        approved_by_account_id: int | None,
        signature: str,
        note: str,
        was: tuple[str, ...],
    ) -> bool:
        """Approve a payment whose status is in ``was``; False when it was not."""
        ...

    async def failed_since(self, account_id: int, since: str) -> int:
        """Payments of the account that failed verification since ``since``."""
        ...


@dataclass(frozen=True)
class LicenseRecord:
    """One paid period of a plan."""

    id: int
    account_id: int
    payment_id: int
    plan: str
    tier: str
    starts_at: str
    ends_at: str
    created_at: str
    signature: str | None


class LicensesRepository(Protocol):
    """Licenses bought with payments."""

    async def add(
        self,
        *,
        account_id: int,
        payment_id: int,
        plan: str,
        tier: str,
        starts_at: str,
        ends_at: str,
        created_at: str,
    ) -> int:
        """Insert a license; return its id."""
        ...

    async def sign(self, license_id: int, signature: str) -> None:
        """Store the license's signature."""
        ...

    async def ending_after(self, account_id: int, when: str) -> list[LicenseRecord]:
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
    created_at: str
    signature: str | None


class WalletRepository(Protocol):
    """The wallet ledger; a balance is the sum of an account's entries."""

    async def add(
        self,
        *,
        account_id: int,
        amount_micro: int,
        kind: str,
        payment_id: int | None,
        created_at: str,
    ) -> int:
        """Append an entry; ``DuplicateError`` when the payment already caused this kind."""
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
