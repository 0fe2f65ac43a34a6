"""The pure rules of a payment: amounts, statuses, outcomes and reasons, and :func:`evaluate`,
which judges a chain transaction against an invoice without any I/O; and the value types the
service returns (check reports, history, views).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from core.config import AMOUNT_STEP_MICRO, PaymentSettings
from core.errors import Refusal
from core.money import format_usdt
from core.payments.chain import ChainTransaction
from core.payments.ports import InvoiceRecord, LicenseRecord, PaymentRecord, PaymentStatus
from core.payments.refusals import TxHashMalformed

AMOUNT_STEP = AMOUNT_STEP_MICRO  # 0.02 USDT between open invoices (tolerance < half of it)
AMOUNT_SLOTS = 500  # distinct amounts tried per plan price (29.00 … 38.98)
MAX_PENDING_PER_INVOICE = 3
HISTORY_LIMIT = 10
PENDING_LIMIT = 50  # pending payments re-checked (and listed) per round
CHECK_CONCURRENCY = 4  # chain lookups in flight at once during a re-check round
FAILED_WINDOW = timedelta(hours=24)
FAILED_THRESHOLD = 3  # failed verifications by one account in the window: suspicious
REASON_MAX = 200

_TX_HASH = re.compile(r"^[0-9a-f]{64}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Suspicious-activity rules raised here (values of details.rule).
RULE_HASH_REUSE = "payment_hash_reuse"
RULE_WRONG_TOKEN = "payment_wrong_token"  # noqa: S105 (a token contract, not a secret)
RULE_FAILED_VERIFICATIONS = "payment_failed_verifications"
RULE_ODD_ANSWER = "payment_unexpected_answer"  # alerted once per payment


# Statuses an admin may still approve or reject.
OPEN_TO_ADMIN: tuple[PaymentStatus, ...] = (
    PaymentStatus.PENDING,
    PaymentStatus.FAILED,
    PaymentStatus.EXPIRED,
)


class Outcome(StrEnum):
    APPROVE = "approve"
    PENDING = "pending"
    FAIL = "fail"


class CheckNote(StrEnum):
    """Why a check ended the way it did, stored as the payment's note (not a refusal: those are
    :class:`core.errors.Reason`). The values are stored: never change one."""

    OK = "ok"
    NOT_FOUND = "not_found"
    CHAIN_UNAVAILABLE = "chain_unavailable"
    CONFIRMATIONS = "confirmations"
    TX_FAILED = "tx_failed"
    WRONG_TOKEN = "wrong_token"  # noqa: S105
    WRONG_RECIPIENT = "wrong_recipient"
    NO_TRANSFER = "no_transfer"
    AMOUNT_MISMATCH = "amount_mismatch"
    BEFORE_INVOICE = "before_invoice"
    INVOICE_PAID = "invoice_paid"
    TAMPERED = "tampered"
    EXPIRED = "expired"
    UNEXPECTED_ANSWER = "unexpected_answer"  # the chain's answer had a shape we do not know


class Check(StrEnum):
    """The verification checks, in the order /verify shows them."""

    FOUND = "found"
    SUCCESS = "success"
    TOKEN = "token"  # noqa: S105
    RECIPIENT = "recipient"
    AMOUNT = "amount"
    TIME = "time"
    CONFIRMATIONS = "confirmations"


@dataclass(frozen=True)
class CheckResult:
    """One check: passed (True), failed (False) or not decidable (None), with the facts."""

    check: Check
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class Verification:
    """The verdict on a transaction for an invoice."""

    outcome: Outcome
    reason: CheckNote
    checks: tuple[CheckResult, ...]
    paid_micro: int | None = None
    confirmations: int | None = None  # how deep the transaction is, when it was found


def epoch_ms(when: datetime) -> int:
    """Milliseconds since the epoch, in integer arithmetic."""
    return (when - _EPOCH) // timedelta(milliseconds=1)


def evaluate(
    tx: ChainTransaction | None, invoice: InvoiceRecord, settings: PaymentSettings
) -> Verification:
    """Judge a transaction against an invoice (every rule of SPEC §7; pure, no I/O).

    Success is ``result == "SUCCESS"`` and not reverted, and nothing else. The transfer must be
    one of the transaction's TRC20 transfers whose contract is exactly the USDT contract, whose
    payee is the invoice's address (any of them may be ours) and whose own status, where
    given, is 0 (a failed transfer to us fails the payment); its integer amount within the
    tolerance of the invoice; the transaction no older than the invoice; and it needs
    ``min_confirmations`` and, where the source says, ``confirmed``. An unknown transaction,
    too few confirmations or ``confirmed`` false stay pending.
    """
    if tx is None:
        return Verification(
            Outcome.PENDING,
            CheckNote.NOT_FOUND,
            (CheckResult(Check.FOUND, None, "unknown hash, or not indexed yet"),),
        )
    address, usdt = invoice.receive_address, settings.usdt_contract
    tolerance = settings.amount_tolerance_micro
    usdt_transfers = [t for t in tx.transfers if t.contract_address == usdt]
    to_us = [t for t in usdt_transfers if t.to_address == address]
    ours = [t for t in to_us if t.status in (None, 0)]
    failed_to_us = len(to_us) > len(ours)  # a transfer to us that says it did not go through
    succeeded = tx.result == "SUCCESS" and not tx.reverted
    final = tx.confirmations >= settings.min_confirmations and tx.confirmed is not False
    other_token_to_us = [
        t for t in tx.transfers if t.to_address == address and t.contract_address != usdt
    ]
    paid = next(
        (
            t.amount
            for t in ours
            if t.amount is not None and abs(t.amount - invoice.amount_micro) <= tolerance
        ),
        None,
    )
    seen_amounts = ", ".join(
        format_usdt(t.amount) if t.amount is not None else "unreadable" for t in ours
    )
    created_ms = epoch_ms(invoice.created_at)
    checks = (
        CheckResult(Check.FOUND, True, tx.hash),
        CheckResult(
            Check.SUCCESS,
            succeeded and not (failed_to_us and not ours),
            (tx.result or "none")
            + (", reverted" if tx.reverted else "")
            + (", a transfer to us failed" if failed_to_us else ""),
        ),
        CheckResult(
            Check.TOKEN,
            bool(usdt_transfers) and not other_token_to_us,
            ", ".join(sorted({t.contract_address or "?" for t in tx.transfers})) or "no transfer",
        ),
        CheckResult(
            Check.RECIPIENT,
            bool(ours),
            ", ".join(sorted({t.to_address or "?" for t in usdt_transfers})) or "no transfer",
        ),
        CheckResult(
            Check.AMOUNT,
            paid is not None if ours else None,
            f"{seen_amounts or 'nothing'} for {format_usdt(invoice.amount_micro)}"
            f" ± {format_usdt(tolerance)}",
        ),
        CheckResult(
            Check.TIME,
            tx.timestamp_ms >= created_ms,
            f"{tx.timestamp_ms} ms, invoice from {created_ms} ms",
        ),
        CheckResult(
            Check.CONFIRMATIONS,
            final,
            f"{tx.confirmations} of {settings.min_confirmations}"
            + (", not confirmed" if tx.confirmed is False else ""),
        ),
    )
    if not succeeded or (failed_to_us and not ours):
        reason = CheckNote.TX_FAILED
    elif not ours:
        if other_token_to_us or (tx.transfers and not usdt_transfers):
            reason = CheckNote.WRONG_TOKEN
        else:
            reason = CheckNote.WRONG_RECIPIENT if usdt_transfers else CheckNote.NO_TRANSFER
    elif paid is None:
        reason = CheckNote.AMOUNT_MISMATCH
    elif tx.timestamp_ms < created_ms:
        reason = CheckNote.BEFORE_INVOICE
    elif not final:
        return Verification(
            Outcome.PENDING, CheckNote.CONFIRMATIONS, checks, paid, tx.confirmations
        )
    else:
        return Verification(Outcome.APPROVE, CheckNote.OK, checks, paid, tx.confirmations)
    return Verification(Outcome.FAIL, reason, checks, paid, tx.confirmations)


def unexpected_answer(detail: str) -> Verification:
    """The verdict when the chain answered in a shape we do not know: pending, never judged."""
    return Verification(
        Outcome.PENDING,
        CheckNote.UNEXPECTED_ANSWER,
        (CheckResult(Check.FOUND, None, detail),),
    )


def normalise_tx_hash(text: str) -> str:
    """A transaction hash as stored (64 lowercase hex), or a Refusal."""
    cleaned = text.strip().lower()
    if not _TX_HASH.match(cleaned):
        raise Refusal(TxHashMalformed())
    return cleaned


@dataclass(frozen=True)
class CheckReport:
    """What a check found and did."""

    payment: PaymentRecord
    invoice: InvoiceRecord
    reason: CheckNote
    verification: Verification | None = None  # None when the chain did not answer
    decided: bool = False  # this check changed the payment's status: tell the user
    license: LicenseRecord | None = None
    signature_ok: bool | None = None  # for approved payments: does the row verify?


@dataclass(frozen=True)
class History:
    """A user's invoices and payments; ``untrusted`` are approved rows that fail their
    signature (shown as under review, never as paid)."""

    invoices: list[InvoiceRecord]
    payments: list[PaymentRecord]
    untrusted: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PaymentView:
    """A payment as the admins see it."""

    payment: PaymentRecord
    invoice: InvoiceRecord | None
    email: str
