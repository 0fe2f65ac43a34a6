"""Why payment operations refuse: one Reason per case (words: bot/texts/en/payments.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import Reason


class Decision(StrEnum):
    """What an admin tried to do with a payment."""

    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class TxHashMalformed(Reason):
    """Not 64 hex characters."""


@dataclass(frozen=True)
class PaymentsOff(Reason):
    """No receive address is configured."""


@dataclass(frozen=True)
class PlanNotOnSale(Reason):
    """No plan of that name."""


@dataclass(frozen=True)
class InvoicesBusy(Reason):
    """Every unique amount for this plan is taken by an open invoice."""


@dataclass(frozen=True)
class InvoiceOpenElsewhere(Reason):
    """The Telegram user has an open invoice for this plan on another account."""


@dataclass(frozen=True)
class InvoiceNotFound(Reason):
    """The account has no invoice ``invoice_id`` (the same when someone else has)."""

    invoice_id: int


@dataclass(frozen=True)
class InvoiceAlreadyPaid(Reason):
    """Invoice ``invoice_id`` is paid."""

    invoice_id: int


@dataclass(frozen=True)
class InvoiceExpired(Reason):
    """Invoice ``invoice_id`` is past its time."""

    invoice_id: int


@dataclass(frozen=True)
class InvoiceUnusable(Reason):
    """The invoice row fails its signature (reported)."""


@dataclass(frozen=True)
class InvoiceHasPending(Reason):
    """The invoice has as many pending payments as it may."""


@dataclass(frozen=True)
class TxAlreadySent(Reason):
    """This account already sent this hash for this invoice, as ``payment_id``."""

    payment_id: int


@dataclass(frozen=True)
class TxAlreadyUsed(Reason):
    """A pending or approved payment of another invoice holds the hash (reported if paid)."""


@dataclass(frozen=True)
class TxRejected(Reason):
    """An admin rejected a payment of this account with this hash: the same transfer cannot be
    sent again by the same account to have the chain rules approve what an admin refused."""

    payment_id: int


@dataclass(frozen=True)
class TxBeingChecked(Reason):
    """Another invoice's pending payment holds the hash and the chain cannot tell yet whether
    the transfer fits it; nobody is suspected, the payer may try again shortly."""


@dataclass(frozen=True)
class PaymentNotFound(Reason):
    """No payment ``payment_id``."""

    payment_id: int


@dataclass(frozen=True)
class PaymentNotOpen(Reason):
    """Payment ``payment_id`` is ``status``, so an admin cannot ``decision`` it."""

    payment_id: int
    status: str
    decision: Decision


@dataclass(frozen=True)
class InvoicePaidByAnother(Reason):
    """Invoice ``invoice_id`` was paid by another payment."""

    invoice_id: int


@dataclass(frozen=True)
class PaymentTampered(Reason):
    """The payment's rows fail their integrity check (reported)."""


@dataclass(frozen=True)
class PaymentDecidedMeanwhile(Reason):
    """Payment ``payment_id`` was decided by someone else meanwhile."""

    payment_id: int


@dataclass(frozen=True)
class RejectionReasonMissing(Reason):
    """An admin rejected a payment without saying why."""


@dataclass(frozen=True)
class TxClaimed(Reason):
    """Another invoice's partial or review payment holds the transfer: an admin decides."""


@dataclass(frozen=True)
class PaymentNotCreditable(Reason):
    """Payment ``payment_id`` is ``status``: only partial and review payments are credited."""

    payment_id: int
    status: str


@dataclass(frozen=True)
class PaymentAmountUnknown(Reason):
    """Payment ``payment_id`` has no amount that reached us to credit."""

    payment_id: int
