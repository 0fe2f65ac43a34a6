"""The wallet as users see it, referral stats, and withdrawals (SPEC §3, §6, §7).

Balances come only from the signed wallet ledger (:class:`~core.payments.wallet.WalletLedger`). A
withdrawal moves money in three kinds of entries:

- ``withdrawal_hold`` (−amount) when the user asks: written in the same transaction as the
  balance check. Writers start with ``BEGIN IMMEDIATE``, so two requests (from two devices,
  or two bot processes) are serialised and can never spend the same balance twice.
- ``withdrawal_release`` (+amount) and ``withdrawal_debit`` (−amount) when an admin records
  the payout: the hold becomes the final debit.
- ``withdrawal_release`` (+amount) alone when an admin rejects it: the money is available again.

So "available" is the sum of the account's authentic entries, "held" is holds minus releases
and "withdrawn" is the sum of debits. The ``withdrawals`` table says what each hold is for;
its request fields are signed like every other row that moves money
(``WITHDRAWAL_SIGNATURE`` in core/signing.py, re-signed by ``verzek rotate-key``).

Paying out trusts nothing that does not verify: an account whose ledger holds an entry with a
bad signature, or whose ledger disagrees with its withdrawals (a hold deleted, say), cannot
withdraw until an admin looked (``SUSPICIOUS_ACTIVITY`` + alert), and a withdrawal row whose
signature fails can be neither completed nor rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from core.accounts.cooldown import CoolingDown, cooldown_until
from core.accounts.refusals import NotLoggedIn
from core.accounts.sessions import Session
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.audit.suspicion import SuspicionReporter
from core.authz import Actor, AdminNeedsTwoFactor, AdminRights
from core.clock import Clock
from core.crypto import EncryptionService
from core.errors import DuplicateError, Refusal
from core.payments.rules import normalise_tx_hash
from core.payments.tron import is_valid_tron_address
from core.payments.wallet import REFERRAL_COMMISSION, WalletLedger
from core.ports import UnitOfWork
from core.safety.service import Action, SafetyService
from core.signing import WITHDRAWAL_SIGNATURE, sign_record, verify_record
from core.twofactor.service import TwoFactorService
from core.withdrawals.ports import WithdrawalRecord, WithdrawalStatus
from core.withdrawals.refusals import (
    AddressInvalid,
    AmountBelowMinimum,
    Decision,
    InsufficientBalance,
    OwnPaymentAddress,
    TxCompletedAnother,
    TxCompletedWithdrawal,
    WithdrawalAlreadyCompleted,
    WithdrawalAlreadyRejected,
    WithdrawalDecidedMeanwhile,
    WithdrawalNotFound,
    WithdrawalTampered,
)
from core.withdrawals.rules import (
    ACTION,
    LEDGER_LIMIT,
    MIN_WITHDRAWAL_MICRO,
    PENDING_LIMIT,
    RECENT_LIMIT,
    RULE_LEDGER_MISMATCH,
    WITHDRAWAL_DEBIT,
    WITHDRAWAL_HOLD,
    WITHDRAWAL_RELEASE,
    ReferralSummary,
    TwoFactorRequired,
    UnderReview,
    WalletPosition,
    WalletSummary,
    WithdrawalDraft,
    WithdrawalRefused,
    WithdrawalView,
    clean_reason,
    mask_address,
    parse_address,
    parse_amount,
)


class WithdrawalService:
    """Wallet summaries, referral stats, withdrawal requests and the admins' decisions."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        crypto: EncryptionService,
        *,
        ledger: WalletLedger,
        twofactor: TwoFactorService,
        safety: SafetyService,
        suspicion: SuspicionReporter,
        rights: AdminRights,
        receive_address: str | None = None,
        cooldown_hours: int = 24,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self._crypto = crypto
        self._ledger = ledger
        self._twofactor = twofactor
        self._safety = safety
        self._suspicion = suspicion
        self._rights = rights
        self._receive_address = receive_address
        self._cooldown_hours = cooldown_hours

    # --- signatures ------------------------------------------------------------------------

    def is_authentic(self, withdrawal: WithdrawalRecord) -> bool:
        """True when the request's key fields (``WITHDRAWAL_SIGNATURE``) carry a valid
        signature; a row without its hold entry never does."""
        return withdrawal.hold_entry_id is not None and verify_record(
            self._crypto, WITHDRAWAL_SIGNATURE, withdrawal
        )

    # --- reading ---------------------------------------------------------------------------

    async def _position(self, uow: UnitOfWork, account_id: int) -> WalletPosition:
        balance = await self._ledger.balance(uow, account_id, limit=LEDGER_LIMIT)
        by_kind: dict[str, int] = {}
        for entry in await uow.wallet.entries(account_id, LEDGER_LIMIT):
            if self._ledger.is_authentic(entry):
                by_kind[entry.kind] = by_kind.get(entry.kind, 0) + entry.amount_micro
        holds = -by_kind.get(WITHDRAWAL_HOLD, 0)
        releases = by_kind.get(WITHDRAWAL_RELEASE, 0)
        debits = -by_kind.get(WITHDRAWAL_DEBIT, 0)
        totals = await uow.withdrawals.totals(account_id)
        requested = totals.get(WithdrawalStatus.REQUESTED, 0)
        completed = totals.get(WithdrawalStatus.COMPLETED, 0)
        rejected = totals.get(WithdrawalStatus.REJECTED, 0)
        consistent = (
            holds == requested + completed + rejected
            and releases == completed + rejected
            and debits == completed
        )
        return WalletPosition(
            available_micro=balance.micro,
            held_micro=holds - releases,
            withdrawn_micro=debits,
            referral_micro=by_kind.get(REFERRAL_COMMISSION, 0),
            untrusted_entry_ids=balance.untrusted_entry_ids,
            consistent=consistent,
        )

    async def _report_unsound(
        self, uow: UnitOfWork, account_id: int, position: WalletPosition
    ) -> None:
        for entry_id in position.untrusted_entry_ids:
            await self._suspicion.report_tampered(uow, "wallet_entry", entry_id, account_id)
        if not position.consistent:
            await self._suspicion.report(
                uow,
                RULE_LEDGER_MISMATCH,
                Severity.CRITICAL,
                account_id=account_id,
                telegram_user_id=None,
                evidence={"held_micro": position.held_micro},
            )

    async def _checked_position(self, account_id: int) -> WalletPosition:
        """The position read on its own; an unsound one is reported (in a second unit)."""
        async with self._uow(read_only=True) as uow:
            position = await self._position(uow, account_id)
        if not position.sound:
            async with self._uow() as uow:
                await self._report_unsound(uow, account_id, position)
                await uow.commit()
        return position

    async def summary(self, account_id: int) -> WalletSummary:
        """Available, held, withdrawn and referral earnings, plus the newest withdrawals."""
        position = await self._checked_position(account_id)
        async with self._uow(read_only=True) as uow:
            recent = await uow.withdrawals.for_account(account_id, RECENT_LIMIT)
        return WalletSummary(position, recent)

    async def referral(self, account_id: int) -> ReferralSummary:
        """The account's referral code, how many signed up with it, and what it earned."""
        async with self._uow(read_only=True) as uow:
            user = await uow.accounts.by_id(account_id)
            if user is None:
                raise Refusal(NotLoggedIn())
            referred = await uow.accounts.referred_count(account_id)
            position = await self._position(uow, account_id)
        return ReferralSummary(user.referral_code, referred, position.referral_micro)

    # --- requests --------------------------------------------------------------------------

    def _check_draft(self, amount_micro: int, address: str) -> None:
        if amount_micro < MIN_WITHDRAWAL_MICRO:
            raise WithdrawalRefused(AmountBelowMinimum(MIN_WITHDRAWAL_MICRO, explain=False))
        if not is_valid_tron_address(address):
            raise WithdrawalRefused(AddressInvalid(explain=False))
        if address == self._receive_address:
            raise WithdrawalRefused(OwnPaymentAddress())

    async def _refuse_during_cooldown(self, uow: UnitOfWork, account_id: int) -> None:
        """Raise :class:`~core.accounts.cooldown.CoolingDown` while a recent security change holds
        withdrawals back (core/accounts/cooldown.py)."""
        state = await uow.security.get(account_id)
        until = cooldown_until(state, self._clock.now(), self._cooldown_hours)
        if until is not None:
            raise CoolingDown(until, state.change_kind or "")

    @staticmethod
    def _insufficient(amount_micro: int, available_micro: int) -> WithdrawalRefused:
        return WithdrawalRefused(InsufficientBalance(amount_micro, available_micro))

    async def prepare(
        self, session: Session, amount_text: str, address_text: str
    ) -> WithdrawalDraft:
        """Check a ``/withdraw AMOUNT ADDRESS`` before asking for the 2FA code.

        Refuses (Refusal) a bad amount or address, the kill switch, an account without 2FA
        and an amount over the available balance. Nothing is held yet: :meth:`request` checks
        everything again in the transaction that holds the money. Refuses with
        :class:`~core.accounts.cooldown.CoolingDown` after a recent security change.
        """
        amount = parse_amount(amount_text)
        address = parse_address(address_text)
        self._check_draft(amount, address)
        await self._safety.ensure_allowed(Action.WITHDRAWALS)
        if not await self._twofactor.is_enabled(session.account_id):
            raise TwoFactorRequired()
        async with self._uow(read_only=True) as uow:
            await self._refuse_during_cooldown(uow, session.account_id)
        position = await self._checked_position(session.account_id)
        if not position.sound:
            raise UnderReview()
        if amount > position.available_micro:
            raise self._insufficient(amount, position.available_micro)
        return WithdrawalDraft(amount, address)

    async def request(
        self, session: Session, draft: WithdrawalDraft, code: str
    ) -> WithdrawalRecord:
        """Hold the amount for a payout, confirmed by a fresh 2FA code.

        The kill switch, the balance and the ledger's integrity are checked inside the
        transaction that writes the hold, the request and WITHDRAWAL_REQUESTED (which the
        detector sees: a large amount raises an alert), so concurrent requests are decided one
        after the other on the balance the previous one left. Raises :class:`WithdrawalRefused`
        (or the kill switch's ``Halted``) when it cannot go ahead, and a plain Refusal for a
        wrong code (the user may try another).
        """
        self._check_draft(draft.amount_micro, draft.address)
        await self._safety.ensure_allowed(Action.WITHDRAWALS)
        if not await self._twofactor.is_enabled(session.account_id):
            raise TwoFactorRequired()
        await self._twofactor.sessions.check_live(session)
        async with self._uow(read_only=True) as uow:
            await self._refuse_during_cooldown(uow, session.account_id)
        proof = await self._twofactor.proof_for_action(session, code, ACTION)
        account_id = session.account_id
        async with self._uow() as uow:
            await self._twofactor.sessions.require_live(uow, session, proof)
            await self._refuse_during_cooldown(uow, account_id)
            await self._safety.check(uow, Action.WITHDRAWALS)
            position = await self._position(uow, account_id)
            if not position.sound:
                await self._report_unsound(uow, account_id, position)
                await uow.commit()
                raise UnderReview()
            if draft.amount_micro > position.available_micro:
                raise self._insufficient(draft.amount_micro, position.available_micro)
            at = self._clock.now()
            withdrawal_id = await uow.withdrawals.add(
                account_id=account_id,
                telegram_user_id=session.telegram_user_id,
                amount_micro=draft.amount_micro,
                address=draft.address,
                requested_at=at,
            )
            hold = await self._ledger.append(
                uow,
                account_id=account_id,
                amount_micro=-draft.amount_micro,
                kind=WITHDRAWAL_HOLD,
                payment_id=None,
                at=at,
            )
            record = WithdrawalRecord(
                id=withdrawal_id,
                account_id=account_id,
                telegram_user_id=session.telegram_user_id,
                amount_micro=draft.amount_micro,
                address=draft.address,
                status=WithdrawalStatus.REQUESTED,
                requested_at=at,
                hold_entry_id=hold.id,
                decided_at=None,
                decided_by_account_id=None,
                tx_hash=None,
                reason="",
                signature=None,
            )
            signature = sign_record(self._crypto, WITHDRAWAL_SIGNATURE, record)
            await uow.withdrawals.attach_hold(withdrawal_id, hold.id, signature)
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.WITHDRAWAL_REQUESTED,
                    account_id=account_id,
                    telegram_user_id=session.telegram_user_id,
                    details={
                        "withdrawal_id": withdrawal_id,
                        "amount_micro": draft.amount_micro,
                        "address": mask_address(draft.address),
                    },
                ),
            )
            await uow.commit()
        return WithdrawalRecord(**{**record.__dict__, "signature": signature})

    # --- the admins ------------------------------------------------------------------------

    async def pending(self, actor: Actor) -> list[WithdrawalView]:
        """Requested withdrawals, oldest first, with the account's email (admins only)."""
        self._rights.require(actor, "withdrawals")
        async with self._uow(read_only=True) as uow:
            views = []
            for withdrawal in await uow.withdrawals.requested(PENDING_LIMIT):
                user = await uow.accounts.by_id(withdrawal.account_id)
                views.append(
                    WithdrawalView(
                        withdrawal, user.email if user else "?", self.is_authentic(withdrawal)
                    )
                )
        return views

    async def _require_admin(self, admin: Session) -> None:
        self._rights.require_session(admin, "withdrawal decision")
        if not await self._twofactor.is_enabled(admin.account_id):
            raise Refusal(AdminNeedsTwoFactor())

    async def _open_to_decide(
        self, uow: UnitOfWork, withdrawal_id: int, decision: Decision
    ) -> WithdrawalRecord:
        """The withdrawal if it is still requested and its row verifies; else a polite no."""
        withdrawal = await uow.withdrawals.get(withdrawal_id)
        if withdrawal is None:
            raise Refusal(WithdrawalNotFound(withdrawal_id))
        if withdrawal.status == WithdrawalStatus.COMPLETED:
            raise Refusal(
                WithdrawalAlreadyCompleted(withdrawal_id, withdrawal.tx_hash or "", decision)
            )
        if withdrawal.status == WithdrawalStatus.REJECTED:
            raise Refusal(WithdrawalAlreadyRejected(withdrawal_id, decision))
        return withdrawal

    async def _refuse_tampered(self, uow: UnitOfWork, withdrawal: WithdrawalRecord) -> NoReturn:
        await self._suspicion.report_tampered(
            uow, "withdrawal", withdrawal.id, withdrawal.account_id
        )
        await uow.commit()
        raise Refusal(WithdrawalTampered(withdrawal.id))

    async def complete(self, admin: Session, withdrawal_id: int, tx_hash: str) -> WithdrawalRecord:
        """An admin records the payout transaction: the hold becomes a final debit.

        Needs the admin's own session with 2FA on; audited as WITHDRAWAL_COMPLETED. Completing
        twice, completing a rejected withdrawal or reusing a transaction is refused politely.
        """
        await self._require_admin(admin)
        tx = normalise_tx_hash(tx_hash)
        async with self._uow() as uow:
            withdrawal = await self._open_to_decide(uow, withdrawal_id, Decision.COMPLETE)
            if not self.is_authentic(withdrawal):
                await self._refuse_tampered(uow, withdrawal)
            used = await uow.withdrawals.by_tx_hash(tx)
            if used is not None:
                raise Refusal(TxCompletedWithdrawal(used.id))
            at = self._clock.now()
            try:
                decided = await uow.withdrawals.decide(
                    withdrawal.id,
                    status=WithdrawalStatus.COMPLETED,
                    at=at,
                    by_account_id=admin.account_id,
                    tx_hash=tx,
                    reason="",
                )
            except DuplicateError:
                raise Refusal(TxCompletedAnother()) from None
            if not decided:
                raise Refusal(WithdrawalDecidedMeanwhile(withdrawal.id))
            for kind, amount in (
                (WITHDRAWAL_RELEASE, withdrawal.amount_micro),
                (WITHDRAWAL_DEBIT, -withdrawal.amount_micro),
            ):
                await self._ledger.append(
                    uow,
                    account_id=withdrawal.account_id,
                    amount_micro=amount,
                    kind=kind,
                    payment_id=None,
                    at=at,
                )
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.WITHDRAWAL_COMPLETED,
                    account_id=withdrawal.account_id,
                    telegram_user_id=admin.telegram_user_id,
                    details={
                        "withdrawal_id": withdrawal.id,
                        "amount_micro": withdrawal.amount_micro,
                        "address": mask_address(withdrawal.address),
                        "tx_hash": tx,
                        "admin_account_id": admin.account_id,
                    },
                ),
            )
            await uow.commit()
        return await self._reload(withdrawal.id)

    async def reject(self, admin: Session, withdrawal_id: int, reason: str) -> WithdrawalRecord:
        """An admin refuses a withdrawal: the held amount is available again, the user is
        shown ``reason``. Audited as ADMIN_ACTION (``action: reject_withdrawal``)."""
        await self._require_admin(admin)
        reason = clean_reason(reason)
        async with self._uow() as uow:
            withdrawal = await self._open_to_decide(uow, withdrawal_id, Decision.REJECT)
            if not self.is_authentic(withdrawal):
                await self._refuse_tampered(uow, withdrawal)
            at = self._clock.now()
            if not await uow.withdrawals.decide(
                withdrawal.id,
                status=WithdrawalStatus.REJECTED,
                at=at,
                by_account_id=admin.account_id,
                tx_hash=None,
                reason=reason,
            ):
                raise Refusal(WithdrawalDecidedMeanwhile(withdrawal.id))
            await self._ledger.append(
                uow,
                account_id=withdrawal.account_id,
                amount_micro=withdrawal.amount_micro,
                kind=WITHDRAWAL_RELEASE,
                payment_id=None,
                at=at,
            )
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.ADMIN_ACTION,
                    Severity.WARNING,
                    account_id=withdrawal.account_id,
                    telegram_user_id=admin.telegram_user_id,
                    details={
                        "action": "reject_withdrawal",
                        "outcome": "rejected",
                        "withdrawal_id": withdrawal.id,
                        "amount_micro": withdrawal.amount_micro,
                        "reason": reason,
                        "admin_account_id": admin.account_id,
                    },
                ),
            )
            await uow.commit()
        return await self._reload(withdrawal.id)

    async def _reload(self, withdrawal_id: int) -> WithdrawalRecord:
        async with self._uow(read_only=True) as uow:
            withdrawal = await uow.withdrawals.get(withdrawal_id)
        assert withdrawal is not None
        return withdrawal
