"""Payments found without a hash (SPEC §7, issue 17): watching the receive address.

Each round (:meth:`PaymentWatch.tick`, the bot's job every ``payments.watch_seconds``):

1. **Read** TronScan's list of USDT transfers to the receive address, newest first, page by
   page over a fixed window (from a little behind the cursor up to now). Every transfer not
   seen before is recorded once (``watched_transfers``, keyed by hash) with what the pure
   rules (:func:`core.payments.watch_rules.match`) make of it: it fits one invoice by its
   unique amount and time (``retry``), or no invoice takes it (``unmatched``). The cursor
   moves to the window's end only after the whole window was read; a failed page (TronScan
   down, throttled, an odd answer) leaves it where it was, so the next round reads those
   transfers again; a window with more transfers than a round reads is read down to its
   oldest row read, and the next rounds read the older part
   (:func:`core.payments.watch_rules.next_cursor`).
2. **Confirm** each matched transfer with the transaction's own record
   (``/api/transaction-info``) under the same rules as ``/pay``
   (:func:`core.payments.rules.evaluate`), then create its payment through the very
   :meth:`~core.payments.invoices.InvoiceDesk.submit` that ``/pay`` uses, for the invoice's
   owner, and check it with :meth:`~core.payments.checking.PaymentChecker.check`. Both paths
   meet at the partial unique index on held hashes and at the compare-and-set approval, so a
   transfer pays one invoice once, whoever (payer, front-runner, watcher) gets there first. A
   transfer the record does not bear out never becomes a payment: the watcher never makes a
   payment fail on an account's behalf.
3. **Digest**: unmatched transfers (other tokens that call themselves USDT, dust, unknown
   amounts, other payees, failed transfers) are listed in one admin alert at most every hour.
   A transfer whose hash a payment holds already (approved, partial, review: the payer or
   the admins were told) is not listed again; every other row read is, so nothing that
   reached the address is silently dropped.

**Not an invoice's exact amount** (an under- or over-payment: ``unknown_amount``): the watcher
never submits it, not even for the one invoice it could belong to. The unique amount is the
only sign of whose a transfer is; one without it may be anyone's (the payer of an expired
invoice, a mistaken sum, a stranger), and crediting it to whichever invoice happens to be
open would hand someone else's money to that invoice's owner (an over-payment's excess even
to a withdrawable wallet): the reason :func:`core.payments.rules.evaluate` sends such amounts
to review while other accounts' invoices await. It is listed in the digest instead; the
payer's ``/pay INVOICE HASH`` is a claim, judged under those rules (partial, over-payment, or
review), and the admins settle the rest from the digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.accounts.sessions import Session
from core.audit.detection import Finding, report_finding
from core.audit.log import AuditLog, Severity
from core.clock import Clock
from core.config import PaymentSettings
from core.errors import ChainUnavailableError, Refusal
from core.payments.agreement import SourcesDisagreeError
from core.payments.chain import ChainSource, IncomingTransfer
from core.payments.checking import PaymentChecker
from core.payments.ports import InvoiceRecord, PaymentStatus
from core.payments.refusals import InvoiceHasPending, TxAlreadySent, TxAlreadyUsed, TxBeingChecked
from core.payments.rules import CheckNote, CheckReport, Outcome, evaluate
from core.payments.watch_ports import (
    WatchCandidate,
    WatchCursor,
    WatchedTransferRecord,
    WatchState,
)
from core.payments.watch_rules import (
    DIGEST_EVERY,
    DIGEST_LIMIT,
    DIGEST_RULE,
    MAX_PAGES,
    NEARBY,
    PAGE_SIZE,
    RETRY_FOR,
    RETRY_LIMIT,
    Unmatched,
    Window,
    digest,
    match,
    next_cursor,
    window,
)
from core.ports import UnitOfWork

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A payment holding the hash in one of these already told the payer or the admins about the
# transfer (approved, partial, review): the digest need not list it again.
HANDLED = (PaymentStatus.APPROVED, PaymentStatus.PARTIAL, PaymentStatus.REVIEW)


def block_time(block_ms: int) -> datetime:
    """A block time in milliseconds as a UTC datetime."""
    return _EPOCH + timedelta(milliseconds=block_ms)


@dataclass(frozen=True)
class WatchNews:
    """What a round did that the payer should hear: a payment it created and checked.
    ``report.decided`` with an approval: the usual approval message; still pending: "seen,
    ``confirmations``/``needed``"."""

    report: CheckReport
    confirmations: int
    needed: int


@dataclass(frozen=True)
class ReadResult:
    """One round's reading of the list: how many rows came, how many were new, and whether
    the window was read whole."""

    rows: int
    new: int
    complete: bool


class PaymentWatch:
    """Finds payments at the receive address that nobody sent a hash for."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        settings: PaymentSettings,
        source: ChainSource,
        payments: PaymentChecker,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._source = source
        self._payments = payments

    @property
    def enabled(self) -> bool:
        """True when a receive address is configured."""
        return self._settings.receive_address is not None

    async def tick(self) -> list[WatchNews]:
        """One round: read the list, confirm matched transfers, send the digest when due.
        Returns what the payers should be told."""
        address = self._settings.receive_address
        if address is None:
            return []
        await self.read(address)
        news = await self.confirm_matches(address)
        await self.send_digest(address)
        return news

    # --- 1. reading ----------------------------------------------------------------------

    async def read(self, address: str) -> ReadResult:
        """Read the window behind the cursor page by page and record new transfers; move the
        cursor over what was read only (:func:`~core.payments.watch_rules.next_cursor`)."""
        async with self._uow(read_only=True) as uow:
            cursor = await uow.watch.cursor(address)
        span = window(cursor, self._clock.now())
        rows, complete, capped = await self._pages(address, span)
        moved = next_cursor(
            cursor, span, [row.block_ms for row in rows], complete=complete, capped=capped
        )
        new = await self._record(address, rows, None if moved == cursor else moved)
        return ReadResult(len(rows), new, complete)

    async def _pages(self, address: str, span: Window) -> tuple[list[IncomingTransfer], bool, bool]:
        """The rows of ``span``; whether all were read; whether a round's pages ran out."""
        rows: list[IncomingTransfer] = []
        for page in range(MAX_PAGES):
            try:
                got = await self._source.incoming_transfers(
                    address,
                    self._settings.usdt_contract,
                    start_ms=span.start_ms,
                    end_ms=span.end_ms,
                    offset=page * PAGE_SIZE,
                    limit=PAGE_SIZE,
                )
            except ChainUnavailableError as exc:
                logger.warning("reading incoming transfers stopped at page %d: %s", page + 1, exc)
                return rows, False, False
            rows.extend(got)
            if len(got) < PAGE_SIZE:
                return rows, True, False
        logger.warning("more than %d incoming transfers in one window", MAX_PAGES * PAGE_SIZE)
        return rows, False, True

    async def _record(
        self, address: str, rows: list[IncomingTransfer], cursor: WatchCursor | None
    ) -> int:
        now = self._clock.now()
        new = 0
        async with self._uow() as uow:
            for row in rows:
                if await uow.watch.get(row.hash) is not None:
                    continue  # read before (the overlap, or listed twice)
                new += await uow.watch.add(await self._verdict(uow, address, row, now))
            if cursor is not None:
                await uow.watch.put_cursor(address, cursor, at=now)
            await uow.commit()
        return new

    async def _verdict(
        self, uow: UnitOfWork, address: str, row: IncomingTransfer, now: datetime
    ) -> WatchedTransferRecord:
        holder = await uow.payments.payment_by_tx(row.hash)
        found = match(
            row,
            address=address,
            usdt_contract=self._settings.usdt_contract,
            tolerance_micro=self._settings.amount_tolerance_micro,
            candidates=await self._near(uow, address, row.block_ms),
        )
        state, reason = WatchState.RETRY, ""
        if holder is not None and holder.status in HANDLED:
            state = WatchState.KNOWN  # it counts already (sent with /pay), or waits for an admin
        elif found.candidate is None:
            state, reason = WatchState.UNMATCHED, str(found.unmatched)
        return WatchedTransferRecord(
            tx_hash=row.hash,
            to_address=row.to_address,
            contract_address=row.contract_address,
            amount_micro=row.amount,
            block_ms=row.block_ms,
            seen_at=now,
            state=state,
            reason=reason,
            invoice_id=found.candidate.invoice.id if found.candidate else None,
            payment_id=holder.id if state is WatchState.KNOWN and holder else None,
        )

    @staticmethod
    async def _near(uow: UnitOfWork, address: str, block_ms: int) -> list[WatchCandidate]:
        """Invoices alive near a block time: the rules weigh their exact lifetime."""
        at = block_time(block_ms)
        return await uow.watch.candidates(address, since=at - NEARBY, until=at + NEARBY)

    # --- 2. confirming -------------------------------------------------------------------

    async def confirm_matches(self, address: str) -> list[WatchNews]:
        """Confirm and submit the transfers that fit an invoice (a few per round)."""
        async with self._uow(read_only=True) as uow:
            waiting = await uow.watch.retrying(RETRY_LIMIT)
        news = []
        for row in waiting:
            try:
                item = await self._confirm(address, row)
            except Exception:
                logger.exception("confirming a watched transfer failed; retried next round")
                await self._settle(row, None)
                continue
            if item is not None:
                news.append(item)
        return news

    async def _settle(
        self,
        row: WatchedTransferRecord,
        state: WatchState | None,
        reason: Unmatched | None = None,
        payment_id: int | None = None,
    ) -> None:
        """Settle ``row`` in ``state`` (None: count one more try and keep it waiting)."""
        async with self._uow() as uow:
            if state is None:
                await uow.watch.count_attempt(row.tx_hash)
            else:
                await uow.watch.settle(
                    row.tx_hash,
                    state=state,
                    reason=str(reason) if reason else "",
                    payment_id=payment_id,
                )
            await uow.commit()

    async def _confirm(self, address: str, row: WatchedTransferRecord) -> WatchNews | None:
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            candidates = await self._near(uow, address, row.block_ms)
        candidate = next((c for c in candidates if c.invoice.id == row.invoice_id), None)
        if candidate is None or candidate.telegram_user_id is None:
            await self._settle(row, WatchState.UNMATCHED, Unmatched.REFUSED)
            return None
        if now - row.seen_at > RETRY_FOR:
            await self._settle(row, WatchState.UNMATCHED, Unmatched.UNCONFIRMED_TOO_LONG)
            return None
        invoice = candidate.invoice
        try:
            tx = await self._source.transaction(row.tx_hash)
        except SourcesDisagreeError:  # as after /pay: the payment goes to an admin (review)
            return await self._submit(row, invoice, candidate.telegram_user_id, 0)
        except ChainUnavailableError as exc:  # an odd answer too: next round
            logger.warning("a watched transfer waits: %s", exc)
            await self._settle(row, None)
            return None
        verdict = evaluate(tx, invoice, self._settings)
        if verdict.outcome is Outcome.FAIL:  # the list said one thing, the record another
            await self._settle(row, WatchState.UNMATCHED, Unmatched.NOT_CONFIRMED)
            return None
        if tx is None or (
            verdict.outcome is not Outcome.APPROVE and verdict.reason is not CheckNote.CONFIRMATIONS
        ):
            await self._settle(row, None)  # not indexed yet, or an odd answer: next round
            return None
        return await self._submit(row, invoice, candidate.telegram_user_id, tx.confirmations)

    async def _submit(
        self,
        row: WatchedTransferRecord,
        invoice: InvoiceRecord,
        telegram_user_id: int,
        confirmations: int,
    ) -> WatchNews | None:
        """The transaction bears the row out: the payment /pay would make, for the invoice's
        owner (who asked for the invoice is told), checked at once. Only account and Telegram
        user of the session are read."""
        now = self._clock.now()
        owner = Session(0, invoice.account_id, telegram_user_id, now, now)
        try:
            payment = await self._payments.submit(owner, invoice.id, row.tx_hash)
        except Refusal as refused:
            reason = refused.reason
            if isinstance(reason, TxAlreadySent):  # the payer sent it with /pay already
                await self._settle(row, WatchState.MATCHED, payment_id=reason.payment_id)
            elif isinstance(reason, TxAlreadyUsed):
                await self._settle(row, WatchState.KNOWN)
            elif isinstance(reason, TxBeingChecked | InvoiceHasPending):
                await self._settle(row, None)
            else:  # paid by another transfer, expired, unusable: the admins decide
                await self._settle(row, WatchState.UNMATCHED, Unmatched.REFUSED)
            return None
        await self._settle(row, WatchState.MATCHED, payment_id=payment.id)
        report = await self._payments.check(payment.id)
        return WatchNews(report, confirmations, self._settings.min_confirmations)

    # --- 3. the admins' digest -----------------------------------------------------------

    async def send_digest(self, address: str) -> bool:
        """One alert listing the unmatched transfers not alerted yet, at most every
        :data:`DIGEST_EVERY`; True when one was queued."""
        now = self._clock.now()
        subject = f"address:{address}"
        async with self._uow() as uow:
            pending = await uow.watch.unalerted(DIGEST_LIMIT * 20)
            if not pending:
                return False
            state = await uow.alerts.dedupe_state(DIGEST_RULE, subject)
            if state is not None and state.last_alert_at > now - DIGEST_EVERY:
                return False  # the next digest lists these too
            await report_finding(
                uow,
                self._audit,
                Finding(DIGEST_RULE, Severity.WARNING, subject, None, None, digest(pending)),
                at=now,
                dedupe=DIGEST_EVERY,
            )
            await uow.watch.mark_alerted([t.tx_hash for t in pending], at=now)
            await uow.commit()
        return True
