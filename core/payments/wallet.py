"""The wallet ledger: signed integer micro-USDT entries; a balance is their sum.

Every entry is written through :class:`WalletLedger`, which signs it (HMAC over its key fields,
``WALLET_ENTRY_SIGNATURE`` in core/signing.py, the list ``verzek rotate-key`` re-signs with; see
:meth:`core.crypto.EncryptionService.sign`). Whatever pays money out (withdrawals) must
count only entries for which :meth:`WalletLedger.is_authentic` holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from core.crypto import EncryptionService
from core.payments.ports import WalletEntryRecord
from core.ports import UnitOfWork
from core.signing import WALLET_ENTRY_SIGNATURE

REFERRAL_COMMISSION = "referral_commission"
REFERRAL_CLAWBACK = "referral_clawback"  # a refund takes back the commission it had credited
OVERPAYMENT_CREDIT = "overpayment_credit"  # what an invoice received beyond its amount
PAYMENT_CREDIT = "payment_credit"  # an admin credited a partial or review payment


def commission_micro(amount_micro: int, percent: Decimal) -> int:
    """``percent`` % of an amount, rounded down to whole micro-USDT (never a float)."""
    share = Decimal(amount_micro) * percent / Decimal(100)
    return int(share.to_integral_value(rounding=ROUND_DOWN))


@dataclass(frozen=True)
class Balance:
    """An account's balance from its authentic entries, and the entries that were not."""

    micro: int
    untrusted_entry_ids: tuple[int, ...]


class WalletLedger:
    """Writes and checks ledger entries."""

    def __init__(self, crypto: EncryptionService) -> None:
        self._crypto = crypto

    def _fields(self, entry: WalletEntryRecord) -> tuple[str | int, ...]:
        return WALLET_ENTRY_SIGNATURE.message(entry)

    def is_authentic(self, entry: WalletEntryRecord) -> bool:
        """True when the entry carries a valid signature over its key fields."""
        return entry.signature is not None and self._crypto.verify_signature(
            entry.signature, *self._fields(entry)
        )

    async def append(
        self,
        uow: UnitOfWork,
        *,
        account_id: int,
        amount_micro: int,
        kind: str,
        payment_id: int | None,
        at: datetime,
        stars_payment_id: int | None = None,
    ) -> WalletEntryRecord:
        """Append a signed entry inside ``uow``; raises ``DuplicateError`` when ``payment_id``
        (or ``stars_payment_id``, a Telegram Stars payment) already caused an entry of this
        kind."""
        entry_id = await uow.wallet.add(
            account_id=account_id,
            amount_micro=amount_micro,
            kind=kind,
            payment_id=payment_id,
            created_at=at,
            stars_payment_id=stars_payment_id,
        )
        entry = WalletEntryRecord(
            entry_id, account_id, amount_micro, kind, payment_id, at, None, stars_payment_id
        )
        signature = self._crypto.sign(*self._fields(entry))
        await uow.wallet.sign(entry_id, signature)
        return WalletEntryRecord(**{**entry.__dict__, "signature": signature})

    async def balance(self, uow: UnitOfWork, account_id: int, *, limit: int = 100_000) -> Balance:
        """The sum of the account's authentic entries (read inside ``uow``)."""
        total = 0
        untrusted = []
        for entry in await uow.wallet.entries(account_id, limit):
            if self.is_authentic(entry):
                total += entry.amount_micro
            else:
                untrusted.append(entry.id)
        return Balance(total, tuple(untrusted))
