"""Subscriptions paid in Telegram Stars (SPEC §12): the second rail, granting exactly the
license a USDT payment grants, with the same integrity rules.

1. :meth:`StarsService.create_invoice` stores an invoice under a random ``reference`` and
   returns the payload for ``createInvoiceLink``: the reference and its HMAC (core/signing's
   derived key, any configured key verifies), never a guessable id.
2. :meth:`StarsService.pre_checkout` says yes only when the payload verifies, the invoice is
   open, it is the payer's own, the payer has a live session on its account and the amount is
   the plan's price in XTR.
3. :meth:`StarsService.record_payment` (each ``successful_payment``: the first one and every
   renewal) stores the charge once (``charge_id`` UNIQUE), signs it, grants or extends the
   license, credits the referrer in USDT terms at ``plans.stars_usdt_rate`` (nothing when
   unset), audits PAYMENT_APPROVED + SUBSCRIPTION_STARTED. A payload that does not verify, a
   repeated charge, a closed account or a wrong amount grants nothing and alerts the admins
   (``stars_payment_refused``): they may refund it.
4. :meth:`StarsService.set_renewal` (owner) and :meth:`StarsService.refund` (admin, fresh 2FA
   proof) ask Telegram first (:class:`StarsGateway`) and record only what Telegram did.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from core.accounts.service import AccountService
from core.accounts.sessions import ReauthProof, Session
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.audit.suspicion import SuspicionReporter
from core.authz import AdminRights
from core.clock import Clock, to_iso
from core.config import Plan, Settings
from core.crypto import EncryptionService
from core.errors import DuplicateError, Refusal
from core.payments.licenses import LicenseService
from core.payments.ports import LicenseRecord
from core.payments.refusals import PlanNotOnSale
from core.payments.stars_clawback import Clawback, claw_back_commission
from core.payments.stars_rules import (
    PAYLOAD_LABEL,
    REFUNDED,
    STARS_ALERT,
    PreCheckoutProblem,
    StarsAlreadyRefunded,
    StarsGateway,
    StarsInvoiceRecord,
    StarsInvoiceStatus,
    StarsNoSubscription,
    StarsPaymentNotFound,
    StarsPaymentRecord,
    StarsRefundFailed,
    make_payload,
    price_problem,
    refunded_end,
    split_payload,
    usdt_worth_micro,
)
from core.payments.wallet import REFERRAL_COMMISSION, WalletLedger, commission_micro
from core.ports import UnitOfWork
from core.signing import (
    LICENSE_SIGNATURE,
    STARS_INVOICE_SIGNATURE,
    STARS_PAYMENT_SIGNATURE,
    sign_record,
    verify_record,
)


@dataclass(frozen=True)
class StarsGrant:
    """What a successful_payment did: the payment and license, or why nothing was granted."""

    payment: StarsPaymentRecord | None
    license: LicenseRecord | None
    problem: str | None = None


@dataclass(frozen=True)
class StarsRefund:
    """A refunded payment, where its license now ends (None: it had none) and the referral
    commission taken back."""

    payment: StarsPaymentRecord
    license_ends_at: datetime | None
    clawback: Clawback = field(default_factory=Clawback)


class StarsService:
    """Stars invoices, pre-checkout answers, payments, renewal changes and refunds."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        crypto: EncryptionService,
        settings: Settings,
        *,
        accounts: AccountService,
        licenses: LicenseService,
        wallet: WalletLedger,
        suspicion: SuspicionReporter,
        rights: AdminRights,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self._crypto = crypto
        self._plans = settings.plans
        self._rate = settings.payments.stars_usdt_rate_micro
        self._commission = settings.referrals.commission_percent
        self._idle = timedelta(minutes=settings.security.idle_minutes)
        self._accounts = accounts
        self._licenses = licenses
        self._wallet = wallet
        self._suspicion = suspicion
        self._rights = rights

    def plans(self) -> list[Plan]:
        """The plans sold for Stars."""
        return [plan for plan in self._plans.values() if plan.price_stars > 0]

    async def create_invoice(self, session: Session, plan_name: str) -> tuple[Plan, str]:
        """A new invoice for ``plan_name`` on the session's account; (plan, payload)."""
        plan = self._plans.get(plan_name)
        if plan is None or plan.price_stars <= 0:
            raise Refusal(PlanNotOnSale())
        now = self._clock.now()
        reference = secrets.token_urlsafe(16)
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, session)
            invoice_id = await uow.stars.add_invoice(
                reference=reference,
                account_id=session.account_id,
                telegram_user_id=session.telegram_user_id,
                plan=plan.name,
                tier=plan.tier,
                days=plan.days,
                price_stars=plan.price_stars,
                created_at=now,
            )
            record = await uow.stars.invoice(invoice_id)
            assert record is not None
            await uow.stars.sign_invoice(
                invoice_id, sign_record(self._crypto, STARS_INVOICE_SIGNATURE, record)
            )
            await uow.commit()
        return plan, make_payload(reference, self._crypto.sign(PAYLOAD_LABEL, reference))

    async def _invoice_of(self, uow: UnitOfWork, payload: str) -> StarsInvoiceRecord | None:
        parts = split_payload(payload)
        if parts is None or not self._crypto.verify_signature(parts[1], PAYLOAD_LABEL, parts[0]):
            return None
        invoice = await uow.stars.invoice_by_reference(parts[0])
        if invoice is None or not verify_record(self._crypto, STARS_INVOICE_SIGNATURE, invoice):
            return None
        return invoice

    async def pre_checkout(
        self, telegram_user_id: int, payload: str, currency: str, total: int
    ) -> PreCheckoutProblem | None:
        """Why Telegram must not take this payment, or None: it may."""
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            invoice = await self._invoice_of(uow, payload)
            if invoice is None:
                return PreCheckoutProblem.BAD_PAYLOAD
            if invoice.telegram_user_id != telegram_user_id:
                return PreCheckoutProblem.NOT_YOURS
            if invoice.status is not StarsInvoiceStatus.OPEN:
                return PreCheckoutProblem.NOT_OPEN
            account = await uow.accounts.by_id(invoice.account_id)
            if account is None or account.closed_at is not None:
                return PreCheckoutProblem.CLOSED_ACCOUNT
            session = await uow.sessions.live_for_telegram_user(telegram_user_id)
            if (
                session is None
                or session.account_id != invoice.account_id
                or now >= session.expires_at
                or now >= session.last_seen_at + self._idle
            ):
                return PreCheckoutProblem.NO_SESSION
        plan = self._plans.get(invoice.plan)
        if plan is None or price_problem(invoice, plan.price_stars, currency, total):
            return PreCheckoutProblem.PRICE
        return None

    async def _alert(
        self,
        uow: UnitOfWork,
        telegram_user_id: int,
        account_id: int | None,
        problem: str,
        charge_id: str,
    ) -> StarsGrant:
        await self._suspicion.report(
            uow,
            STARS_ALERT,
            Severity.WARNING,
            account_id=account_id,
            telegram_user_id=telegram_user_id,
            evidence={"problem": problem, "charge_id": charge_id[:64]},
        )
        await uow.commit()
        return StarsGrant(None, None, problem)

    async def record_payment(
        self,
        telegram_user_id: int,
        payload: str,
        *,
        charge_id: str,
        currency: str,
        total: int,
        is_recurring: bool,
        is_first_recurring: bool,
        expires_at: datetime | None,
    ) -> StarsGrant:
        """Grant what a successful_payment paid for, once per charge; otherwise alert."""
        now = self._clock.now()
        renewal = is_recurring and not is_first_recurring
        invoice: StarsInvoiceRecord | None = None
        try:
            async with self._uow() as uow:
                invoice = await self._invoice_of(uow, payload)
                problem = _payment_problem(invoice, telegram_user_id, renewal)
                if problem is None and invoice is not None:
                    account = await uow.accounts.by_id(invoice.account_id)
                    if account is None or account.closed_at is not None:
                        problem = PreCheckoutProblem.CLOSED_ACCOUNT
                    elif price_problem(invoice, invoice.price_stars, currency, total):
                        problem = PreCheckoutProblem.PRICE
                if problem is not None or invoice is None:
                    owner = invoice.account_id if invoice else None
                    bad = problem or PreCheckoutProblem.BAD_PAYLOAD
                    return await self._alert(uow, telegram_user_id, owner, bad, charge_id)
                grant = await self._grant(
                    uow, invoice, charge_id, total, is_recurring, expires_at, now
                )
                await uow.commit()
                return grant
        except DuplicateError:
            pass  # the charge granted already: its transaction rolled back, nothing written
        async with self._uow() as uow:
            owner = invoice.account_id if invoice else None
            return await self._alert(uow, telegram_user_id, owner, "duplicate", charge_id)

    async def _grant(
        self,
        uow: UnitOfWork,
        invoice: StarsInvoiceRecord,
        charge_id: str,
        total: int,
        is_recurring: bool,
        expires_at: datetime | None,
        now: datetime,
    ) -> StarsGrant:
        payment_id = await uow.stars.add_payment(
            invoice_id=invoice.id,
            account_id=invoice.account_id,
            telegram_user_id=invoice.telegram_user_id,
            charge_id=charge_id,
            amount_stars=total,
            is_recurring=is_recurring,
            subscription_expires_at=expires_at,
            approved_at=now,
        )
        stored = await uow.stars.payment(payment_id)
        assert stored is not None
        signature = sign_record(self._crypto, STARS_PAYMENT_SIGNATURE, stored)
        await uow.stars.sign_payment(payment_id, signature)
        payment = replace(stored, signature=signature)
        await uow.stars.set_invoice_status(
            invoice.id, StarsInvoiceStatus.SUBSCRIBED, was=StarsInvoiceStatus.OPEN
        )
        bought = Plan(invoice.plan, 0, invoice.days, invoice.tier, invoice.price_stars)
        license_record, extended = await self._licenses.grant(
            uow,
            account_id=invoice.account_id,
            payment_id=None,
            stars_payment_id=payment_id,
            plan=bought,  # what the signed invoice says, whatever the config says now
        )
        details: dict[str, Any] = {
            "stars_payment_id": payment_id,
            "stars_invoice_id": invoice.id,
            "amount_stars": total,
            "by": "telegram_stars",
            "recurring": is_recurring,
        }
        payer = await uow.accounts.by_id(invoice.account_id)
        commission = commission_micro(usdt_worth_micro(total, self._rate), self._commission)
        if payer is not None and payer.referred_by is not None and commission > 0:
            await self._wallet.append(
                uow,
                account_id=payer.referred_by,
                amount_micro=commission,
                kind=REFERRAL_COMMISSION,
                payment_id=None,  # references USDT payments; Stars have their own link
                at=now,
                stars_payment_id=payment_id,  # what a refund takes back (stars_clawback.py)
            )
            details["referral_commission_micro"] = commission
            details["referrer_account_id"] = payer.referred_by
        await self._event(uow, EventType.PAYMENT_APPROVED, payment, details)
        await self._event(
            uow,
            EventType.SUBSCRIPTION_STARTED,
            payment,
            {
                "license_id": license_record.id,
                "stars_payment_id": payment_id,
                "plan": license_record.plan,
                "tier": license_record.tier,
                "starts_at": to_iso(license_record.starts_at),
                "ends_at": to_iso(license_record.ends_at),
                "extended": extended,
            },
        )
        return StarsGrant(payment, license_record)

    async def _event(
        self,
        uow: UnitOfWork,
        kind: EventType,
        payment: StarsPaymentRecord,
        details: dict[str, Any],
        actor: int | None = None,
    ) -> None:
        await self._audit.append(
            uow,
            AuditEvent(
                kind,
                account_id=payment.account_id,
                telegram_user_id=actor or payment.telegram_user_id,
                details=details,
            ),
        )

    async def subscription(self, account_id: int) -> StarsPaymentRecord | None:
        """The account's newest authentic, unrefunded Stars payment of a live subscription."""
        async with self._uow(read_only=True) as uow:
            for payment in await uow.stars.payments_for(account_id, 20):
                invoice = await uow.stars.invoice(payment.invoice_id)
                if (
                    payment.status == "approved"
                    and payment.is_recurring
                    and invoice is not None
                    and invoice.status is StarsInvoiceStatus.SUBSCRIBED
                    and verify_record(self._crypto, STARS_PAYMENT_SIGNATURE, payment)
                ):
                    return payment
        return None

    async def set_renewal(self, session: Session, gateway: StarsGateway, *, cancel: bool) -> bool:
        """Cancel (or re-enable) the renewal of the session's Stars subscription through
        Telegram; audited (SUBSCRIPTION_CANCELLED when cancelled, SETTINGS_CHANGED when
        re-enabled). False: Telegram refused."""
        payment = await self.subscription(session.account_id)
        if payment is None:
            raise Refusal(StarsNoSubscription())
        if not await gateway.set_renewal(
            payment.telegram_user_id, payment.charge_id, cancel=cancel
        ):
            return False
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, session)
            await uow.stars.set_renewal_cancelled(payment.id, cancel)
            if cancel:
                details = {"stars_payment_id": payment.id, "renewal": "cancelled"}
                await self._event(uow, EventType.SUBSCRIPTION_CANCELLED, payment, details)
            else:  # SPEC §6 has no "resumed" event: the renewal is a setting the user changed
                details = {
                    "setting": "stars_renewal",
                    "renewal": "re-enabled",
                    "stars_payment_id": payment.id,
                }
                await self._event(uow, EventType.SETTINGS_CHANGED, payment, details)
            await uow.commit()
        return True

    async def payment(self, admin: Session, payment_id: int) -> StarsPaymentRecord:
        """An admin's look at a Stars payment before refunding it."""
        self._rights.require_session(admin, "refund")
        async with self._uow(read_only=True) as uow:
            payment = await uow.stars.payment(payment_id)
        if payment is None:
            raise Refusal(StarsPaymentNotFound(payment_id))
        return payment

    async def refund(
        self, admin: Session, proof: ReauthProof, payment_id: int, gateway: StarsGateway
    ) -> StarsRefund:
        """Give the Stars back (refundStarPayment) and end the license they bought: now if it
        runs, before it starts if it has not (admin, fresh 2FA proof), and take back the referral
        commission it credited (core/payments/stars_clawback.py). Nothing is written unless
        Telegram refunded. Audited PAYMENT_REJECTED with reason ``refunded``."""
        self._rights.require_session(admin, "refund")
        now = self._clock.now()
        async with self._uow() as uow:  # held while Telegram answers: one refund at a time
            await self._accounts.sessions.require_live(uow, admin, proof)
            payment = await uow.stars.payment(payment_id)
            if payment is None or not verify_record(self._crypto, STARS_PAYMENT_SIGNATURE, payment):
                raise Refusal(StarsPaymentNotFound(payment_id))
            if payment.status != "approved":
                raise Refusal(StarsAlreadyRefunded(payment_id))
            if not await gateway.refund(payment.telegram_user_id, payment.charge_id):
                raise Refusal(StarsRefundFailed(payment_id))
            await uow.stars.mark_refunded(payment_id, now)
            await uow.stars.set_invoice_status(
                payment.invoice_id, StarsInvoiceStatus.CLOSED, was=StarsInvoiceStatus.SUBSCRIBED
            )
            ends: datetime | None = None
            license_record = await uow.licenses.of_stars_payment(payment_id)
            if license_record is not None:
                ends = refunded_end(license_record.starts_at, license_record.ends_at, now)
                moved = replace(license_record, ends_at=ends)
                await uow.licenses.end_at(
                    moved.id, ends, sign_record(self._crypto, LICENSE_SIGNATURE, moved)
                )
            details: dict[str, Any] = {
                "stars_payment_id": payment_id,
                "amount_stars": payment.amount_stars,
                "reason": REFUNDED,
                "admin_account_id": admin.account_id,
            }
            if ends is not None:
                details["license_ends_at"] = to_iso(ends)
            clawback = await claw_back_commission(uow, self._wallet, payment, now)
            if clawback.amount_micro:
                details["referral_clawback_micro"] = clawback.amount_micro
                details["referrer_account_id"] = clawback.referrer_account_id
            if clawback.untrusted:
                details["referral_clawback"] = "commission entry failed its checks"
                await self._suspicion.report(
                    uow,
                    STARS_ALERT,
                    Severity.WARNING,
                    account_id=payment.account_id,
                    telegram_user_id=payment.telegram_user_id,
                    evidence={"problem": "commission_untrusted", "stars_payment_id": payment_id},
                )
            await self._event(
                uow, EventType.PAYMENT_REJECTED, payment, details, actor=admin.telegram_user_id
            )
            await uow.commit()
        return StarsRefund(replace(payment, status=REFUNDED, refunded_at=now), ends, clawback)


def _payment_problem(
    invoice: StarsInvoiceRecord | None, telegram_user_id: int, renewal: bool
) -> PreCheckoutProblem | None:
    if invoice is None:
        return PreCheckoutProblem.BAD_PAYLOAD
    if invoice.telegram_user_id != telegram_user_id:
        return PreCheckoutProblem.NOT_YOURS
    wanted = StarsInvoiceStatus.SUBSCRIBED if renewal else StarsInvoiceStatus.OPEN
    if invoice.status is not wanted:
        return PreCheckoutProblem.NOT_OPEN
    return None
