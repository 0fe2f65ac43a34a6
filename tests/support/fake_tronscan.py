"""A fake TronScan for tests: serves the recorded fixtures (and variants) over httpx.MockTransport.

The fixtures are copies of the team's recorded real-format responses (``shared/fixtures/tronscan``)
kept in ``tests/fixtures/tronscan`` so a clone tests on its own; a test checks the copies still
match the originals when those are beside the clone. Variants are made by copying a loaded
fixture and changing fields.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx

from core.adapters.tronscan import TronscanClient
from core.config import TronscanSettings

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tronscan"
SHARED_FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures" / "tronscan"
RECEIVE_ADDRESS = "TZD1sZDTkX2EBJbznmRxs4zLWv88adepJa"
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
FAKE_USDT = "TGnR6uLrfkU3rjrEzejMH1K8sdUcUV1so3"
SUCCESS_HASH = "767c006d8cdc22d8b1318f75ce5478a7e3f165ec4968409f8793757111e770ea"
TX_TIME_MS = 1764300000000  # the fixtures' block time: 2025-11-28 03:20:00 UTC
BASE_URL = "https://tronscan.test"
API_KEY = "tronscan-key-0123456789abcdef"


def load(name: str) -> Any:
    """A fixture file, parsed."""
    return json.loads((FIXTURES / name).read_text())


def success(
    *,
    tx_hash: str | None = None,
    amount_str: str | None = None,
    confirmations: int | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The success fixture, optionally with another hash, amount, confirmations or time."""
    tx: dict[str, Any] = copy.deepcopy(load("transaction-info.success.json"))
    if tx_hash is not None:
        tx["hash"] = tx_hash
    if amount_str is not None:
        tx["trc20TransferInfo"][0]["amount_str"] = amount_str
    if confirmations is not None:
        tx["confirmations"] = confirmations
    if timestamp is not None:
        tx["timestamp"] = timestamp
    return tx


def incoming(
    *,
    tx_hash: str = SUCCESS_HASH,
    amount: str = "29000000",
    block_ms: int = TX_TIME_MS,
    to: str = RECEIVE_ADDRESS,
    token: str = USDT,
    symbol: str = "USDT",
    **fields: Any,
) -> dict[str, Any]:
    """A row of ``/api/transfer/trc20`` (the first of the recorded incoming list: 29 USDT,
    confirmed) with another hash, amount, time, payee, token or other fields."""
    row: dict[str, Any] = copy.deepcopy(load("transfer-trc20.incoming.json")["data"][0])
    row.update(hash=tx_hash, amount=amount, block_timestamp=block_ms, to=to, id=token)
    row["tokenInfo"].update(tokenId=token, tokenAbbr=symbol)
    row.update(fields)
    return row


def tx_hash(n: int) -> str:
    """A distinct, valid-looking transaction hash."""
    return f"{n:064x}"


class FakeTronscan:
    """``GET /api/transaction-info?hash=``: known hashes answer their JSON, others ``{}``.

    ``failures`` are used up one per request ("timeout", "connect", "bad_json", or an HTTP
    status; 403 answers the recorded throttling body); ``always`` fails every request.

    ``GET /api/transfer/trc20`` lists the rows in ``incoming`` (see :func:`incoming`) whose
    block time is in the asked window, newest first, paged by ``start``/``limit``, whatever
    their payee or token (a test decides what TronScan puts in the list); ``listing_failures``
    and ``listing_always`` fail those requests the same way ("odd_json": a page whose rows
    lack their ``hash``; "ok": this request answers normally). ``listings`` are the requests
    made for lists.
    """

    def __init__(self) -> None:
        self.transactions: dict[str, dict[str, Any]] = {}
        self.failures: list[str | int] = []
        self.always: str | int | None = None
        self.requests: list[httpx.Request] = []
        self.incoming: list[dict[str, Any]] = []
        self.listing_failures: list[str | int] = []
        self.listing_always: str | int | None = None
        self.listings: list[httpx.Request] = []

    def add(self, tx: dict[str, Any]) -> str:
        self.transactions[tx["hash"]] = tx
        return str(tx["hash"])

    def _listing(self, request: httpx.Request) -> httpx.Response:
        self.listings.append(request)
        failure = self.listing_failures.pop(0) if self.listing_failures else self.listing_always
        if failure == "odd_json":
            rows = [{k: v for k, v in row.items() if k != "hash"} for row in self.incoming]
            return httpx.Response(200, json={"page_size": len(rows), "code": 200, "data": rows})
        if failure is not None and failure != "ok":
            return self._failure(request, failure)
        params = request.url.params
        since, until = int(params["start_timestamp"]), int(params["end_timestamp"])
        start, limit = int(params["start"]), int(params["limit"])
        rows = sorted(
            (r for r in self.incoming if since <= r["block_timestamp"] <= until),
            key=lambda r: int(r["block_timestamp"]),
            reverse=True,
        )[start : start + limit]
        return httpx.Response(200, json={"page_size": len(rows), "code": 200, "data": rows})

    def _failure(self, request: httpx.Request, failure: str | int) -> httpx.Response:
        if failure == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if failure == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if failure == "bad_json":
            return httpx.Response(200, text="<html>maintenance</html>")
        if failure == 403:
            return httpx.Response(403, json=load("throttled-403.json"))
        return httpx.Response(int(failure), text="upstream error")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/api/transfer/trc20":
            return self._listing(request)
        self.requests.append(request)
        assert request.method == "GET" and request.url.path == "/api/transaction-info"
        failure = self.failures.pop(0) if self.failures else self.always
        if failure == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if failure == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if failure == "bad_json":
            return httpx.Response(200, text="<html>maintenance</html>")
        if failure == 403:
            return httpx.Response(403, json=load("throttled-403.json"))
        if isinstance(failure, int):
            return httpx.Response(failure, text="upstream error")
        return httpx.Response(200, json=self.transactions.get(request.url.params["hash"], {}))

    def client(
        self, settings: TronscanSettings | None = None, *, attempts: int = 4
    ) -> TronscanClient:
        """A real client over this fake, with backoff sleeps made tiny."""
        http = httpx.AsyncClient(transport=httpx.MockTransport(self))
        settings = settings or TronscanSettings(base_url=BASE_URL)
        return TronscanClient(http, settings, backoff=(0.001,) * (attempts - 1))


def payments_config(tmp_path: Path, *, receive_address: str | None = RECEIVE_ADDRESS) -> Path:
    """The test config of tests/conftest.py plus payments pointed at the fake TronScan."""
    config = tmp_path / "config.toml"
    lines = [
        "[security]",
        "captcha = false",
        "withdrawal_cooldown_hours = 0",  # the cool-down is tested in tests/attacks/
        "[rate_limits]",
        'auth = "1000/minute"',
        "[tronscan]",
        f'base_url = "{BASE_URL}"',
        f'api_key = "{API_KEY}"',
        "[payments]",
    ]
    if receive_address is not None:
        lines.append(f'receive_address = "{receive_address}"')
    config.write_text("\n".join(lines) + "\n")
    return config
