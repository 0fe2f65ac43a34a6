"""Checking submitted payments against the chain (SPEC §7): the one place where a payment is
verified, failed or approved, with compare-and-set updates so concurrent checks decide it once.

See :mod:`core.payments.service` for the whole flow.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from core.accounts.sessions import Session
from core.audit.detection import Finding, report_finding
from core.audit.log import AuditEvent, EventType, Severity
from core.clock import to_iso
from core.config import Plan
from core.errors import ChainUnavailableError, Refusal
from core.payments.agreement import SourcesDisagreeError
from core.payments.chain import UnexpectedAnswerError
from core.payments.invoices import InvoiceDesk
from core.payments.ports import (
    InvoiceRecord,
    InvoiceStatus,
    LicenseRecord,
    PaymentRecord,
    PaymentStatus,
)
from core.payments.refusals import (
    PaymentNotFound,
)
from core.payments.rules import (
    CHECK_CONCURRENCY,
    FAILED_THRESHOLD,
    FAILED_WINDOW,
    LATE_WINDOW,
    NOT_FOUND_GRACE,
    OPEN_TO_ADMIN,
    PENDING_LIMIT,
    RULE_FAILED_VERIFICATIONS,
    RULE_ODD_ANSWER,
    RULE_REVIEW,
    RULE_WRONG_TOKEN,
    CheckNote,
    CheckReport,
    Outcome,
    Settlement,
    Verification,
    settle,
    sources_disagree,
    unexpected_answer,
)
from core.payments.wallet import OVERPAYMENT_CREDIT, REFERRAL_COMMISSION, commission_micro
from core.ports import UnitOfWork
from core.signing import PAYMENT_SIGNATURE, sign_record

logger = logging.getLogger(__name__)

COUNTED = (Outcome.APPROVE, Outcome.OVERPAID, Outcome.PARTIAL)  # a transfer whose amount counts
REVIEW_ALERT_ONCE = timedelta(days=3650)  # a payment's review alert is never folded into another


class PaymentChecker(InvoiceDesk):
    """Verification against the chain and the outcome it leads to (approve, fail, keep pending)."""

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
            raise Refusal(PaymentNotFound(payment_id))
        if not self._row_pair_is_sound(payment, invoice):
            return await self._refuse_tampered(payment, invoice)
        try:
            tx = await self._source.transaction(payment.tx_hash)
        except SourcesDisagreeError as exc:  # an admin decides (review, alerted once)
            verification = sources_disagree(str(exc))
        except UnexpectedAnswerError as exc:  # never judged: pending, and the admins hear once
            verification = unexpected_answer(str(exc))
        except ChainUnavailableError as exc:
            logger.warning("payment %d stays pending: %s", payment.id, exc)
            verification = None
        else:
            verification = await self._judge(tx, invoice)
        if payment.status != PaymentStatus.PENDING:
            return CheckReport(
                payment,
                invoice,
                verification.reason if verification else CheckNote.CHAIN_UNAVAILABLE,
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
                    note=CheckNote.TAMPERED,
                    at=self._clock.now(),
                    was=(PaymentStatus.PENDING,),
                )
            await uow.commit()
        return CheckReport(
            await self._reload(payment.id),
            invoice,
            CheckNote.TAMPERED,
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
        at = now
        license_record: LicenseRecord | None = None
        settlement: Settlement | None = None
        async with self._uow() as uow:
            payment = await uow.payments.payment(payment_id)
            assert payment is not None
            invoice = await uow.payments.invoice(payment.invoice_id)
            assert invoice is not None
            reason = verification.reason if verification else CheckNote.CHAIN_UNAVAILABLE
            decided = False
            if payment.status != PaymentStatus.PENDING:
                pass  # another check decided it meanwhile
            elif verification is not None and verification.outcome in COUNTED:
                paid = verification.paid_micro
                assert paid is not None
                if invoice.status is InvoiceStatus.PAID:  # paid twice: the money is still ours
                    reason = CheckNote.INVOICE_PAID
                    decided = await self._hold(uow, payment, PaymentStatus.REVIEW, paid, reason, at)
                else:
                    settlement = settle(
                        invoice.amount_micro,
                        self._settings.amount_tolerance_micro,
                        await self._received(uow, invoice, but=payment.id) + paid,
                    )
                    if settlement.complete:
                        license_record = await self._approve(
                            uow,
                            payment,
                            invoice,
                            paid,
                            at,
                            admin=None,
                            excess_micro=settlement.excess_micro,
                            received_micro=settlement.received_micro,
                        )
                        decided = license_record is not None
                        reason = CheckNote.OVERPAID if settlement.excess_micro else CheckNote.OK
                    else:
                        reason = CheckNote.UNDERPAID
                        decided = await self._hold(
                            uow, payment, PaymentStatus.PARTIAL, paid, reason, at
                        )
            elif verification is not None and verification.outcome is Outcome.REVIEW:
                decided = await self._hold(
                    uow, payment, PaymentStatus.REVIEW, verification.paid_micro, reason, at
                )
            elif verification is not None and verification.outcome is Outcome.FAIL:
                decided = await self._fail(uow, payment, reason, at)
            elif reason is CheckNote.NOT_FOUND and now >= max(
                invoice.expires_at, payment.submitted_at + NOT_FOUND_GRACE
            ):
                # Never before the chain had its time to index a hash sent late (issue 17).
                reason = CheckNote.EXPIRED
                decided = await uow.payments.decide(
                    payment.id,
                    status=PaymentStatus.EXPIRED,
                    note=reason,
                    at=at,
                    was=(PaymentStatus.PENDING,),
                )
                if decided and not await uow.payments.pending_count(invoice.id):
                    await uow.payments.set_invoice_status(
                        invoice.id, InvoiceStatus.EXPIRED, was=InvoiceStatus.OPEN
                    )
            else:
                await uow.payments.record_check(payment.id, at=at, note=reason)
                if reason is CheckNote.UNEXPECTED_ANSWER:  # alerted once per payment
                    await self._suspicion.report_once(uow, RULE_ODD_ANSWER, "payment", payment)
            await uow.commit()
        return CheckReport(
            await self._reload(payment_id),
            invoice,
            reason,
            verification,
            decided=decided,
            license=license_record,
            settlement=settlement,
            credited_micro=settlement.excess_micro if settlement and license_record else 0,
        )

    async def _received(self, uow: UnitOfWork, invoice: InvoiceRecord, *, but: int) -> int:
        """What the invoice's partial payments (other than ``but``) brought, read inside the
        deciding transaction; a partial row failing its signature counts for nothing."""
        total = 0
        for partial in await uow.payments.partials(invoice.id):
            if partial.id == but or partial.account_id != invoice.account_id:
                continue
            if not self.payment_is_authentic(partial):
                await self._suspicion.report_tampered(
                    uow, "payment", partial.id, partial.account_id
                )
                continue
            total += partial.amount_micro or 0
        return total

    async def _hold(
        self,
        uow: UnitOfWork,
        payment: PaymentRecord,
        status: PaymentStatus,
        amount_micro: int | None,
        reason: CheckNote,
        at: datetime,
    ) -> bool:
        """Partial or review: the amount that reached us, signed; a review alerts the admins
        (once per payment). False when another check decided the payment first."""
        held = replace(payment, status=status, amount_micro=amount_micro, approved_at=at)
        if not await uow.payments.hold(
            payment.id,
            status=status,
            amount_micro=amount_micro,
            held_at=at,
            signature=sign_record(self._crypto, PAYMENT_SIGNATURE, held),
            note=reason,
            was=(PaymentStatus.PENDING,),
        ):
            return False
        if status is PaymentStatus.REVIEW:
            await self._alert_review(uow, held, reason)
        return True

    async def _alert_review(self, uow: UnitOfWork, payment: PaymentRecord, reason: str) -> None:
        """Tell the admins a payment waits for their decision (one alert per payment)."""
        await report_finding(
            uow,
            self._audit,
            Finding(
                RULE_REVIEW,
                Severity.WARNING,
                f"payment:{payment.id}",
                payment.account_id,
                payment.telegram_user_id,
                {
                    "payment_id": payment.id,
                    "invoice_id": payment.invoice_id,
                    "reason": str(reason),
                    "amount_micro": payment.amount_micro or 0,
                },
            ),
            at=self._clock.now(),
            dedupe=REVIEW_ALERT_ONCE,
        )

    async def _fail(
        self, uow: UnitOfWork, payment: PaymentRecord, reason: CheckNote, at: datetime
    ) -> bool:
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
        if reason is CheckNote.WRONG_TOKEN:
            await self._suspicion.report(
                uow,
                RULE_WRONG_TOKEN,
                Severity.WARNING,
                account_id=payment.account_id,
                telegram_user_id=payment.telegram_user_id,
                evidence={"payment_id": payment.id},
            )
        since = self._clock.now() - FAILED_WINDOW
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
        at: datetime,
        *,
        admin: Session | None,
        excess_micro: int = 0,
        received_micro: int | None = None,
    ) -> LicenseRecord | None:
        """Sign and approve, mark the invoice paid, grant the license, pay the referrer, and
        credit ``excess_micro`` (what the invoice received beyond its amount) to the payer.

        ``received_micro``: every transfer the invoice counted, this one included (default:
        this one); the referrer's commission is on what bought the plan, never on the excess
        the payer gets back."""
        approval = replace(payment, amount_micro=amount_micro, approved_at=at)
        signature = sign_record(self._crypto, PAYMENT_SIGNATURE, approval)
        approved = await uow.payments.approve(
            payment.id,
            amount_micro=amount_micro,
            approved_at=at,
            approved_by_account_id=admin.account_id if admin else None,
            signature=signature,
            note=CheckNote.OK if admin is None else "approved by an admin",
            was=OPEN_TO_ADMIN if admin else (PaymentStatus.PENDING,),
        )
        if not approved:
            return None
        if not await uow.payments.set_invoice_status(
            invoice.id, InvoiceStatus.PAID, was=InvoiceStatus.OPEN
        ):
            await uow.payments.set_invoice_status(
                invoice.id, InvoiceStatus.PAID, was=InvoiceStatus.EXPIRED
            )
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
        bought = (amount_micro if received_micro is None else received_micro) - excess_micro
        commission = commission_micro(bought, self._commission)
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
        if excess_micro > 0:  # once per payment: the ledger's unique (kind, payment) index
            await self._wallet.append(
                uow,
                account_id=payment.account_id,
                amount_micro=excess_micro,
                kind=OVERPAYMENT_CREDIT,
                payment_id=payment.id,
                at=at,
            )
            details["excess_credited_micro"] = excess_micro
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
                    "starts_at": to_iso(license_record.starts_at),
                    "ends_at": to_iso(license_record.ends_at),
                    "extended": extended,
                },
            ),
        )
        return license_record

    async def recheck_pending(self, *, undecided: bool = False) -> list[CheckReport]:
        """One round of the job: re-check pending payments (a few lookups at a time), then
        expire invoices nobody paid. Returns the reports that decided something (and, with
        ``undecided``, those that did not, for the live confirmation count)."""
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
        stale = await self._review_stale_partials()
        async with self._uow() as uow:
            await uow.payments.expire_invoices(self._clock.now())
            await uow.commit()
        return [r for r in reports if r is not None and (r.decided or undecided)] + stale

    async def _review_stale_partials(self) -> list[CheckReport]:
        """Partials never topped up while a top-up could still count (the late window after
        the invoice's expiry) go to an admin: their money is never silently kept."""
        now = self._clock.now()
        reports = []
        async with self._uow() as uow:
            for partial in await uow.payments.stale_partials(now - LATE_WINDOW, PENDING_LIMIT):
                invoice = await uow.payments.invoice(partial.invoice_id)
                assert invoice is not None
                if await uow.payments.decide(
                    partial.id,
                    status=PaymentStatus.REVIEW,
                    note=CheckNote.PARTIAL_EXPIRED,
                    at=now,
                    was=(PaymentStatus.PARTIAL,),
                ):
                    await self._alert_review(uow, partial, CheckNote.PARTIAL_EXPIRED)
                    reviewed = replace(partial, status=PaymentStatus.REVIEW)
                    reports.append(
                        CheckReport(reviewed, invoice, CheckNote.PARTIAL_EXPIRED, decided=True)
                    )
            await uow.commit()
        return reports
