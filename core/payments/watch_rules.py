"""The pure rules of watching the receive address (SPEC §7, issue 17): which invoice an
incoming transfer is for, how far back to read, and what the admins' hourly digest says.

A row of TronScan's transfer list is a hint: a transfer it matches to an invoice is still
confirmed with the transaction's own record, under the same rules as ``/pay``, before it
counts (:mod:`core.payments.watch`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.money import format_usdt
from core.payments.chain import IncomingTransfer
from core.payments.ports import InvoiceRecord
from core.payments.rules import epoch_ms
from core.payments.watch_ports import WatchCandidate, WatchCursor, WatchedTransferRecord

PAGE_SIZE = 50  # rows per request (TronScan's own default page)
MAX_PAGES = 20  # per round: 1,000 transfers in one window before a round gives up
OVERLAP = timedelta(minutes=10)  # re-read behind the cursor: TronScan may index a block late
FIRST_LOOKBACK = timedelta(hours=24)  # the very first round reads this far back
RETRY_FOR = timedelta(hours=24)  # a matched transfer still unconfirmed after this: unmatched
RETRY_LIMIT = 20  # matched transfers confirmed per round
NEARBY = timedelta(days=1)  # invoices this close to a transfer's time are weighed against it
DUST_MICRO = 1_000_000  # below 1 USDT a transfer that fits no invoice is called dust
DIGEST_EVERY = timedelta(hours=1)
DIGEST_LIMIT = 50  # transfers named in one digest; more are counted
DIGEST_RULE = "payment_unmatched_transfers"
SHORT_HASH = 8  # hex digits of a hash shown in the digest


class Unmatched(StrEnum):
    """Why no invoice takes an incoming transfer (stored: never change a value)."""

    NOT_USDT = "not_usdt"  # another token contract, whatever it calls itself
    OTHER_ADDRESS = "other_address"  # the list named another payee
    FAILED = "failed"  # the transfer did not go through (OUT_OF_ENERGY, reverted)
    UNREADABLE_AMOUNT = "unreadable_amount"
    DUST = "dust"
    UNKNOWN_AMOUNT = "unknown_amount"  # no invoice of that amount (under/over-payments too)
    OUTSIDE_INVOICE_TIME = "outside_invoice_time"  # an amount of an invoice, but not its time
    AMBIGUOUS = "ambiguous"  # more than one invoice would take it (never, by construction)
    NOT_CONFIRMED = "not_confirmed"  # the transaction's record does not bear the row out
    REFUSED = "refused"  # the invoice no longer takes payments (paid, expired, unusable)
    UNCONFIRMED_TOO_LONG = "unconfirmed_too_long"


@dataclass(frozen=True)
class Match:
    """The verdict on one row: the candidate it pays, or why none."""

    candidate: WatchCandidate | None
    unmatched: Unmatched | None


def _fits(transfer: IncomingTransfer, invoice: InvoiceRecord, tolerance: int) -> bool:
    assert transfer.amount is not None
    return abs(transfer.amount - invoice.amount_micro) <= tolerance


def _in_time(transfer: IncomingTransfer, invoice: InvoiceRecord) -> bool:
    return epoch_ms(invoice.created_at) <= transfer.block_ms < epoch_ms(invoice.expires_at)


def match(
    transfer: IncomingTransfer,
    *,
    address: str,
    usdt_contract: str,
    tolerance_micro: int,
    candidates: Iterable[WatchCandidate],
) -> Match:
    """Which invoice ``transfer`` pays: the one whose unique amount it carries (within the
    tolerance) and whose lifetime holds its block time (created at or before it, expiring
    after it). The contract must be exactly the USDT contract, the payee ``address`` and the
    transfer successful; everything else is :class:`Unmatched` with the reason."""
    if transfer.contract_address != usdt_contract:
        return Match(None, Unmatched.NOT_USDT)
    if transfer.to_address != address:
        return Match(None, Unmatched.OTHER_ADDRESS)
    if transfer.result != "SUCCESS" or transfer.reverted:
        return Match(None, Unmatched.FAILED)
    if transfer.amount is None:
        return Match(None, Unmatched.UNREADABLE_AMOUNT)
    same_address = [c for c in candidates if c.invoice.receive_address == address]
    by_amount = [c for c in same_address if _fits(transfer, c.invoice, tolerance_micro)]
    fitting = [c for c in by_amount if _in_time(transfer, c.invoice)]
    if len(fitting) == 1:
        return Match(fitting[0], None)
    if fitting:
        return Match(None, Unmatched.AMBIGUOUS)
    if by_amount:
        return Match(None, Unmatched.OUTSIDE_INVOICE_TIME)
    if transfer.amount < DUST_MICRO:
        return Match(None, Unmatched.DUST)
    return Match(None, Unmatched.UNKNOWN_AMOUNT)


@dataclass(frozen=True)
class Window:
    """The block times one round reads, in milliseconds (both ends included)."""

    start_ms: int
    end_ms: int


def window(cursor: WatchCursor | None, now: datetime) -> Window:
    """From a little before the cursor (TronScan may index a block late; transfers read
    twice are recognised by their hash) up to now, or up to the backlog's end while one is
    left; the first round reads a day back."""
    now_ms = epoch_ms(now)
    if cursor is None:
        return Window(now_ms - _ms(FIRST_LOOKBACK), now_ms)
    end_ms = now_ms if cursor.backlog_end_ms is None else min(cursor.backlog_end_ms, now_ms)
    return Window(min(cursor.read_to_ms - _ms(OVERLAP), end_ms), end_ms)


def next_cursor(
    cursor: WatchCursor | None,
    span: Window,
    block_times: Sequence[int],
    *,
    complete: bool,
    capped: bool,
) -> WatchCursor | None:
    """Where the next round reads from, after reading ``span`` (``block_times``: the rows
    read). A window read whole is read up to its end, or, when it was the last older part of
    a window too full for one round, up to that window's end (its top). One that held more
    rows than a round reads (``capped``, newest first) is read down to its oldest row read:
    the next rounds read the rest, up to there. A round that failed changes nothing, so
    nothing unread is ever skipped."""
    backlog_top = cursor.backlog_top_ms if cursor is not None else None
    if complete:
        return WatchCursor(backlog_top if backlog_top is not None else span.end_ms)
    inside = [t for t in block_times if span.start_ms <= t <= span.end_ms]
    if not capped or not inside:
        return cursor
    read_to = cursor.read_to_ms if cursor is not None else span.start_ms + _ms(OVERLAP)
    top = backlog_top if backlog_top is not None else span.end_ms
    return WatchCursor(read_to, backlog_end_ms=min(inside), backlog_top_ms=top)


def _ms(span: timedelta) -> int:
    return span // timedelta(milliseconds=1)


def short_hash(tx_hash: str) -> str:
    """The first hex digits of a hash, enough for an admin to find it."""
    return tx_hash[:SHORT_HASH] + "…"


def digest(transfers: Sequence[WatchedTransferRecord]) -> dict[str, object]:
    """The evidence of one hourly alert about unmatched transfers: how many, why, their
    amounts and short hashes (the first :data:`DIGEST_LIMIT`; the rest are counted)."""
    named = transfers[:DIGEST_LIMIT]
    reasons = Counter(t.reason for t in transfers)
    evidence: dict[str, object] = {
        "transfers": len(transfers),
        "reasons": ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items())),
        "amounts": [
            format_usdt(t.amount_micro) if t.amount_micro is not None else "?" for t in named
        ],
        "hashes": [short_hash(t.tx_hash) for t in named],
    }
    if len(transfers) > len(named):
        evidence["not_listed"] = len(transfers) - len(named)
    return evidence
