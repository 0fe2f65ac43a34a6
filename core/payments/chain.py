"""What payment verification needs to know about a TRON transaction, whoever tells it.

:class:`TransactionSource` is the port: TronScan answers it today (:mod:`core.tronscan`), and
a TronGrid client can be added later without touching the verification rules. A source turns
its API's JSON into a :class:`ChainTransaction` and does nothing else: every judgement (is it
successful, ours, enough, final) is made by :func:`core.payments.rules.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TokenTransfer:
    """One TRC20 transfer inside a transaction, in the token's integer base units."""

    contract_address: str
    to_address: str
    amount: int | None  # None when the source gave something that is not a whole number


@dataclass(frozen=True)
class ChainTransaction:
    """A transaction as found on chain."""

    hash: str
    result: str  # the contract result, "SUCCESS" for a transfer that went through
    confirmations: int
    timestamp_ms: int  # when the block was produced, milliseconds since the epoch
    transfers: tuple[TokenTransfer, ...]


class TransactionSource(Protocol):
    """Looks transactions up on chain."""

    async def transaction(self, tx_hash: str) -> ChainTransaction | None:
        """The transaction, or None when the chain (or its index) does not know it yet.

        Raises :class:`core.errors.ChainUnavailableError` when no trustworthy answer could be
        had (timeouts, throttling, server errors, malformed answers) after retrying.
        """
        ...
