"""Taking back the referral commission a refunded Telegram Stars payment credited (SPEC §12).

A Stars payment credits its payer's referrer a commission in USDT terms (core/payments/stars.py);
the entry names the payment in ``wallet_entries.stars_payment_id``. When an admin refunds the
payment, :func:`claw_back_commission` appends a signed reversing entry (kind
``referral_clawback``, the commission's amount negated) linked to the same Stars payment, once
(the storage's unique index on kind and Stars payment).

Decision: the reversal is always written, even when the referrer already withdrew the
commission. Their balance may then go negative: that is the amount owed, visible in the ledger
and audited, and it blocks withdrawals until new credit covers it (a withdrawal needs a balance
at least its amount). Nothing is forgiven silently and no payout is reversed by hand.

The link is not under the entry's signature (wallet_entry/v1 predates it), so the commission
is trusted only when its own signature verifies and its signed fields agree with the signed
payment: the referrer's account and the payment's approval time. Otherwise nothing is taken
back and the caller reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.payments.stars_rules import StarsPaymentRecord
from core.payments.wallet import REFERRAL_CLAWBACK, REFERRAL_COMMISSION, WalletLedger
from core.ports import UnitOfWork


@dataclass(frozen=True)
class Clawback:
    """What a refund took back: the amount (micro-USDT, positive) from the referrer's account;
    ``untrusted``: a linked commission that failed its checks, so nothing was taken."""

    amount_micro: int = 0
    referrer_account_id: int | None = None
    untrusted: bool = False


async def claw_back_commission(
    uow: UnitOfWork, ledger: WalletLedger, payment: StarsPaymentRecord, at: datetime
) -> Clawback:
    """Reverse the commission ``payment`` credited, inside ``uow`` (nothing when it credited
    none). Raises ``DuplicateError`` if it was reversed already."""
    entry = await uow.wallet.of_stars_payment(REFERRAL_COMMISSION, payment.id)
    if entry is None:
        return Clawback()
    payer = await uow.accounts.by_id(payment.account_id)
    if (
        not ledger.is_authentic(entry)
        or payer is None
        or payer.referred_by != entry.account_id
        or entry.created_at != payment.approved_at
        or entry.amount_micro <= 0
    ):
        return Clawback(untrusted=True)
    await ledger.append(
        uow,
        account_id=entry.account_id,
        amount_micro=-entry.amount_micro,
        kind=REFERRAL_CLAWBACK,
        payment_id=None,
        at=at,
        stars_payment_id=payment.id,
    )
    return Clawback(entry.amount_micro, entry.account_id)
