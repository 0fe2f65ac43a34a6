"""What each signature covers: the one definition of every signed record's fields (SPEC §7).

Rows that grant something (invoices, approved payments, licenses, wallet ledger entries) carry
an HMAC-SHA256 signature (:meth:`core.crypto.EncryptionService.sign`) over a versioned label
and some of their fields. The field lists below are the only place that says which fields:
the domain services sign and verify with them (:func:`sign_record`, :func:`verify_record`),
and ``verzek rotate-key`` re-signs with them through the signed-table registry
``storage/signatures_repository.py`` (``SIGNED_TABLES``), which names each list next to its
table. The two can therefore never drift apart.

A field name is both the record's attribute and the table's column. Changing a list (or its
label) invalidates every signature already stored under it: sign more fields under a new label
(``…/v2``) and keep the old list verifiable instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.clock import to_iso
from core.crypto import EncryptionService


class SignedRecord(Protocol):
    """A record that stores its own signature (``None``: never signed)."""

    @property
    def signature(self) -> str | None: ...


def _encode(value: object) -> str | int:
    # NULL signs as "" (e.g. a ledger entry no payment caused); values are str or int.
    # A datetime signs as its stored text (to_iso), so a record and its raw row sign alike.
    if value is None:
        return ""
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, str | int):
        return value
    return str(value)


@dataclass(frozen=True)
class SignedFields:
    """A signature's coverage: a versioned label, then these fields in this order."""

    label: str
    fields: tuple[str, ...]

    def _message(self, get: Callable[[str], object]) -> tuple[str | int, ...]:
        return (self.label, *(_encode(get(name)) for name in self.fields))

    def message(self, record: object) -> tuple[str | int, ...]:
        """What is signed for ``record`` (any object with these fields as attributes)."""
        return self._message(lambda name: getattr(record, name))

    def message_from(self, values: Mapping[str, object]) -> tuple[str | int, ...]:
        """What is signed for a stored row given as ``{column: value}``."""
        return self._message(values.__getitem__)


INVOICE_SIGNATURE = SignedFields(
    "invoice/v1",
    (
        "id",
        "account_id",
        "plan",
        "tier",
        "days",
        "amount_micro",
        "receive_address",
        "created_at",
        "expires_at",
    ),
)
# Payments are signed once their amount counts (approved, partial, review); others grant nothing.
PAYMENT_SIGNATURE = SignedFields(
    "payment/v1",
    ("id", "account_id", "invoice_id", "tx_hash", "amount_micro", "approved_at"),
)
LICENSE_SIGNATURE = SignedFields(
    "license/v1",
    ("id", "account_id", "payment_id", "plan", "tier", "starts_at", "ends_at"),
)
# Telegram Stars (core/payments/stars.py): the invoice a payload names, and each payment.
STARS_INVOICE_SIGNATURE = SignedFields(
    "stars_invoice/v1",
    ("id", "reference", "account_id", "plan", "tier", "days", "price_stars", "created_at"),
)
STARS_PAYMENT_SIGNATURE = SignedFields(
    "stars_payment/v1",
    ("id", "account_id", "invoice_id", "charge_id", "amount_stars", "approved_at"),
)
# Every ledger entry, whatever its kind (commissions, withdrawals, …), is signed with this list.
WALLET_ENTRY_SIGNATURE = SignedFields(
    "wallet_entry/v1",
    ("id", "account_id", "amount_micro", "kind", "payment_id", "created_at"),
)
# A withdrawal request, signed when its hold entry is attached (in the insert's transaction).
WITHDRAWAL_SIGNATURE = SignedFields(
    "withdrawal/v1",
    (
        "id",
        "account_id",
        "telegram_user_id",
        "amount_micro",
        "address",
        "requested_at",
        "hold_entry_id",
    ),
)


def sign_record(crypto: EncryptionService, spec: SignedFields, record: object) -> str:
    """The signature of ``record`` under ``spec``, made with the newest master key."""
    return crypto.sign(*spec.message(record))


def verify_record(crypto: EncryptionService, spec: SignedFields, record: SignedRecord) -> bool:
    """True when ``record`` carries a signature under ``spec`` made by any configured key."""
    signature = record.signature
    return signature is not None and crypto.verify_signature(signature, *spec.message(record))
