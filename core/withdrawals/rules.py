"""The pure rules of a withdrawal (amount, address, reason, statuses, refusals) and the value
types the service shows (wallet summaries, drafts, views); no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import InvalidOperation

from core.authz import NoteNotPlain, NoteTooLong
from core.digits import parse_decimal
from core.errors import Refusal
from core.money import MICRO, to_micro
from core.payments.tron import is_valid_tron_address
from core.withdrawals.ports import WithdrawalRecord
from core.withdrawals.refusals import (
    AddressInvalid,
    AmountBelowMinimum,
    AmountNotNumber,
    AmountTooPrecise,
    WalletUnderReview,
    WithdrawalRejectionReasonMissing,
    WithdrawalsNeedTwoFactor,
)

MIN_WITHDRAWAL_MICRO = 1 * MICRO  # the smallest payout worth a TRON transfer fee
AMOUNT_MAX_DIGITS = 12  # whole USDT digits accepted (far above any balance, far below int64)
LEDGER_LIMIT = 100_000  # entries read per account (WalletLedger.balance's own default)
RECENT_LIMIT = 5  # withdrawals shown in /wallet
PENDING_LIMIT = 50  # withdrawals listed for the admins
REASON_MAX = 200
ACTION = "withdraw"  # the purpose recorded with the 2FA code (MFA_VERIFIED / MFA_FAILED)

WITHDRAWAL_HOLD = "withdrawal_hold"
WITHDRAWAL_RELEASE = "withdrawal_release"
WITHDRAWAL_DEBIT = "withdrawal_debit"

# Suspicious-activity rule: the ledger and the withdrawals table disagree.
RULE_LEDGER_MISMATCH = "wallet_ledger_mismatch"

_SPACES = re.compile(r"\s+")


class WithdrawalRefused(Refusal):
    """A withdrawal request that cannot go ahead as asked (retrying the same step won't help)."""


class TwoFactorRequired(WithdrawalRefused):
    """Withdrawals need 2FA on the account."""

    def __init__(self) -> None:
        super().__init__(WithdrawalsNeedTwoFactor())


class UnderReview(WithdrawalRefused):
    """The account's ledger failed an integrity check: no payouts until an admin looked."""

    def __init__(self) -> None:
        super().__init__(WalletUnderReview())


def mask_address(address: str) -> str:
    """``TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE`` → ``TQn9…bLSE``: readable in audit and lists."""
    return f"{address[:4]}…{address[-4:]}" if len(address) > 8 else address


def parse_amount(text: str) -> int:
    """A typed USDT amount (``12``, ``12.5``, ``12,50``) → integer micro-USDT, or a Refusal.

    Decimal arithmetic only; more than 6 decimals, zero, negatives, exponents and anything
    below :data:`MIN_WITHDRAWAL_MICRO` are refused with a reason.
    """
    typed = parse_decimal(text, max_whole_digits=AMOUNT_MAX_DIGITS)
    if typed is None:
        raise Refusal(AmountNotNumber())
    try:
        micro = to_micro(typed)
    except (InvalidOperation, ValueError):
        raise Refusal(AmountTooPrecise()) from None
    if micro < MIN_WITHDRAWAL_MICRO:
        raise Refusal(AmountBelowMinimum(MIN_WITHDRAWAL_MICRO))
    return micro


def parse_address(text: str) -> str:
    """A TRON (TRC20) address, checked with its base58check checksum, or a Refusal."""
    address = text.strip()
    if not is_valid_tron_address(address):
        raise Refusal(AddressInvalid())
    return address


def clean_reason(text: str) -> str:
    """A one-line reason shown to the user: whitespace folded, 1–200 ordinary characters."""
    reason = _SPACES.sub(" ", text).strip()
    if not reason:
        raise Refusal(WithdrawalRejectionReasonMissing())
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in reason):
        raise Refusal(NoteNotPlain())
    if len(reason) > REASON_MAX:
        raise Refusal(NoteTooLong(REASON_MAX))
    return reason


@dataclass(frozen=True)
class WalletPosition:
    """An account's money from its authentic ledger entries, checked against its withdrawals.

    ``sound`` is False when an entry fails its signature or the ledger disagrees with the
    withdrawals table; then nothing may be paid out.
    """

    available_micro: int
    held_micro: int
    withdrawn_micro: int
    referral_micro: int
    untrusted_entry_ids: tuple[int, ...]
    consistent: bool

    @property
    def sound(self) -> bool:
        """True when every entry verifies and the ledger matches the withdrawals."""
        return not self.untrusted_entry_ids and self.consistent


@dataclass(frozen=True)
class WalletSummary:
    """What /wallet shows."""

    position: WalletPosition
    recent: list[WithdrawalRecord]


@dataclass(frozen=True)
class ReferralSummary:
    """What /referral shows."""

    code: str
    referred: int
    earnings_micro: int


@dataclass(frozen=True)
class WithdrawalDraft:
    """A checked request, waiting for the user's 2FA code."""

    amount_micro: int
    address: str


@dataclass(frozen=True)
class WithdrawalView:
    """A withdrawal as the admins see it; ``authentic`` is False for a tampered row."""

    withdrawal: WithdrawalRecord
    email: str
    authentic: bool
