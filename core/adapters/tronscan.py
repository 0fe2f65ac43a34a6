"""TronScan as a :class:`~core.payments.chain.ChainSource`: ``GET /api/transaction-info?hash=``
and ``GET /api/transfer/trc20`` (the transfers an address received).

The ``httpx.AsyncClient`` is injected (tests pass ``httpx.MockTransport``). Every request has a
timeout. Timeouts, transport errors, 403 (TronScan's "request too quickly"), 429, 5xx and
answers that are not the JSON object we asked for are retried with backoff; when every attempt
fails, :class:`~core.errors.ChainUnavailableError` says so, and the payment simply stays
pending. ``{}`` is TronScan's answer for a hash it does not know (yet): that is not an error.
JSON in a shape we do not know (see :func:`parse_transaction_info`) is retried too; if the
last attempt still gives one, :class:`~core.payments.chain.UnexpectedAnswerError` (a kind of
``ChainUnavailableError``) says so: the payment stays pending and the admins are told.

The API key travels only in the ``TRON-PRO-API-KEY`` header. Logs and errors name the kind of
failure and the attempt, never the URL's secrets or a header.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from core.config import TronscanSettings
from core.digits import parse_int, parse_seconds
from core.errors import ChainUnavailableError
from core.payments.chain import (
    ChainTransaction,
    IncomingTransfer,
    TokenTransfer,
    UnexpectedAnswerError,
)
from core.payments.tron import normalise_tron_address

logger = logging.getLogger(__name__)

API_KEY_HEADER = "TRON-PRO-API-KEY"
TRANSACTION_INFO = "/api/transaction-info"
TRC20_TRANSFERS = "/api/transfer/trc20"
DEFAULT_TIMEOUT = 5.0  # seconds, per attempt
DEFAULT_BACKOFF = (0.5, 1.0, 2.0)  # seconds before the 2nd, 3rd and 4th attempt
MAX_RETRY_AFTER = 10.0  # a server's Retry-After is honoured up to this many seconds
_RETRY_STATUSES = frozenset({403, 429, 500, 502, 503, 504})
_TX_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
_T = TypeVar("_T")


class _BadAnswer(Exception):
    """A body that is not JSON (a proxy's error page): retried like a server error."""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _unexpected(what: str) -> UnexpectedAnswerError:
    return UnexpectedAnswerError(f"unexpected answer: {what}")


def _flag(data: dict[str, Any], key: str) -> bool | None:
    """A boolean field: None when absent; any other type is an unexpected answer."""
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, bool):
        raise _unexpected(f"{key} is not true/false")
    return value


def _address(item: dict[str, Any], key: str) -> str:
    """A TRC20 transfer's address in base58check (hex ``41…`` normalised)."""
    value = item.get(key)
    address = normalise_tron_address(value) if isinstance(value, str) else None
    if address is None:
        raise _unexpected(f"{key} is not a TRON address")
    return address


def _transfer(item: Any) -> TokenTransfer:
    if not isinstance(item, dict):
        raise _unexpected("a trc20TransferInfo entry is not an object")
    amount_text = item.get("amount_str")
    if not isinstance(amount_text, str):
        raise _unexpected("amount_str is not a string")
    status = item.get("status")
    if status is not None and _int(status) is None:
        raise _unexpected("a transfer's status is not a number")
    return TokenTransfer(
        contract_address=_address(item, "contract_address"),
        to_address=_address(item, "to_address"),
        amount=parse_int(amount_text, max_digits=40),  # None: a string, but not a whole number
        status=status,
    )


def parse_transaction_info(data: Any, tx_hash: str) -> ChainTransaction | None:
    """Turn TronScan's transaction-info JSON into a :class:`ChainTransaction`, strictly.

    ``{}`` means "unknown hash" (None). The payee and the amount come from
    ``trc20TransferInfo`` only: the top-level ``toAddress`` of a TRC20 transfer is the token
    contract, not the payee. Addresses given in hex (``41…``) are normalised to base58check.
    Anything not in the recorded shape (not an object, no or another hash, no ``contractRet``,
    a flag, status or amount of the wrong type, ``trc20TransferInfo`` not a list, an address
    that is neither form) raises :class:`UnexpectedAnswerError`: it is never judged.
    """
    if not isinstance(data, dict):
        raise _unexpected("not a JSON object")
    if not data:
        return None
    found = data.get("hash")
    if not isinstance(found, str) or not _TX_HASH.match(found):
        raise _unexpected("no transaction hash")
    if found.lower() != tx_hash.lower():
        raise _unexpected("the answer is about another transaction")
    timestamp_ms = _int(data.get("timestamp"))
    if timestamp_ms is None:
        raise _unexpected("no timestamp")
    result = data.get("contractRet")
    if not isinstance(result, str):
        raise _unexpected("no contractRet")
    confirmations = _int(data.get("confirmations"))
    if confirmations is None:
        raise _unexpected("no confirmations count")
    raw_transfers = data.get("trc20TransferInfo", [])
    if not isinstance(raw_transfers, list):
        raise _unexpected("trc20TransferInfo is not a list")
    return ChainTransaction(
        hash=found.lower(),
        result=result,
        confirmations=confirmations,
        timestamp_ms=timestamp_ms,
        transfers=tuple(_transfer(item) for item in raw_transfers),
        confirmed=_flag(data, "confirmed"),
        reverted=_flag(data, "revert") is True,
    )


def _zero_one(row: dict[str, Any], key: str) -> bool | None:
    """A 0/1 flag of a transfer row (TronScan gives an int here; a bool is taken too)."""
    if key not in row:
        return None
    value = row[key]
    if isinstance(value, bool):
        return value
    if value in (0, 1) and isinstance(value, int):
        return value == 1
    raise _unexpected(f"{key} is not 0/1")


def _transfer_row(row: Any) -> IncomingTransfer:
    if not isinstance(row, dict):
        raise _unexpected("a transfer row is not an object")
    found = row.get("hash")
    if not isinstance(found, str) or not _TX_HASH.match(found):
        raise _unexpected("a transfer row has no transaction hash")
    amount_text = row.get("amount")
    if not isinstance(amount_text, str):
        raise _unexpected("a transfer's amount is not a string")
    block_ms = _int(row.get("block_timestamp"))
    if block_ms is None:
        raise _unexpected("a transfer row has no block_timestamp")
    result = row.get("contract_ret")
    if not isinstance(result, str):
        raise _unexpected("a transfer row has no contract_ret")
    token = row.get("tokenInfo")
    if not isinstance(token, dict):
        raise _unexpected("a transfer row has no tokenInfo")
    return IncomingTransfer(
        hash=found.lower(),
        to_address=_address(row, "to"),
        contract_address=_address(token, "tokenId"),
        amount=parse_int(amount_text, max_digits=40),
        block_ms=block_ms,
        result=result,
        confirmed=_zero_one(row, "confirmed"),
        reverted=_zero_one(row, "revert") is True,
    )


def parse_transfer_page(data: Any) -> tuple[IncomingTransfer, ...]:
    """Turn one page of TronScan's ``/api/transfer/trc20`` JSON into transfers, strictly.

    The wrapper must be an object whose ``data`` is a list; each row needs its ``hash``,
    ``amount`` (a string of base units), ``block_timestamp``, ``to``, ``contract_ret`` and
    ``tokenInfo.tokenId`` (the token contract, the only thing that says which token it is);
    ``confirmed`` and ``revert`` are 0/1 where present. Anything else raises
    :class:`UnexpectedAnswerError`: a page is read whole or not at all.
    """
    if not isinstance(data, dict):
        raise _unexpected("not a JSON object")
    code = data.get("code")
    if code is not None and code != 200:
        raise _unexpected("the page's code is not 200")
    rows = data.get("data")
    if not isinstance(rows, list):
        raise _unexpected("data is not a list")
    return tuple(_transfer_row(row) for row in rows)


class TronscanClient:
    """Looks transactions up on TronScan, retrying what is worth retrying."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: TronscanSettings,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
    ) -> None:
        self._http = http
        self._url = settings.base_url.rstrip("/") + TRANSACTION_INFO
        self._transfers_url = settings.base_url.rstrip("/") + TRC20_TRANSFERS
        self._api_key = settings.api_key
        self._timeout = httpx.Timeout(timeout)
        self._backoff = tuple(backoff)

    def __repr__(self) -> str:
        return f"TronscanClient(url={self._url!r}, api_key={'set' if self._api_key else 'none'})"

    @property
    def attempts(self) -> int:
        """How many requests one lookup may make."""
        return len(self._backoff) + 1

    async def transaction(self, tx_hash: str) -> ChainTransaction | None:
        """The transaction (None for an unknown hash); raises ``ChainUnavailableError``."""
        return await self._fetch(
            self._url,
            {"hash": tx_hash},
            lambda data: parse_transaction_info(data, tx_hash),
            not_found=lambda: None,
        )

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
        """One page of ``GET /api/transfer/trc20`` (incoming, newest first); raises
        ``ChainUnavailableError`` (an odd page: ``UnexpectedAnswerError``)."""
        params = {
            "address": address,
            "trc20Id": contract,
            "direction": "2",  # incoming
            "start": str(offset),
            "limit": str(limit),
            "sort": "-timestamp",
            "db_version": "1",
            "start_timestamp": str(start_ms),
            "end_timestamp": str(end_ms),
        }
        return await self._fetch(self._transfers_url, params, parse_transfer_page)

    async def _fetch(
        self,
        url: str,
        params: dict[str, str],
        parse: Callable[[Any], _T],
        *,
        not_found: Callable[[], _T] | None = None,
    ) -> _T:
        """GET ``url`` and parse its JSON, retrying what is worth retrying. A 404 answers
        ``not_found()`` when given (an unknown hash), else it is a failure."""
        headers = {"Accept": "application/json"}
        if self._api_key is not None:
            headers[API_KEY_HEADER] = self._api_key.get()
        reason = ""
        unexpected: UnexpectedAnswerError | None = None
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            unexpected = None
            try:
                response = await self._http.get(
                    url, params=params, headers=headers, timeout=self._timeout
                )
                if response.status_code == 404 and not_found is not None:
                    return not_found()
                if response.status_code != 200:
                    reason = f"HTTP {response.status_code}"
                    if response.status_code not in _RETRY_STATUSES:
                        break  # 400/401: asking again will not help
                    retry_after = _retry_after(response.headers)
                else:
                    try:
                        data = response.json()
                    except ValueError:
                        raise _BadAnswer("not JSON") from None
                    return parse(data)
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError as exc:
                reason = f"connection failed ({type(exc).__name__})"
            except _BadAnswer as exc:
                reason = f"unusable answer ({exc})"
            except UnexpectedAnswerError as exc:
                unexpected, reason = exc, str(exc)
            logger.warning(
                "TronScan lookup attempt %d/%d failed: %s", attempt, self.attempts, reason
            )
            if attempt < self.attempts:
                delay = self._backoff[attempt - 1]
                if retry_after is not None:
                    delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
                await asyncio.sleep(delay)
        if unexpected is not None:
            raise unexpected  # the last answer was odd, not missing: the payment says so
        raise ChainUnavailableError(f"TronScan did not give a usable answer: {reason}")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "")
    seconds = parse_seconds(value)
    return float(seconds) if seconds is not None else None
