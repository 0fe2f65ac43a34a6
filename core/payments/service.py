"""Subscriptions paid in USDT TRC20 (SPEC §7): invoices, submitted transfers, verification
against the chain, approval (license, referral commission) and the admin's decisions.

Money is integer micro-USDT throughout. The flow:

1. :meth:`PaymentService.create_invoice` — an exact amount, at least one step (0.02 USDT, or
   twice the tolerance if that is more) away from every other open invoice, so a transfer can
   only ever match one invoice.
2. :meth:`PaymentService.submit` — ``/pay INVOICE TX``: only a pending or approved payment holds
   a hash (partial unique index), so a failed front-runner cannot burn it; pending.
3. :meth:`PaymentService.check` — asks the :class:`~core.chain.TransactionSource` (outside any
   transaction), judges the answer with :func:`evaluate` and applies the outcome with
   compare-and-set updates, so concurrent checks of one payment decide it once.
4. Approval signs the payment (HMAC over id, account, invoice, hash, amount, time), grants or
   extends the license and credits the referrer's wallet, all in one transaction.

Unknown hashes, too few confirmations and an unreachable chain keep a payment pending; the job
re-checks every minute (:meth:`PaymentService.recheck_pending`). A transfer that can never pay
(failed on chain, another token, another payee, another invoice's exact amount) fails at once.

Money that reached the receive address is never dropped (issue 17, :func:`evaluate`):

- less than the invoice is ``partial`` and the invoice's partial transfers are summed; the
  sum approves within the tolerance, and any excess is credited to the payer's wallet
  (``overpayment_credit``), as for a single transfer of more than the invoice;
- a transfer made in time is taken up to 7 days after expiry (``LATE_WINDOW``); one made
  before the invoice or after its expiry, one for a paid invoice, an unreadable or far too
  large amount, or a non-exact amount while another account's invoice awaited payment goes to
  ``review`` and alerts the admins; so does a partial never topped up, and a counted transfer
  that another account submits (``disputed``);
- an admin approves a partial or review payment (:meth:`PaymentService.approve_manually`,
  license) or credits it (:meth:`PaymentService.credit_to_wallet`, ``payment_credit``), both
  with a fresh 2FA proof; a hash unknown to the chain expires only an hour after /pay and
  after the invoice's expiry.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from core.accounts.sessions import ReauthProof, Session
from core.audit.log import AuditEvent, EventType, Severity
from core.authz import Actor, NoteTooLong
from core.errors import DuplicateError, Refusal
from core.payments.checking import PaymentChecker
from core.payments.ports import (
    InvoiceStatus,
    PaymentRecord,
    PaymentStatus,
)
from core.payments.refusals import (
    Decision,
    InvoicePaidByAnother,
    PaymentAmountUnknown,
    PaymentDecidedMeanwhile,
    PaymentNotCreditable,
    PaymentNotFound,
    PaymentNotOpen,
    PaymentTampered,
    RejectionReasonMissing,
    TxAlreadyUsed,
)
from core.payments.rules import (
    CREDITABLE,
    HISTORY_LIMIT,
    OPEN_TO_ADMIN,
    PENDING_LIMIT,
    REASON_MAX,
    CheckNote,
    CheckReport,
    History,
    PaymentView,
    settle,
)
from core.payments.wallet import PAYMENT_CREDIT
from core.signing import PAYMENT_SIGNATURE, sign_record

logger = logging.getLogger(__name__)


class PaymentService(PaymentChecker):
    """Invoices, payments, verification and the admins' decisions."""

    # --- reading ---------------------------------------------------------------------------

    async def history(self, account_id: int) -> History:
        """The account's newest invoices and payments; tampered approvals are reported."""
        async with self._uow(read_only=True) as uow:
            invoices = await uow.payments.invoices_for(account_id, HISTORY_LIMIT)
            payments = await uow.payments.payments_for(account_id, HISTORY_LIMIT)
        untrusted = frozenset(p.id for p in payments if not self.payment_is_authentic(p))
        if untrusted:
            async with self._uow() as uow:
                for payment_id in sorted(untrusted):
                    await self._suspicion.report_tampered(uow, "payment", payment_id, account_id)
                await uow.commit()
        return History(invoices, payments, untrusted)

    async def verify(self, actor: Actor, payment_id: int) -> CheckReport:
        """An admin's /verify: :meth:`check` now (admins only)."""
        self._rights.require(actor, "verify")
        return await self.check(payment_id)

    async def view(self, actor: Actor, payment_id: int) -> PaymentView:
        """One payment with its invoice and payer, for the admins."""
        self._rights.require(actor, "payment view")
        async with self._uow(read_only=True) as uow:
            payment = await uow.payments.payment(payment_id)
            if payment is None:
                raise Refusal(PaymentNotFound(payment_id))
            user = await uow.accounts.by_id(payment.account_id)
            invoice = await uow.payments.invoice(payment.invoice_id)
        return PaymentView(payment, invoice, user.email if user else "?")

    async def pending(self, actor: Actor) -> list[PaymentView]:
        """Pending payments for the admins, least recently checked first."""
        self._rights.require(actor, "pending")
        async with self._uow(read_only=True) as uow:
            views = []
            for payment in await uow.payments.pending(PENDING_LIMIT):
                user = await uow.accounts.by_id(payment.account_id)
                views.append(
                    PaymentView(
                        payment,
                        await uow.payments.invoice(payment.invoice_id),
                        user.email if user else "?",
                    )
                )
        return views

    async def in_review(self, actor: Actor) -> list[PaymentView]:
        """Payments waiting for an admin's decision (review), oldest first."""
        self._rights.require(actor, "pending")
        async with self._uow(read_only=True) as uow:
            views = []
            for payment in await uow.payments.awaiting_admin(PENDING_LIMIT):
                user = await uow.accounts.by_id(payment.account_id)
                views.append(
                    PaymentView(
                        payment,
                        await uow.payments.invoice(payment.invoice_id),
                        user.email if user else "?",
                    )
                )
        return views

    # --- admin decisions -------------------------------------------------------------------

    async def approve_manually(
        self, admin: Session, proof: ReauthProof, payment_id: int
    ) -> CheckReport:
        """An admin approves a payment the chain cannot confirm (needs a fresh 2FA proof).

        The admin's session and proof are checked inside the approving transaction
        (:class:`~core.accounts.sessions.FlowEnded` when the session or proof went stale).
        """
        self._rights.require_session(admin, "approve")
        at = self._clock.now()
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, admin, proof)
            payment = await uow.payments.payment(payment_id)
            invoice = await uow.payments.invoice(payment.invoice_id) if payment else None
            if payment is None or invoice is None:
                raise Refusal(PaymentNotFound(payment_id))
            if payment.status not in OPEN_TO_ADMIN:
                raise Refusal(PaymentNotOpen(payment_id, payment.status, Decision.APPROVE))
            if invoice.status is InvoiceStatus.PAID:
                raise Refusal(InvoicePaidByAnother(invoice.id))
            if not self._row_pair_is_sound(payment, invoice):
                await self._suspicion.report_tampered(
                    uow, "invoice", invoice.id, payment.account_id
                )
                await uow.commit()
                raise Refusal(PaymentTampered())
            # What reached us when known (a partial, a review), else the invoice's amount; the
            # invoice's other transfers count, and anything beyond it goes to the wallet. An
            # amount never read from the chain (pending, failed) credits nothing beyond.
            known = payment.amount_micro is not None
            paid = payment.amount_micro if known else invoice.amount_micro
            assert paid is not None
            received = await self._received(uow, invoice, but=payment.id) + paid
            tolerance = self._settings.amount_tolerance_micro
            excess = settle(invoice.amount_micro, tolerance, received).excess_micro if known else 0
            try:
                license_record = await self._approve(
                    uow,
                    payment,
                    invoice,
                    paid,
                    at,
                    admin=admin,
                    excess_micro=excess,
                    received_micro=received if known else paid,
                )
            except DuplicateError:  # its transfer paid, or may pay, another invoice since
                raise Refusal(TxAlreadyUsed()) from None
            if license_record is None:
                raise Refusal(PaymentDecidedMeanwhile(payment_id))
            await uow.commit()
        return CheckReport(
            await self._reload(payment_id),
            invoice,
            CheckNote.OK,
            decided=True,
            license=license_record,
            credited_micro=excess,
        )

    async def credit_to_wallet(
        self, admin: Session, proof: ReauthProof, payment_id: int
    ) -> CheckReport:
        """An admin credits a partial or review payment to its payer's wallet instead of a
        license (needs a fresh 2FA proof, checked inside the transaction). The invoice's other
        partial transfers are credited with it and the invoice is closed (paid): each payment
        is credited once (compare-and-set, and the ledger's unique (kind, payment) index), each
        entry signed, and the decision audited."""
        self._rights.require_session(admin, "credit")
        at = self._clock.now()
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, admin, proof)
            payment = await uow.payments.payment(payment_id)
            invoice = await uow.payments.invoice(payment.invoice_id) if payment else None
            if payment is None or invoice is None:
                raise Refusal(PaymentNotFound(payment_id))
            settled = (
                payment.status is PaymentStatus.PARTIAL and invoice.status is InvoiceStatus.PAID
            )
            if payment.status not in CREDITABLE or settled:  # a paid invoice's partials counted
                raise Refusal(PaymentNotCreditable(payment_id, payment.status))
            if not self._row_pair_is_sound(payment, invoice):
                await self._suspicion.report_tampered(
                    uow, "payment", payment.id, payment.account_id
                )
                await uow.commit()
                raise Refusal(PaymentTampered())
            if not payment.amount_micro:
                raise Refusal(PaymentAmountUnknown(payment_id))
            targets = [payment]
            if invoice.status is not InvoiceStatus.PAID:
                targets += [
                    p
                    for p in await uow.payments.partials(invoice.id)
                    if p.id != payment.id
                    and p.account_id == invoice.account_id
                    and self.payment_is_authentic(p)
                ]
            total = 0
            for target in targets:
                amount = target.amount_micro or 0
                credited = replace(target, amount_micro=amount, approved_at=at)
                if not await uow.payments.approve(
                    target.id,
                    amount_micro=amount,
                    approved_at=at,
                    approved_by_account_id=admin.account_id,
                    signature=sign_record(self._crypto, PAYMENT_SIGNATURE, credited),
                    note=CheckNote.CREDITED,
                    was=CREDITABLE,
                ):
                    raise Refusal(PaymentDecidedMeanwhile(payment_id))  # rolled back whole
                await self._wallet.append(
                    uow,
                    account_id=invoice.account_id,
                    amount_micro=amount,
                    kind=PAYMENT_CREDIT,
                    payment_id=target.id,
                    at=at,
                )
                total += amount
            for was in (InvoiceStatus.OPEN, InvoiceStatus.EXPIRED):
                await uow.payments.set_invoice_status(invoice.id, InvoiceStatus.PAID, was=was)
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.ADMIN_ACTION,
                    Severity.WARNING,
                    account_id=invoice.account_id,
                    telegram_user_id=admin.telegram_user_id,
                    details={
                        "action": "payment_credited",
                        "payment_ids": [target.id for target in targets],
                        "invoice_id": invoice.id,
                        "amount_micro": total,
                        "admin_account_id": admin.account_id,
                    },
                ),
            )
            await uow.commit()
        return CheckReport(
            await self._reload(payment_id),
            invoice,
            CheckNote.CREDITED,
            decided=True,
            credited_micro=total,
        )

    async def reject(self, admin: Session, payment_id: int, reason: str) -> PaymentRecord:
        """An admin rejects a payment with a reason the user is shown (PAYMENT_REJECTED)."""
        self._rights.require_session(admin, "reject")
        reason = " ".join(reason.split())
        if not reason:
            raise Refusal(RejectionReasonMissing())
        if len(reason) > REASON_MAX:
            raise Refusal(NoteTooLong(REASON_MAX))
        async with self._uow() as uow:
            payment = await uow.payments.payment(payment_id)
            if payment is None:
                raise Refusal(PaymentNotFound(payment_id))
            invoice = await uow.payments.invoice(payment.invoice_id)
            if payment.status is PaymentStatus.PARTIAL and (
                invoice is None or invoice.status is InvoiceStatus.PAID
            ):  # it helped pay a license: rejecting would free its hash to count again
                raise Refusal(PaymentNotOpen(payment_id, payment.status, Decision.REJECT))
            if not await uow.payments.decide(
                payment.id,
                status=PaymentStatus.REJECTED,
                note=reason,
                at=self._clock.now(),
                was=OPEN_TO_ADMIN,
            ):
                raise Refusal(PaymentNotOpen(payment_id, payment.status, Decision.REJECT))
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.PAYMENT_REJECTED,
                    Severity.WARNING,
                    account_id=payment.account_id,
                    telegram_user_id=admin.telegram_user_id,
                    details={
                        "payment_id": payment.id,
                        "by": "admin",
                        "admin_account_id": admin.account_id,
                        "reason": reason,
                    },
                ),
            )
            await uow.commit()
        return await self._reload(payment_id)
