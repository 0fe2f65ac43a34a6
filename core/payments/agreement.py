"""A second opinion on every transaction (``payments.second_source``, issue 17): two chain
sources must agree before a payment is approved automatically.

:class:`AgreeingSource` is a :class:`~core.payments.chain.ChainSource` that asks the first
source (TronScan) and, for a transaction it found, the second (TronGrid's solidified state):

- the second does not know it yet (not solidified there): the transaction is handed on as
  not final (``confirmed`` false), so the payment waits;
- they tell the same story (:func:`disagreement` is None): the first source's answer;
- they differ: :class:`SourcesDisagreeError`, a kind of
  :class:`~core.payments.chain.UnexpectedAnswerError`: no rule judges it, an admin does (the
  checker holds the payment for ``review`` with one ``payment_needs_review`` alert; the
  watcher submits a matched transfer so it goes the same way);
- the second cannot be reached: :class:`~core.errors.ChainUnavailableError`, pending.

Listing incoming transfers stays the first source's job: a listed row is only a hint, and
each match is confirmed through :meth:`AgreeingSource.transaction` like any /pay.
"""

from __future__ import annotations

from dataclasses import replace

from core.payments.chain import (
    ChainSource,
    ChainTransaction,
    IncomingTransfer,
    TransactionSource,
    UnexpectedAnswerError,
)


class SourcesDisagreeError(UnexpectedAnswerError):
    """The two sources tell different stories about one transaction."""


def _succeeded(tx: ChainTransaction) -> bool:
    return tx.result == "SUCCESS" and not tx.reverted


def _transfers(tx: ChainTransaction) -> list[tuple[str, str, int | None]]:
    return sorted(
        (
            (t.contract_address, t.to_address, t.amount)
            for t in tx.transfers
            if t.status in (None, 0)
        ),
        key=str,
    )


def disagreement(first: ChainTransaction, second: ChainTransaction) -> str | None:
    """What the two sources disagree on (success, block time or the token transfers), or
    None when they agree (pure)."""
    if first.hash != second.hash:
        return "hash"
    if _succeeded(first) != _succeeded(second):
        return "result"
    if first.timestamp_ms != second.timestamp_ms:
        return "block time"
    if _transfers(first) != _transfers(second):
        return "transfers"
    return None


class AgreeingSource:
    """The first source's answers, each borne out by the second."""

    def __init__(self, first: ChainSource, second: TransactionSource) -> None:
        self._first = first
        self._second = second

    async def transaction(self, tx_hash: str) -> ChainTransaction | None:
        """The transaction as both sources tell it; see the module's docstring."""
        tx = await self._first.transaction(tx_hash)
        if tx is None:
            return None
        other = await self._second.transaction(tx_hash)
        if other is None:
            return replace(tx, confirmed=False)  # not final for the second source yet
        differs = disagreement(tx, other)
        if differs is not None:
            raise SourcesDisagreeError(f"the second source disagrees on the {differs}")
        return tx

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
        """The first source's list (hints, each confirmed through :meth:`transaction`)."""
        return await self._first.incoming_transfers(
            address, contract, start_ms=start_ms, end_ms=end_ms, offset=offset, limit=limit
        )
