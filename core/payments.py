"""Subscriptions paid in USDT TRC20 (SPEC §7): invoices, submitted transfers, verification
against the chain, approval (license, referral commission) and the admin's decisions.

Money is integer micro-USDT throughout. The flow:

1. :meth:`PaymentService.create_invoice` — an exact amount, at least one step (0.02 USDT, or
   twice the tolerance if that is more) away from every other open invoice, so a transfer can
   only ever match one invoice.
2. :meth:`PaymentService.submit` — ``/pay INVOICE TX``: the hash is stored once, ever (UNIQUE in
   the database); the payment is pending (PAYMENT_SUBMITTED).
3. :meth:`PaymentService.check` — asks the :class:`~core.chain.TransactionSource` (outside any
   transaction), judges the answer with :func:`evaluate` and applies the outcome with
   compare-and-set updates, so concurrent checks of one payment decide it once.
4. Approval signs the payment (HMAC over id, account, invoice, hash, amount, time), grants or
   extends the license and credits the referrer's wallet, all in one transaction.

Unknown hashes, too few confirmations and an unreachable chain keep a payment pending; the job
re-checks every minute (:meth:`PaymentService.recheck_pending`). A payment whose transfer is
still unknown when its invoice expires expires with it. A transfer that can never pay (failed
on chain, another token, another payee, another amount, older than the invoice) fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from core.accounts import AccountService, ReauthProof
from core.audit import AuditEvent, AuditLog, EventType, Severity
from core.authz import Actor, AdminRights
from core.chain import ChainTransaction, TransactionSource
from core.clock import Clock, from_iso, to_iso
from core.config import PaymentSettings, Plan, Settings
from core.crypto import EncryptionService
from core.errors import ChainUnavailableError, DuplicateError, UserError
from core.licenses import LicenseService
from core.money import format_usdt
from core.ports import InvoiceRecord, LicenseRecord, PaymentRecord, UnitOfWork
from core.sessions import Session
from core.signing import INVOICE_SIGNATURE, PAYMENT_SIGNATURE, sign_record, verify_record
from core.suspicion import SuspicionReporter
from core.wallet import REFERRAL_COMMISSION, WalletLedger, commission_micro

logger = logging.getLogger(__name__)

MIN_AMOUNT_STEP = 20_000  # 0.02 USDT between open invoices
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


class PaymentStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    FAILED = "failed"  # the chain says this transfer can never pay the invoice
    REJECTED = "rejected"  # an admin said no
    EXPIRED = "expired"  # the invoice expired before the transfer was found


# Statuses an admin may still approve or reject.
OPEN_TO_ADMIN: tuple[str, ...] = (
    PaymentStatus.PENDING,
    PaymentStatus.FAILED,
    PaymentStatus.EXPIRED,
)


class Outcome(StrEnum):
    APPROVE = "approve"
    PENDING = "pending"
    FAIL = "fail"


class Reason(StrEnum):
    """Why a check ended the way it did (stored as the payment's note)."""

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
    reason: Reason
    checks: tuple[CheckResult, ...]
    paid_micro: int | None = None


def epoch_ms(when: datetime) -> int:
    """Milliseconds since the epoch, in integer arithmetic."""
    return (when - _EPOCH) // timedelta(milliseconds=1)


def evaluate(
    tx: ChainTransaction | None, invoice: InvoiceRecord, settings: PaymentSettings
) -> Verification:
    """Judge a transaction against an invoice (every rule of SPEC §7; pure, no I/O).

    Success is ``result == "SUCCESS"`` and nothing else. The transfer must be one of the
    transaction's TRC20 transfers whose contract is exactly the USDT contract and whose payee
    is the invoice's address (any of them may be ours); its integer amount within the
    tolerance of the invoice; the transaction no older than the invoice; and it needs
    ``min_confirmations``. An unknown transaction or too few confirmations stay pending.
    """
    if tx is None:
        return Verification(
            Outcome.PENDING,
            Reason.NOT_FOUND,
            (CheckResult(Check.FOUND, None, "unknown hash, or not indexed yet"),),
        )
    address, usdt = invoice.receive_address, settings.usdt_contract
    tolerance = settings.amount_tolerance_micro
    usdt_transfers = [t for t in tx.transfers if t.contract_address == usdt]
    ours = [t for t in usdt_transfers if t.to_address == address]
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
    created_ms = epoch_ms(from_iso(invoice.created_at))
    checks = (
        CheckResult(Check.FOUND, True, tx.hash),
        CheckResult(Check.SUCCESS, tx.result == "SUCCESS", tx.result or "none"),
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
            tx.confirmations >= settings.min_confirmations,
            f"{tx.confirmations} of {settings.min_confirmations}",
        ),
    )
    if tx.result != "SUCCESS":
        reason = Reason.TX_FAILED
    elif not ours:
        if other_token_to_us or (tx.transfers and not usdt_transfers):
            reason = Reason.WRONG_TOKEN
        else:
            reason = Reason.WRONG_RECIPIENT if usdt_transfers else Reason.NO_TRANSFER
    elif paid is None:
        reason = Reason.AMOUNT_MISMATCH
    elif tx.timestamp_ms < created_ms:
        reason = Reason.BEFORE_INVOICE
    elif tx.confirmations < settings.min_confirmations:
        return Verification(Outcome.PENDING, Reason.CONFIRMATIONS, checks, paid)
    else:
        return Verification(Outcome.APPROVE, Reason.OK, checks, paid)
    return Verification(Outcome.FAIL, reason, checks, paid)


def normalise_tx_hash(text: str) -> str:
    """A transaction hash as stored (64 lowercase hex), or a UserError."""
    cleaned = text.strip().lower()
    if not _TX_HASH.match(cleaned):
        raise UserError(
            "That is not a transaction hash: it has 64 characters, 0-9 and a-f. Copy it from "
            "your wallet or from tronscan.org."
        )
    return cleaned


@dataclass(frozen=True)
class CheckReport:
    """What a check found and did."""

    payment: PaymentRecord
    invoice: InvoiceRecord
    reason: Reason
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


class PaymentService:
    """Invoices, payments, verification and the admins' decisions."""

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
        self._step = max(MIN_AMOUNT_STEP, 2 * self._settings.amount_tolerance_micro)

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
            raise UserError("Payments are not set up yet. Please try again later.")
        return address

    # --- signatures (fields: core/signing.py) ---------------------------------------------

    def invoice_is_authentic(self, invoice: InvoiceRecord) -> bool:
        """True when the invoice row carries a valid signature (by any configured key)."""
        return verify_record(self._crypto, INVOICE_SIGNATURE, invoice)

    def payment_is_authentic(self, payment: PaymentRecord) -> bool:
        """An approved payment must carry a valid signature; other states grant nothing."""
        if payment.status != PaymentStatus.APPROVED:
            return True
        if payment.signature is None or payment.amount_micro is None or not payment.approved_at:
            return False
        return verify_record(self._crypto, PAYMENT_SIGNATURE, payment)

    # --- invoices --------------------------------------------------------------------------

    async def create_invoice(self, session: Session, plan_name: str) -> InvoiceRecord:
        """An invoice for ``plan_name`` with a unique exact amount (or the user's open one)."""
        address = self._require_enabled()
        plan = self._plans.get(plan_name)
        if plan is None:
            raise UserError("That plan is not on sale. See /plans.")
        now = self._clock.now()
        step = self._step
        async with self._uow() as uow:
            existing = await uow.payments.open_invoice(
                session.account_id, plan.name, now=to_iso(now)
            )
            if existing is not None and self.invoice_is_authentic(existing):
                return existing
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
                raise UserError(
                    "Too many invoices are open for this plan right now. Please try again later."
                )
            draft = InvoiceRecord(
                id=0,
                account_id=session.account_id,
                plan=plan.name,
                tier=plan.tier,
                days=plan.days,
                amount_micro=amount,
                receive_address=address,
                created_at=to_iso(now),
                expires_at=to_iso(now + timedelta(hours=self._settings.invoice_hours)),
                status="open",
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
            )
            invoice = InvoiceRecord(**{**draft.__dict__, "id": invoice_id})
            signature = sign_record(self._crypto, INVOICE_SIGNATURE, invoice)
            await uow.payments.sign_invoice(invoice_id, signature)
            await uow.commit()
        return InvoiceRecord(**{**invoice.__dict__, "signature": signature})

    # --- submitting ------------------------------------------------------------------------

    async def submit(self, session: Session, invoice_id: int, tx_hash_text: str) -> PaymentRecord:
        """Store a pending payment for the caller's invoice (PAYMENT_SUBMITTED).

        A hash already used by any payment is refused; using someone else's hash, or one hash
        for two invoices, is suspicious.
        """
        self._require_enabled()
        tx_hash = normalise_tx_hash(tx_hash_text)
        now = self._clock.now()
        refusal: str | None = None
        payment_id = 0
        async with self._uow() as uow:
            invoice = await uow.payments.invoice(invoice_id)
            if invoice is None or invoice.account_id != session.account_id:
                raise UserError(
                    f"You have no invoice #{invoice_id}. See /payments, or make one with "
                    "/subscribe."
                )
            if invoice.status == "paid":
                raise UserError(f"Invoice #{invoice_id} is already paid.")
            if invoice.status == "expired" or now >= from_iso(invoice.expires_at):
                raise UserError(
                    f"Invoice #{invoice_id} has expired. Make a new one with /subscribe."
                )
            if not self.invoice_is_authentic(invoice):
                await self._suspicion.report_tampered(
                    uow, "invoice", invoice.id, session.account_id
                )
                refusal = "This invoice cannot be used. Please make a new one with /subscribe."
            elif await uow.payments.pending_count(invoice.id) >= MAX_PENDING_PER_INVOICE:
                raise UserError(
                    "This invoice already has payments waiting to be checked. See /payments."
                )
            else:
                try:
                    payment_id = await uow.payments.add_payment(
                        invoice_id=invoice.id,
                        account_id=session.account_id,
                        telegram_user_id=session.telegram_user_id,
                        tx_hash=tx_hash,
                        expected_micro=invoice.amount_micro,
                        submitted_at=to_iso(now),
                    )
                except DuplicateError:
                    refusal = await self._hash_reused(uow, session, invoice, tx_hash)
                else:
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
            raise UserError(refusal)
        async with self._uow(read_only=True) as uow:
            payment = await uow.payments.payment(payment_id)
        assert payment is not None
        return payment

    async def _hash_reused(
        self, uow: UnitOfWork, session: Session, invoice: InvoiceRecord, tx_hash: str
    ) -> str:
        """The refusal for a used hash; suspicious unless it is this invoice's own retry."""
        first = await uow.payments.payment_by_tx(tx_hash)
        if first is not None and first.account_id == session.account_id:
            if first.invoice_id == invoice.id:
                return f"You already sent this transaction as payment #{first.id}. See /payments."
        await self._suspicion.report(
            uow,
            RULE_HASH_REUSE,
            Severity.WARNING,
            account_id=session.account_id,
            telegram_user_id=session.telegram_user_id,
            evidence={
                "invoice_id": invoice.id,
                "first_payment_id": first.id if first is not None else None,
                "same_account": first is not None and first.account_id == session.account_id,
            },
        )
        return "This transaction was already used for a payment and cannot be used again."

    # --- checking --------------------------------------------------------------------------

    async def check(self, payment_id: int) -> CheckReport:
        """Verify a payment against the chain now and apply the outcome if it is pending.

        The chain is asked outside any transaction; the outcome is applied only if the payment
        is still pending then, so concurrent checks decide a payment once. Only the chain
        decides here (the first check after /pay, the re-check job); an admin asking goes
        through :meth:`verify`.
        """
        async with self._uow(read_only=True) as uow:
            payment = await uow.payments.payment(payment_id)
            invoice = await uow.payments.invoice(payment.invoice_id) if payment else None
        if payment is None or invoice is None:
            raise UserError(f"There is no payment #{payment_id}.")
        if not self._row_pair_is_sound(payment, invoice):
            return await self._refuse_tampered(payment, invoice)
        try:
            tx = await self._source.transaction(payment.tx_hash)
        except ChainUnavailableError as exc:
            logger.warning("payment %d stays pending: %s", payment.id, exc)
            verification = None
        else:
            verification = evaluate(tx, invoice, self._settings)
        if payment.status != PaymentStatus.PENDING:
            return CheckReport(
                payment,
                invoice,
                verification.reason if verification else Reason.CHAIN_UNAVAILABLE,
                verification,
                signature_ok=self.payment_is_authentic(payment)
                if payment.status == PaymentStatus.APPROVED
                else None,
            )
        return await self._apply(payment.id, verification)

    def _row_pair_is_sound(self, payment: PaymentRecord, invoice: InvoiceRecord) -> bool:
        return (
            self.invoice_is_authentic(invoice)
            and invoice.account_id == payment.account_id
            and invoice.amount_micro == payment.expected_micro
            and self.payment_is_authentic(payment)
        )

    async def _refuse_tampered(self, payment: PaymentRecord, invoice: InvoiceRecord) -> CheckReport:
        """A row that fails its signature: never trusted; alert, and stop checking it."""
        payment_ok = self.payment_is_authentic(payment)
        decided = False
        async with self._uow() as uow:
            if payment_ok:
                await self._suspicion.report_tampered(
                    uow, "invoice", invoice.id, payment.account_id
                )
            else:
                await self._suspicion.report_tampered(
                    uow, "payment", payment.id, payment.account_id
                )
            if payment.status == PaymentStatus.PENDING:
                decided = await uow.payments.decide(
                    payment.id,
                    status=PaymentStatus.FAILED,
                    note=Reason.TAMPERED,
                    at=to_iso(self._clock.now()),
                    was=(PaymentStatus.PENDING,),
                )
            await uow.commit()
        return CheckReport(
            await self._reload(payment.id),
            invoice,
            Reason.TAMPERED,
            decided=decided,
            signature_ok=payment_ok if payment.status == PaymentStatus.APPROVED else None,
        )

    async def _reload(self, payment_id: int) -> PaymentRecord:
        async with self._uow(read_only=True) as uow:
            payment = await uow.payments.payment(payment_id)
        assert payment is not None
        return payment

    async def _apply(self, payment_id: int, verification: Verification | None) -> CheckReport:
        now = self._clock.now()
        at = to_iso(now)
        license_record: LicenseRecord | None = None
        async with self._uow() as uow:
            payment = await uow.payments.payment(payment_id)
            assert payment is not None
            invoice = await uow.payments.invoice(payment.invoice_id)
            assert invoice is not None
            reason = verification.reason if verification else Reason.CHAIN_UNAVAILABLE
            decided = False
            if payment.status != PaymentStatus.PENDING:
                pass  # another check decided it meanwhile
            elif verification is not None and verification.outcome is Outcome.APPROVE:
                assert verification.paid_micro is not None
                if invoice.status == "paid":
                    reason = Reason.INVOICE_PAID
                    decided = await self._fail(uow, payment, reason, at)
                else:
                    license_record = await self._approve(
                        uow, payment, invoice, verification.paid_micro, at, admin=None
                    )
                    decided = license_record is not None
            elif verification is not None and verification.outcome is Outcome.FAIL:
                decided = await self._fail(uow, payment, reason, at)
            elif reason is Reason.NOT_FOUND and now >= from_iso(invoice.expires_at):
                reason = Reason.EXPIRED
                decided = await uow.payments.decide(
                    payment.id,
                    status=PaymentStatus.EXPIRED,
                    note=reason,
                    at=at,
                    was=(PaymentStatus.PENDING,),
                )
                if decided and not await uow.payments.pending_count(invoice.id):
                    await uow.payments.set_invoice_status(invoice.id, "expired", was="open")
            else:
                await uow.payments.record_check(payment.id, at=at, note=reason)
            await uow.commit()
        return CheckReport(
            await self._reload(payment_id),
            invoice,
            reason,
            verification,
            decided=decided,
            license=license_record,
        )

    async def _fail(self, uow: UnitOfWork, payment: PaymentRecord, reason: Reason, at: str) -> bool:
        """The transfer can never pay this invoice: failed, audited, maybe suspicious."""
        if not await uow.payments.decide(
            payment.id,
            status=PaymentStatus.FAILED,
            note=reason,
            at=at,
            was=(PaymentStatus.PENDING,),
        ):
            return False
        await self._audit.append(
            uow,
            AuditEvent(
                EventType.PAYMENT_REJECTED,
                Severity.WARNING,
                account_id=payment.account_id,
                telegram_user_id=payment.telegram_user_id,
                details={"payment_id": payment.id, "by": "verification", "reason": str(reason)},
            ),
        )
        if reason is Reason.WRONG_TOKEN:
            await self._suspicion.report(
                uow,
                RULE_WRONG_TOKEN,
                Severity.WARNING,
                account_id=payment.account_id,
                telegram_user_id=payment.telegram_user_id,
                evidence={"payment_id": payment.id},
            )
        since = to_iso(self._clock.now() - FAILED_WINDOW)
        failures = await uow.payments.failed_since(payment.account_id, since)
        if failures >= FAILED_THRESHOLD:
            await self._suspicion.report(
                uow,
                RULE_FAILED_VERIFICATIONS,
                Severity.WARNING,
                account_id=payment.account_id,
                telegram_user_id=payment.telegram_user_id,
                evidence={
                    "count": failures,
                    "threshold": FAILED_THRESHOLD,
                    "window_minutes": int(FAILED_WINDOW.total_seconds() // 60),
                },
            )
        return True

    async def _approve(
        self,
        uow: UnitOfWork,
        payment: PaymentRecord,
        invoice: InvoiceRecord,
        amount_micro: int,
        at: str,
        *,
        admin: Session | None,
    ) -> LicenseRecord | None:
        """Sign and approve, mark the invoice paid, grant the license, pay the referrer."""
        approval = replace(payment, amount_micro=amount_micro, approved_at=at)
        signature = sign_record(self._crypto, PAYMENT_SIGNATURE, approval)
        approved = await uow.payments.approve(
            payment.id,
            amount_micro=amount_micro,
            approved_at=at,
            approved_by_account_id=admin.account_id if admin else None,
            signature=signature,
            note=Reason.OK if admin is None else "approved by an admin",
            was=OPEN_TO_ADMIN if admin else (PaymentStatus.PENDING,),
        )
        if not approved:
            return None
        if not await uow.payments.set_invoice_status(invoice.id, "paid", was="open"):
            await uow.payments.set_invoice_status(invoice.id, "paid", was="expired")
        plan = Plan(invoice.plan, invoice.amount_micro, invoice.days, invoice.tier)
        license_record, extended = await self._licenses.grant(
            uow, account_id=payment.account_id, payment_id=payment.id, plan=plan
        )
        details: dict[str, object] = {
            "payment_id": payment.id,
            "invoice_id": invoice.id,
            "amount_micro": amount_micro,
            "by": "admin" if admin else "verification",
        }
        if admin is not None:
            details["admin_account_id"] = admin.account_id
        payer = await uow.accounts.by_id(payment.account_id)
        commission = commission_micro(amount_micro, self._commission)
        if payer is not None and payer.referred_by is not None and commission > 0:
            await self._wallet.append(
                uow,
                account_id=payer.referred_by,
                amount_micro=commission,
                kind=REFERRAL_COMMISSION,
                payment_id=payment.id,
                at=at,
            )
            details["referral_commission_micro"] = commission
            details["referrer_account_id"] = payer.referred_by
        actor = admin.telegram_user_id if admin else payment.telegram_user_id
        await self._audit.append(
            uow,
            AuditEvent(
                EventType.PAYMENT_APPROVED,
                account_id=payment.account_id,
                telegram_user_id=actor,
                details=details,
            ),
        )
        await self._audit.append(
            uow,
            AuditEvent(
                EventType.SUBSCRIPTION_STARTED,
                account_id=payment.account_id,
                telegram_user_id=actor,
                details={
                    "license_id": license_record.id,
                    "payment_id": payment.id,
                    "plan": license_record.plan,
                    "tier": license_record.tier,
                    "starts_at": license_record.starts_at,
                    "ends_at": license_record.ends_at,
                    "extended": extended,
                },
            ),
        )
        return license_record

    async def recheck_pending(self) -> list[CheckReport]:
        """One round of the job: re-check pending payments (a few lookups at a time), then
        expire invoices nobody paid. Returns the reports that decided something."""
        async with self._uow(read_only=True) as uow:
            pending = await uow.payments.pending(PENDING_LIMIT)
        limiter = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def one(payment: PaymentRecord) -> CheckReport | None:
            async with limiter:
                try:
                    return await self.check(payment.id)
                except Exception:
                    logger.exception("re-checking payment %d failed", payment.id)
                    return None

        reports = await asyncio.gather(*(one(payment) for payment in pending))
        async with self._uow() as uow:
            await uow.payments.expire_invoices(to_iso(self._clock.now()))
            await uow.commit()
        return [report for report in reports if report is not None and report.decided]

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
                raise UserError(f"There is no payment #{payment_id}.")
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

    # --- admin decisions -------------------------------------------------------------------

    async def approve_manually(
        self, admin: Session, proof: ReauthProof, payment_id: int
    ) -> CheckReport:
        """An admin approves a payment the chain cannot confirm (needs a fresh 2FA proof).

        The admin's session and proof are checked inside the approving transaction
        (:class:`~core.sessions.FlowEnded` when the session or proof went stale).
        """
        self._rights.require_session(admin, "approve")
        at = to_iso(self._clock.now())
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, admin, proof)
            payment = await uow.payments.payment(payment_id)
            invoice = await uow.payments.invoice(payment.invoice_id) if payment else None
            if payment is None or invoice is None:
                raise UserError(f"There is no payment #{payment_id}.")
            if payment.status not in OPEN_TO_ADMIN:
                raise UserError(f"Payment #{payment_id} is {payment.status}; nothing to approve.")
            if invoice.status == "paid":
                raise UserError(f"Invoice #{invoice.id} is already paid by another payment.")
            if not self._row_pair_is_sound(payment, invoice):
                await self._suspicion.report_tampered(
                    uow, "invoice", invoice.id, payment.account_id
                )
                await uow.commit()
                raise UserError(
                    "This payment's records fail their integrity check; it cannot be approved."
                )
            license_record = await self._approve(
                uow, payment, invoice, invoice.amount_micro, at, admin=admin
            )
            if license_record is None:
                raise UserError(f"Payment #{payment_id} was decided meanwhile; see /pending.")
            await uow.commit()
        return CheckReport(
            await self._reload(payment_id),
            invoice,
            Reason.OK,
            decided=True,
            license=license_record,
        )

    async def reject(self, admin: Session, payment_id: int, reason: str) -> PaymentRecord:
        """An admin rejects a payment with a reason the user is shown (PAYMENT_REJECTED)."""
        self._rights.require_session(admin, "reject")
        reason = " ".join(reason.split())
        if not reason:
            raise UserError("Say why: /reject PAYMENT_ID REASON")
        if len(reason) > REASON_MAX:
            raise UserError(f"Please keep the reason under {REASON_MAX} characters.")
        async with self._uow() as uow:
            payment = await uow.payments.payment(payment_id)
            if payment is None:
                raise UserError(f"There is no payment #{payment_id}.")
            if not await uow.payments.decide(
                payment.id,
                status=PaymentStatus.REJECTED,
                note=reason,
                at=to_iso(self._clock.now()),
                was=OPEN_TO_ADMIN,
            ):
                raise UserError(f"Payment #{payment_id} is {payment.status}; nothing to reject.")
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
