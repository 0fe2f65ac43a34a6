"""The pure rules of a payment: amounts, statuses, outcomes and reasons, and :func:`evaluate`,
which judges a chain transaction against an invoice without any I/O; and the value types the
service returns (check reports, history, views).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from core.config import AMOUNT_STEP_MICRO, PaymentSettings
from core.errors import Refusal
from core.money import format_usdt
from core.payments.chain import ChainTransaction
from core.payments.ports import (
    InvoiceRecord,
    InvoiceStatus,
    LicenseRecord,
    PaymentRecord,
    PaymentStatus,
)
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
# A transfer made before its invoice expired is still taken when sent this long after expiry.
LATE_WINDOW = timedelta(days=7)
# A hash still unknown to the chain this long after /pay (and after the invoice's expiry) expires.
NOT_FOUND_GRACE = timedelta(hours=1)
# More than this many times the invoice is never credited by a rule alone: an admin looks (a
# stray large transfer, or a source that misreads the decimals, never mints wallet money).
OVERPAYMENT_REVIEW_FACTOR = 2
MAX_AMOUNT_MICRO = 10**15  # a billion USDT: anything above is a misreading, not a payment

_TX_HASH = re.compile(r"^[0-9a-f]{64}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Suspicious-activity rules raised here (values of details.rule).
RULE_HASH_REUSE = "payment_hash_reuse"
RULE_WRONG_TOKEN = "payment_wrong_token"  # noqa: S105 (a token contract, not a secret)
RULE_FAILED_VERIFICATIONS = "payment_failed_verifications"
RULE_ODD_ANSWER = "payment_unexpected_answer"  # alerted once per payment
RULE_REVIEW = "payment_needs_review"  # money reached us, an admin decides (once per payment)
RULE_DISPUTED = "payment_hash_disputed"  # a second account claims a held, unsettled transfer


# Statuses an admin may still approve or reject.
OPEN_TO_ADMIN: tuple[PaymentStatus, ...] = (
    PaymentStatus.PENDING,
    PaymentStatus.FAILED,
    PaymentStatus.EXPIRED,
    PaymentStatus.PARTIAL,
    PaymentStatus.REVIEW,
)
# Statuses an admin may credit to the payer's wallet instead (the money is ours, no license).
CREDITABLE: tuple[PaymentStatus, ...] = (PaymentStatus.PARTIAL, PaymentStatus.REVIEW)


class Outcome(StrEnum):
    APPROVE = "approve"  # a final transfer of the invoice's amount
    PENDING = "pending"
    FAIL = "fail"
    PARTIAL = "partial"  # a final transfer of less: counts toward the invoice
    OVERPAID = "overpaid"  # a final transfer of more: approves, the excess goes to the wallet
    REVIEW = "review"  # a final transfer to us that no rule may decide alone: an admin does


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
    UNDERPAID = "underpaid"  # partial: less than the invoice so far
    OVERPAID = "overpaid"  # approved with the excess credited to the wallet
    PAID_LATE = "paid_late"  # review: the transfer was made after the invoice expired
    AMBIGUOUS = "ambiguous"  # review: not the exact amount while others' invoices were open
    AMOUNT_UNREADABLE = "amount_unreadable"  # review: a transfer to us whose amount is unclear
    PARTIAL_EXPIRED = "partial_expired"  # review: a partial never topped up in time
    DISPUTED = "disputed"  # review: another account submitted the same transfer
    CREDITED = "credited"  # an admin credited the payment to the payer's wallet
    LARGE_OVERPAYMENT = "large_overpayment"  # review: far more than the invoice
    SOURCES_DISAGREE = "sources_disagree"  # review: TronScan and the second source differ


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


def awaiting_payment(invoice: InvoiceRecord, timestamp_ms: int) -> bool:
    """True when ``invoice`` was open at ``timestamp_ms`` and nothing has paid it since."""
    return invoice.status is not InvoiceStatus.PAID and epoch_ms(
        invoice.created_at
    ) <= timestamp_ms < epoch_ms(invoice.expires_at)


def from_epoch_ms(ms: int) -> datetime:
    """The UTC time ``ms`` milliseconds after the epoch (a block time)."""
    return _EPOCH + timedelta(milliseconds=ms)


def evaluate(
    tx: ChainTransaction | None,
    invoice: InvoiceRecord,
    settings: PaymentSettings,
    others: Sequence[InvoiceRecord] = (),
) -> Verification:
    """Judge a transaction against an invoice (every rule of SPEC §7; pure, no I/O).

    Success is ``result == "SUCCESS"`` and not reverted, and nothing else. The transfer must be
    one of the transaction's TRC20 transfers whose contract is exactly the USDT contract, whose
    payee is the invoice's address (any of them may be ours) and whose own status, where
    given, is 0 (a failed transfer to us fails the payment), and it needs
    ``min_confirmations`` and, where the source says, ``confirmed``. An unknown transaction,
    too few confirmations or ``confirmed`` false stay pending.

    Then money that reached us is never dropped (issue 17). ``others`` are the other invoices
    (any account's) that may have awaited this transfer: one of them it fits exactly (its
    amount within the tolerance, open when the transfer was made) owns it, so it fails here and
    lets go of the hash. A transfer made before this invoice or after its expiry, or whose
    amount cannot be read, goes to an admin (REVIEW). Within the tolerance it approves; more is
    OVERPAID and less PARTIAL, but only while no other account's invoice awaited payment then
    (else anyone watching the address could claim a stranger's round sum): REVIEW otherwise.
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
    # Every USDT transfer to us in the transaction counts, so none of them is ever dropped.
    readable = [
        t.amount for t in ours if t.amount is not None and 0 <= t.amount <= MAX_AMOUNT_MICRO
    ]
    paid = sum(readable) if readable and len(readable) == len(ours) else None
    exact = paid if paid is not None and abs(paid - invoice.amount_micro) <= tolerance else None
    awaiting = [o for o in others if o.id != invoice.id and awaiting_payment(o, tx.timestamp_ms)]
    owner = next(
        (
            o
            for o in awaiting
            if exact is None and paid is not None and abs(paid - o.amount_micro) <= tolerance
        ),
        None,
    )
    rivals = [o for o in awaiting if o.account_id != invoice.account_id]
    seen_amounts = ", ".join(
        format_usdt(t.amount) if t.amount is not None else "unreadable" for t in ours
    )
    created_ms, expires_ms = epoch_ms(invoice.created_at), epoch_ms(invoice.expires_at)
    in_time = created_ms <= tx.timestamp_ms < expires_ms
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
            exact is not None if ours else None,
            f"{seen_amounts or 'nothing'} for {format_usdt(invoice.amount_micro)}"
            f" ± {format_usdt(tolerance)}"
            + (f", fits invoice #{owner.id}" if owner else "")
            + (f", {len(rivals)} other account(s) awaiting" if exact is None and rivals else ""),
        ),
        CheckResult(
            Check.TIME,
            in_time,
            f"{tx.timestamp_ms} ms, invoice from {created_ms} to {expires_ms} ms",
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
    elif owner is not None or paid == 0:
        reason = CheckNote.AMOUNT_MISMATCH  # another invoice's exact amount (theirs), or zero
    elif not final:
        return Verification(
            Outcome.PENDING, CheckNote.CONFIRMATIONS, checks, paid, tx.confirmations
        )
    elif paid is None:
        return Verification(
            Outcome.REVIEW, CheckNote.AMOUNT_UNREADABLE, checks, None, tx.confirmations
        )
    elif tx.timestamp_ms < created_ms:
        return Verification(
            Outcome.REVIEW, CheckNote.BEFORE_INVOICE, checks, paid, tx.confirmations
        )
    elif tx.timestamp_ms >= expires_ms:
        return Verification(Outcome.REVIEW, CheckNote.PAID_LATE, checks, paid, tx.confirmations)
    elif exact is not None:
        return Verification(Outcome.APPROVE, CheckNote.OK, checks, paid, tx.confirmations)
    elif rivals:
        return Verification(Outcome.REVIEW, CheckNote.AMBIGUOUS, checks, paid, tx.confirmations)
    elif paid > OVERPAYMENT_REVIEW_FACTOR * invoice.amount_micro:
        return Verification(
            Outcome.REVIEW, CheckNote.LARGE_OVERPAYMENT, checks, paid, tx.confirmations
        )
    elif paid > invoice.amount_micro:
        return Verification(Outcome.OVERPAID, CheckNote.OVERPAID, checks, paid, tx.confirmations)
    else:
        return Verification(Outcome.PARTIAL, CheckNote.UNDERPAID, checks, paid, tx.confirmations)
    return Verification(Outcome.FAIL, reason, checks, paid, tx.confirmations)


@dataclass(frozen=True)
class Settlement:
    """Where an invoice stands once a transfer is added to what it already received."""

    received_micro: int  # every counted transfer of the invoice, this one included
    complete: bool  # enough (within the tolerance) to approve
    missing_micro: int  # still to send when not complete
    excess_micro: int  # beyond the amount and its tolerance: credited to the payer's wallet


def settle(amount_micro: int, tolerance_micro: int, received_micro: int) -> Settlement:
    """The sum of an invoice's transfers against its amount (pure)."""
    complete = received_micro >= amount_micro - tolerance_micro
    excess = received_micro - amount_micro if received_micro > amount_micro + tolerance_micro else 0
    missing = 0 if complete else amount_micro - received_micro
    return Settlement(received_micro, complete, missing, excess)


def unexpected_answer(detail: str) -> Verification:
    """The verdict when the chain answered in a shape we do not know: pending, never judged."""
    return Verification(
        Outcome.PENDING,
        CheckNote.UNEXPECTED_ANSWER,
        (CheckResult(Check.FOUND, None, detail),),
    )


def sources_disagree(detail: str) -> Verification:
    """The verdict when the two chain sources tell different stories: an admin decides (one
    source alone, perhaps poisoned, never approves, and the transfer is never dropped)."""
    return Verification(
        Outcome.REVIEW,
        CheckNote.SOURCES_DISAGREE,
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
    settlement: Settlement | None = None  # for a counted transfer: the invoice's sum so far
    credited_micro: int = 0  # what this decision credited to the payer's wallet


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
