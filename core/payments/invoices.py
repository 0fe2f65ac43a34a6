"""Invoices and submitted transfers: the part of the payment service a user meets first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from core.accounts.service import AccountService
from core.accounts.sessions import Session
from core.audit.detection import Finding, report_finding
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.audit.suspicion import SuspicionReporter
from core.authz import AdminRights
from core.clock import Clock
from core.config import Plan, Settings, tolerance_problem
from core.crypto import EncryptionService
from core.errors import ChainUnavailableError, ConfigError, DuplicateError, Reason, Refusal
from core.payments.chain import ChainTransaction, TransactionSource
from core.payments.licenses import LicenseService
from core.payments.ports import InvoiceRecord, InvoiceStatus, PaymentRecord, PaymentStatus
from core.payments.refusals import (
    InvoiceAlreadyPaid,
    InvoiceExpired,
    InvoiceHasPending,
    InvoiceNotFound,
    InvoiceOpenElsewhere,
    InvoicesBusy,
    InvoiceUnusable,
    PaymentsOff,
    PlanNotOnSale,
    TxAlreadySent,
    TxAlreadyUsed,
    TxBeingChecked,
    TxClaimed,
    TxRejected,
)
from core.payments.rules import (
    AMOUNT_SLOTS,
    AMOUNT_STEP,
    LATE_WINDOW,
    MAX_PENDING_PER_INVOICE,
    RULE_DISPUTED,
    RULE_HASH_REUSE,
    CheckNote,
    CheckReport,
    Outcome,
    Verification,
    evaluate,
    from_epoch_ms,
    normalise_tx_hash,
)
from core.payments.wallet import WalletLedger
from core.ports import UnitOfWork
from core.signing import INVOICE_SIGNATURE, PAYMENT_SIGNATURE, sign_record, verify_record

# Every unique amount of a plan is taken by an open invoice: the admins hear of it hourly.
RULE_NO_FREE_AMOUNT = "invoice_slots_exhausted"
# Payments whose amount counts toward something carry a signature over it.
SIGNED_STATES = (PaymentStatus.APPROVED, PaymentStatus.PARTIAL, PaymentStatus.REVIEW)
NO_FREE_AMOUNT_ALERT_EVERY = timedelta(hours=1)


class InvoiceDesk:
    """The first half of :class:`~core.payments.service.PaymentService`: its construction,
    configuration, new invoices and submitted transfers."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        crypto: EncryptionService,
        settings: Settings,
        source: TransactionSource,
        *,
        accounts: AccountService,
        licenses: LicenseService,
        wallet: WalletLedger,
        suspicion: SuspicionReporter,
        rights: AdminRights,
    ) -> None:
        self._uow = uow_factory
        self._rights = rights
        self._audit = audit
        self._clock = clock
        self._crypto = crypto
        self._settings = settings.payments
        self._plans = settings.plans
        self._commission = settings.referrals.commission_percent
        self._source = source
        self._accounts = accounts
        self._licenses = licenses
        self._wallet = wallet
        self._suspicion = suspicion
        if (problem := tolerance_problem(self._settings.amount_tolerance_micro)) is not None:
            raise ConfigError([problem])  # one transfer must never fit two open invoices
        self._step = AMOUNT_STEP

    # --- configuration ---------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """True when a receive address is configured."""
        return self._settings.receive_address is not None

    def plans(self) -> list[Plan]:
        """The plans on sale, cheapest first."""
        return sorted(self._plans.values(), key=lambda plan: (plan.price_micro, plan.name))

    def _require_enabled(self) -> str:
        address = self._settings.receive_address
        if address is None:
            raise Refusal(PaymentsOff())
        return address

    # --- signatures (fields: core/signing.py) ---------------------------------------------

    def invoice_is_authentic(self, invoice: InvoiceRecord) -> bool:
        """True when the invoice row carries a valid signature (by any configured key)."""
        return verify_record(self._crypto, INVOICE_SIGNATURE, invoice)

    def payment_is_authentic(self, payment: PaymentRecord) -> bool:
        """An approved, partial or review payment must carry a valid signature (its amount
        grants, or counts toward, something); other states grant nothing."""
        if payment.status not in SIGNED_STATES:
            return True
        if payment.signature is None or not payment.approved_at:
            return False
        if payment.amount_micro is None and payment.status is not PaymentStatus.REVIEW:
            return False
        return verify_record(self._crypto, PAYMENT_SIGNATURE, payment)

    async def _judge(self, tx: ChainTransaction | None, invoice: InvoiceRecord) -> Verification:
        """:func:`evaluate` with the other invoices that awaited payment when ``tx`` was made
        (read here: a transfer that fits one of them exactly is theirs)."""
        others: list[InvoiceRecord] = []
        if tx is not None:
            async with self._uow(read_only=True) as uow:
                others = await uow.payments.awaiting_at(from_epoch_ms(tx.timestamp_ms))
        return evaluate(tx, invoice, self._settings, others)

    # --- invoices --------------------------------------------------------------------------

    async def create_invoice(self, session: Session, plan_name: str) -> InvoiceRecord:
        """An invoice for ``plan_name`` with a unique exact amount (or the user's open one).

        Nobody hoards amounts: one open invoice per plan per account (asking again returns
        it) and per Telegram user across its accounts (:class:`InvoiceOpenElsewhere`), checked
        and inserted in one write transaction. When every amount is taken the user is refused
        (:class:`InvoicesBusy`) and the admins alerted, at most once an hour per plan.
        """
        address = self._require_enabled()
        plan = self._plans.get(plan_name)
        if plan is None:
            raise Refusal(PlanNotOnSale())
        now = self._clock.now()
        step = self._step
        async with self._uow() as uow:
            existing = await uow.payments.open_invoice(session.account_id, plan.name, now=now)
            if existing is not None and self.invoice_is_authentic(existing):
                return existing
            elsewhere = await uow.payments.open_invoice_of_telegram_user(
                session.telegram_user_id, plan.name, now=now
            )
            if elsewhere is not None and elsewhere.account_id != session.account_id:
                raise Refusal(InvoiceOpenElsewhere())
            taken = await uow.payments.open_amounts(
                plan.price_micro - step + 1, plan.price_micro + AMOUNT_SLOTS * step + step - 1
            )
            amount = next(
                (
                    candidate
                    for candidate in range(
                        plan.price_micro, plan.price_micro + AMOUNT_SLOTS * step, step
                    )
                    if all(abs(candidate - other) >= step for other in taken)
                ),
                None,
            )
            if amount is None:
                await self._report_no_amount(uow, session, plan, len(taken))
                await uow.commit()
                raise Refusal(InvoicesBusy())
            draft = InvoiceRecord(
                id=0,
                account_id=session.account_id,
                plan=plan.name,
                tier=plan.tier,
                days=plan.days,
                amount_micro=amount,
                receive_address=address,
                created_at=now,
                expires_at=now + timedelta(hours=self._settings.invoice_hours),
                status=InvoiceStatus.OPEN,
                signature=None,
            )
            invoice_id = await uow.payments.add_invoice(
                account_id=draft.account_id,
                plan=draft.plan,
                tier=draft.tier,
                days=draft.days,
                amount_micro=draft.amount_micro,
                receive_address=draft.receive_address,
                created_at=draft.created_at,
                expires_at=draft.expires_at,
                telegram_user_id=session.telegram_user_id,
            )
            invoice = InvoiceRecord(**{**draft.__dict__, "id": invoice_id})
            signature = sign_record(self._crypto, INVOICE_SIGNATURE, invoice)
            await uow.payments.sign_invoice(invoice_id, signature)
            await uow.commit()
        return InvoiceRecord(**{**invoice.__dict__, "signature": signature})

    async def _report_no_amount(
        self, uow: UnitOfWork, session: Session, plan: Plan, open_count: int
    ) -> None:
        """Alert the admins that ``plan`` has no free amount (folded for an hour per plan)."""
        await report_finding(
            uow,
            self._audit,
            Finding(
                RULE_NO_FREE_AMOUNT,
                Severity.WARNING,
                f"plan:{plan.name}",
                session.account_id,
                session.telegram_user_id,
                {"plan": plan.name, "open_invoices": open_count},
            ),
            at=self._clock.now(),
            dedupe=NO_FREE_AMOUNT_ALERT_EVERY,
        )

    # --- submitting ------------------------------------------------------------------------

    async def check(self, payment_id: int) -> CheckReport:
        """Verify a payment against the chain now (:class:`~core.payments.service.PaymentService`
        does; a submission asks it to fail a payment whose transfer does not fit)."""
        raise NotImplementedError

    async def _release_if_unfit(self, holder: PaymentRecord) -> None:
        """Fail the pending ``holder`` now if its transfer can never pay its invoice, which
        lets go of the hash. Anything else is left to the holder's own checks (which tell its
        payer), so a submission never approves somebody else's payment."""
        async with self._uow(read_only=True) as uow:
            invoice = await uow.payments.invoice(holder.invoice_id)
        if invoice is None:
            return
        try:
            tx = await self._source.transaction(holder.tx_hash)
        except ChainUnavailableError:
            return
        if (await self._judge(tx, invoice)).outcome is Outcome.FAIL:
            await self.check(holder.id)

    async def submit(self, session: Session, invoice_id: int, tx_hash_text: str) -> PaymentRecord:
        """Store a pending payment for the caller's invoice (PAYMENT_SUBMITTED).

        A hash is held only by a pending or approved payment (the partial unique index): a
        payment that failed because its transfer did not fit its invoice lets go of it. When
        another invoice's pending payment holds the hash and its transfer does not fit there,
        that payment fails first, so a front-runner who submitted someone's hash to a wrong
        invoice cannot burn it; otherwise the refusal is :class:`TxBeingChecked` (try again)
        and nobody is suspected.
        A hash an approved payment holds is refused (suspicious unless it is the same account's).
        """
        self._require_enabled()
        tx_hash = normalise_tx_hash(tx_hash_text)
        checked = False
        for _attempt in range(3):
            stored = await self._store(session, invoice_id, tx_hash)
            if stored is None or isinstance(stored, int):
                if stored is not None:
                    break
                continue  # the payment holding it let go of it meanwhile: try again
            mine = stored.account_id == session.account_id and stored.invoice_id == invoice_id
            if stored.status is PaymentStatus.PENDING and not mine and not checked:
                checked = True
                await self._release_if_unfit(stored)
                continue
            raise Refusal(await self._hash_held(session, invoice_id, stored))
        else:
            raise Refusal(TxBeingChecked())
        async with self._uow(read_only=True) as uow:
            payment = await uow.payments.payment(stored)
        assert payment is not None
        return payment

    async def _store(
        self, session: Session, invoice_id: int, tx_hash: str
    ) -> int | PaymentRecord | None:
        """Insert the payment: its id, or the payment holding the hash (None: it let go of it
        meanwhile), or a Refusal for the invoice."""
        now = self._clock.now()
        refusal: Reason | None = None
        async with self._uow() as uow:
            invoice = await uow.payments.invoice(invoice_id)
            if invoice is None or invoice.account_id != session.account_id:
                raise Refusal(InvoiceNotFound(invoice_id))
            if now > invoice.expires_at + LATE_WINDOW:
                if invoice.status is InvoiceStatus.PAID:
                    raise Refusal(InvoiceAlreadyPaid(invoice_id))
                raise Refusal(InvoiceExpired(invoice_id))
            # Until then a transfer made in time is still taken, a later one (or one more for a
            # paid invoice: the customer paid twice) goes to an admin: never refused unseen.
            if not self.invoice_is_authentic(invoice):
                await self._suspicion.report_tampered(
                    uow, "invoice", invoice.id, session.account_id
                )
                refusal = InvoiceUnusable()
            elif await uow.payments.pending_count(invoice.id) >= MAX_PENDING_PER_INVOICE:
                raise Refusal(InvoiceHasPending())
            elif (
                rejected := await uow.payments.rejected_by(session.account_id, tx_hash)
            ) is not None:
                # A rejected payment lets go of its hash (so an admin rejecting a front-runner
                # frees the payer's transfer), but never for the account that was refused.
                raise Refusal(TxRejected(rejected))
            else:
                try:
                    payment_id = await uow.payments.add_payment(
                        invoice_id=invoice.id,
                        account_id=session.account_id,
                        telegram_user_id=session.telegram_user_id,
                        tx_hash=tx_hash,
                        expected_micro=invoice.amount_micro,
                        submitted_at=now,
                    )
                except DuplicateError:
                    return await uow.payments.payment_by_tx(tx_hash)
                await self._audit.append(
                    uow,
                    AuditEvent(
                        EventType.PAYMENT_SUBMITTED,
                        account_id=session.account_id,
                        telegram_user_id=session.telegram_user_id,
                        details={
                            "payment_id": payment_id,
                            "invoice_id": invoice.id,
                            "plan": invoice.plan,
                            "amount_micro": invoice.amount_micro,
                            "tx_hash": tx_hash,
                        },
                    ),
                )
            await uow.commit()
        if refusal is not None:
            raise Refusal(refusal)
        return payment_id

    async def _dispute(self, session: Session, invoice_id: int, holder: PaymentRecord) -> None:
        """Somebody else submits a transfer a partial or review payment holds: neither may be
        the rightful payer alone, so the holder stops counting (review) and the admins hear
        of both; the later submitter is not suspected."""
        async with self._uow() as uow:
            invoice = await uow.payments.invoice(holder.invoice_id)
            settled = invoice is not None and invoice.status is InvoiceStatus.PAID
            if holder.status is PaymentStatus.PARTIAL and not settled:  # never unpay a license
                await uow.payments.decide(
                    holder.id,
                    status=PaymentStatus.REVIEW,
                    note=CheckNote.DISPUTED,
                    at=self._clock.now(),
                    was=(PaymentStatus.PARTIAL,),
                )
            await self._suspicion.report(
                uow,
                RULE_DISPUTED,
                Severity.WARNING,
                account_id=holder.account_id,
                telegram_user_id=holder.telegram_user_id,
                evidence={
                    "payment_id": holder.id,
                    "invoice_id": holder.invoice_id,
                    "claimed_for_invoice_id": invoice_id,
                    "claimed_by_account_id": session.account_id,
                },
            )
            await uow.commit()

    async def _hash_held(self, session: Session, invoice_id: int, holder: PaymentRecord) -> Reason:
        """The refusal for a hash another payment holds. Only a hash that paid an invoice is
        suspicious (sent to another invoice, or by another account): a pending holder may be
        the front-runner, so the later submitter is not suspected."""
        if holder.account_id == session.account_id and holder.invoice_id == invoice_id:
            return TxAlreadySent(holder.id)
        if holder.status is PaymentStatus.PENDING:
            return TxBeingChecked()
        if holder.status in (PaymentStatus.PARTIAL, PaymentStatus.REVIEW):
            if holder.account_id == session.account_id:  # their own transfer, counted once
                return TxAlreadySent(holder.id)
            await self._dispute(session, invoice_id, holder)
            return TxClaimed()
        if holder.status is PaymentStatus.APPROVED:
            async with self._uow() as uow:
                await self._suspicion.report(
                    uow,
                    RULE_HASH_REUSE,
                    Severity.WARNING,
                    account_id=session.account_id,
                    telegram_user_id=session.telegram_user_id,
                    evidence={
                        "invoice_id": invoice_id,
                        "first_payment_id": holder.id,
                        "same_account": holder.account_id == session.account_id,
                    },
                )
                await uow.commit()
        return TxAlreadyUsed()
