"""TronScan as a :class:`~core.chain.TransactionSource`: ``GET /api/transaction-info?hash=``.

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
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from core.config import TronscanSettings
from core.digits import parse_int, parse_seconds
from core.errors import ChainUnavailableError
from core.payments.chain import ChainTransaction, TokenTransfer, UnexpectedAnswerError
from core.payments.tron import normalise_tron_address

logger = logging.getLogger(__name__)

API_KEY_HEADER = "TRON-PRO-API-KEY"
TRANSACTION_INFO = "/api/transaction-info"
DEFAULT_TIMEOUT = 5.0  # seconds, per attempt
DEFAULT_BACKOFF = (0.5, 1.0, 2.0)  # seconds before the 2nd, 3rd and 4th attempt
MAX_RETRY_AFTER = 10.0  # a server's Retry-After is honoured up to this many seconds
_RETRY_STATUSES = frozenset({403, 429, 500, 502, 503, 504})
_TX_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


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
                    self._url, params={"hash": tx_hash}, headers=headers, timeout=self._timeout
                )
                if response.status_code == 404:
                    return None
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
                    return parse_transaction_info(data, tx_hash)
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
