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


@dataclass(frozen=True)
class IncomingTransfer:
    """One row of a list of TRC20 transfers to an address: a hint, never proof. A watcher
    matches it to an invoice and confirms it with :meth:`TransactionSource.transaction`."""

    hash: str
    to_address: str
    contract_address: str  # the token contract; the symbol a token gives itself is not kept
    amount: int | None  # base units; None when the source gave something that is not a number
    block_ms: int  # the block's time, milliseconds since the epoch
    result: str  # the contract result, "SUCCESS" for a transfer that went through
    confirmed: bool | None = None
    reverted: bool = False


class ChainSource(TransactionSource, Protocol):
    """A :class:`TransactionSource` that can also list the transfers an address received."""

    async def incoming_transfers(
        self,
        address: str,
        contract: str,
        *,
        start_ms: int,
        end_ms: int,
        offset: int,
        limit: int,
    ) -> tuple[IncomingTransfer, ...]:
        """One page of ``contract`` transfers to ``address`` with a block time in
        [``start_ms``, ``end_ms``], newest first, skipping ``offset`` rows.

        Raises :class:`core.errors.ChainUnavailableError` (or its kind
        :class:`UnexpectedAnswerError`) when no trustworthy page could be had after retrying.
        """
        ...
