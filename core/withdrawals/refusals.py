"""Why withdrawal operations refuse: one Reason per case (words: bot/texts/en/wallet.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import Reason


class Decision(StrEnum):
    """What an admin tried to do with a withdrawal."""

    COMPLETE = "complete"
    REJECT = "reject"


@dataclass(frozen=True)
class AmountNotNumber(Reason):
    """The amount typed is not a number."""


@dataclass(frozen=True)
class AmountTooPrecise(Reason):
    """More than USDT's 6 decimals."""


@dataclass(frozen=True)
class AmountBelowMinimum(Reason):
    """Less than ``minimum_micro`` (``explain``: say why there is a minimum)."""

    minimum_micro: int
    explain: bool = True


@dataclass(frozen=True)
class AddressInvalid(Reason):
    """Not a TRON address with a valid checksum (``explain``: say what one looks like)."""

    explain: bool = True


@dataclass(frozen=True)
class OwnPaymentAddress(Reason):
    """The address is Verzek's own receive address."""


@dataclass(frozen=True)
class InsufficientBalance(Reason):
    """``amount_micro`` asked, only ``available_micro`` available."""

    amount_micro: int
    available_micro: int


@dataclass(frozen=True)
class WithdrawalsNeedTwoFactor(Reason):
    """The account has no 2FA, and withdrawals need it."""


@dataclass(frozen=True)
class WalletUnderReview(Reason):
    """The account's ledger failed an integrity check: no payouts until an admin looked."""


@dataclass(frozen=True)
class WithdrawalRejectionReasonMissing(Reason):
    """An admin rejected a withdrawal without saying why."""


@dataclass(frozen=True)
class WithdrawalNotFound(Reason):
    """No withdrawal ``withdrawal_id``."""

    withdrawal_id: int


@dataclass(frozen=True)
class WithdrawalAlreadyCompleted(Reason):
    """Withdrawal ``withdrawal_id`` was paid with ``tx_hash``; nothing left to ``decision``."""

    withdrawal_id: int
    tx_hash: str
    decision: Decision


@dataclass(frozen=True)
class WithdrawalAlreadyRejected(Reason):
    """Withdrawal ``withdrawal_id`` was rejected and released; nothing left to ``decision``."""

    withdrawal_id: int
    decision: Decision


@dataclass(frozen=True)
class WithdrawalTampered(Reason):
    """Withdrawal ``withdrawal_id`` fails its integrity check (reported)."""

    withdrawal_id: int


@dataclass(frozen=True)
class TxCompletedWithdrawal(Reason):
    """The payout hash already completed withdrawal ``withdrawal_id``."""

    withdrawal_id: int


@dataclass(frozen=True)
class TxCompletedAnother(Reason):
    """The payout hash already completed another withdrawal (found on write)."""


@dataclass(frozen=True)
class WithdrawalDecidedMeanwhile(Reason):
    """Withdrawal ``withdrawal_id`` was decided by someone else meanwhile."""

    withdrawal_id: int
