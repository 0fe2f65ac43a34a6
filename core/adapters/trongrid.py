"""TronGrid as a second :class:`~core.payments.chain.TransactionSource`, through ``tronpy``.

Asked only when built as the second source (``payments.second_source = "trongrid"``, or
``bootstrap(second_chain=...)``): the solidified transaction info
(``walletsolidity/gettransactioninfobyid``, :meth:`tronpy.AsyncTron.get_solid_transaction_info`),
so a transaction it knows is final. Its TRC20 transfers are read from the receipt's event
log (``Transfer(address,address,uint256)``: the log's address is the token contract, the
third topic the payee, ``data`` the amount), its addresses turned into base58check by tronpy's
own helper. The ``httpx.AsyncClient`` is injected (tests pass ``httpx.MockTransport``);
timeouts, transport errors and 403/429/5xx are retried with backoff and then raise
:class:`~core.errors.ChainUnavailableError`; a receipt off the known shape raises
:class:`~core.payments.chain.UnexpectedAnswerError`. The API key travels only in the header
tronpy sends (``TRON-PRO-API-KEY``). Without a key of ours no key header is sent at all: tronpy
would otherwise pick one of the shared public keys it ships with (a quota shared with every
tronpy user, and a request we did not choose to make in someone else's name), and on a "daily
usage exceeded" 403 it would drop our key from its list for good; here that answer is a failed
attempt like any other (retried, then pending).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from tronpy import AsyncTron
from tronpy.exceptions import ApiError, BadAddress, TransactionNotFound
from tronpy.keys import to_base58check_address
from tronpy.providers import AsyncHTTPProvider

from core.config_values import Secret
from core.errors import ChainUnavailableError
from core.payments.chain import ChainTransaction, TokenTransfer, UnexpectedAnswerError

logger = logging.getLogger(__name__)

TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
SOLID = 19  # a solidified block: at least this many producers built on it
DEFAULT_TIMEOUT = 5.0
DEFAULT_BACKOFF = (0.5, 1.0, 2.0)
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_RETRY_STATUSES = frozenset({403, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class TrongridSettings:
    """Where TronGrid answers, and our API key for it."""

    base_url: str = "https://api.trongrid.io"
    api_key: Secret | None = None


def _unexpected(what: str) -> UnexpectedAnswerError:
    return UnexpectedAnswerError(f"unexpected TronGrid answer: {what}")


def _hex(value: Any, length: int | None, what: str) -> str:
    if not isinstance(value, str) or not _HEX.match(value):
        raise _unexpected(f"{what} is not hex")
    if length is not None and len(value) != length:
        raise _unexpected(f"{what} is not {length} hex digits")
    return value.lower()


def _address(body_hex: str, what: str) -> str:
    """The base58check form of a 20-byte address body (TRON's 0x41 prefixed)."""
    try:
        return str(to_base58check_address("41" + body_hex[-40:]))
    except (BadAddress, ValueError):
        raise _unexpected(f"{what} is not an address") from None


def _log_transfer(entry: Any) -> TokenTransfer | None:
    """A TRC20 ``Transfer`` event as a transfer; None for another event."""
    if not isinstance(entry, dict):
        raise _unexpected("a log entry is not an object")
    topics = entry.get("topics")
    if not isinstance(topics, list) or not topics:
        raise _unexpected("a log entry has no topics")
    if _hex(topics[0], 64, "a topic") != TRANSFER_TOPIC:
        return None
    if len(topics) != 3:
        raise _unexpected("a Transfer event without its two address topics")
    data = _hex(entry.get("data"), 64, "a Transfer's data")
    return TokenTransfer(
        contract_address=_address(_hex(entry.get("address"), 40, "a log address"), "contract"),
        to_address=_address(_hex(topics[2], 64, "a topic"), "payee"),
        amount=int(data, 16),
    )


def parse_solid_info(data: Any, tx_hash: str) -> ChainTransaction | None:
    """TronGrid's solidified transaction info as a :class:`ChainTransaction` (None: the
    transaction is not in a solidified block yet, or unknown). Strict, like TronScan's."""
    if not isinstance(data, dict):
        raise _unexpected("not a JSON object")
    if not data:
        return None
    found = data.get("id")
    if not isinstance(found, str) or found.lower() != tx_hash.lower():
        raise _unexpected("the answer is about another transaction")
    timestamp = data.get("blockTimeStamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise _unexpected("no blockTimeStamp")
    receipt = data.get("receipt")
    result = receipt.get("result") if isinstance(receipt, dict) else None
    if not isinstance(result, str):
        raise _unexpected("no receipt result")
    logs = data.get("log", [])
    if not isinstance(logs, list):
        raise _unexpected("log is not a list")
    transfers = tuple(t for t in (_log_transfer(entry) for entry in logs) if t is not None)
    return ChainTransaction(
        hash=found.lower(),
        result=result,
        confirmations=SOLID,
        timestamp_ms=timestamp,
        transfers=transfers,
        confirmed=True,
        reverted=data.get("result") == "FAILED" and result == "SUCCESS",
    )


async def _exceeded(used_key: str) -> None:
    raise ApiError("TronGrid's daily usage of our key is exceeded")


def _provider(endpoint: str, http: httpx.AsyncClient, api_key: str | None) -> Any:
    """tronpy's provider sending our key or none, never its built-in shared keys: tronpy turns
    keys on for any host named "trongrid" and, given none, picks one of its own; and on a
    "daily usage exceeded" 403 it drops the key from its list for good (every later lookup
    then fails) and asks again. Here that 403 is a failed attempt like any other."""
    provider = AsyncHTTPProvider(endpoint, DEFAULT_TIMEOUT, client=http, api_key=api_key or [])
    provider.use_api_key = api_key is not None
    if api_key is not None:
        provider._api_keys = [api_key]
        provider._handle_rate_limit = _exceeded
    return provider


def trongrid_source(
    http: httpx.AsyncClient, base_url: str, api_key: Secret | None
) -> TrongridSource:
    """The second source ``payments.second_source = "trongrid"`` asks (the composition
    root's one call)."""
    return TrongridSource(http, TrongridSettings(base_url=base_url, api_key=api_key))


class TrongridSource:
    """Looks transactions up in TronGrid's solidified state, retrying what is worth it."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: TrongridSettings,
        *,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
    ) -> None:
        api_key = settings.api_key.get() if settings.api_key is not None else None
        self._tron = AsyncTron(_provider(settings.base_url.rstrip("/") + "/", http, api_key))
        self._backoff = tuple(backoff)

    def __repr__(self) -> str:
        return "TrongridSource()"

    async def transaction(self, tx_hash: str) -> ChainTransaction | None:
        """The solidified transaction (None while not solid or unknown)."""
        reason = ""
        for attempt in range(1, len(self._backoff) + 2):
            try:
                info = await self._tron.get_solid_transaction_info(tx_hash)
                return parse_solid_info(info, tx_hash)
            except TransactionNotFound:
                return None
            except httpx.HTTPStatusError as exc:
                reason = f"HTTP {exc.response.status_code}"
                if exc.response.status_code not in _RETRY_STATUSES:
                    break
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError as exc:
                reason = f"connection failed ({type(exc).__name__})"
            except (ApiError, ValueError) as exc:  # an error payload, a body that is not JSON
                reason = f"unusable answer ({type(exc).__name__})"
            logger.warning("TronGrid lookup attempt %d failed: %s", attempt, reason)
            if attempt <= len(self._backoff):
                await asyncio.sleep(self._backoff[attempt - 1])
        raise ChainUnavailableError(f"TronGrid did not give a usable answer: {reason}")
