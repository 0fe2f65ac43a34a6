"""What payment verification needs to know about a TRON transaction, whoever tells it.

:class:`TransactionSource` is the port: TronScan answers it today (:mod:`core.tronscan`), and
a TronGrid client can be added later without touching the verification rules. A source turns
its API's JSON into a :class:`ChainTransaction` and does nothing else: every judgement (is it
successful, ours, enough, final) is made by :func:`core.payments.rules.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.errors import ChainUnavailableError


@dataclass(frozen=True)
class TokenTransfer:
    """One TRC20 transfer inside a transaction, in the token's integer base units."""

    contract_address: str
    to_address: str
    amount: int | None  # None when the source gave something that is not a whole number
    status: int | None = None  # the transfer's own result where the source gives one: 0 is ok


@dataclass(frozen=True)
class ChainTransaction:
    """A transaction as found on chain."""

    hash: str
    result: str  # the contract result, "SUCCESS" for a transfer that went through
    confirmations: int
    timestamp_ms: int  # when the block was produced, milliseconds since the epoch
    transfers: tuple[TokenTransfer, ...]
    confirmed: bool | None = None  # the source's own "final" flag, where it gives one
    reverted: bool = False  # the source says the transaction was reverted


class UnexpectedAnswerError(ChainUnavailableError):
    """The source answered, but not in a shape we know (a missing field, a wrong type).

    Never a verdict: the payment stays pending and the admins are told once, since the source
    may have changed its format or be lying. Still a :class:`ChainUnavailableError`, so a
    caller that only knows that one keeps the payment pending too.
    """


class TransactionSource(Protocol):
    """Looks transactions up on chain."""

    async def transaction(self, tx_hash: str) -> ChainTransaction | None:
        """The transaction, or None when the chain (or its index) does not know it yet.

        Raises :class:`core.errors.ChainUnavailableError` when no trustworthy answer could be
        had (timeouts, throttling, server errors, malformed answers) after retrying.
        """
        ...
