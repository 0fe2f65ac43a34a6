"""A fake TronGrid for tests: ``POST /walletsolidity/gettransactioninfobyid`` answering the
solidified transaction info TronGrid returns (receipt and event log), made from the TronScan
fixtures' transaction so both sources can tell the same story, or not."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tronpy.keys import to_hex_address

from core.adapters.trongrid import TRANSFER_TOPIC, TrongridSettings, TrongridSource
from tests.support.fake_tronscan import RECEIVE_ADDRESS, SUCCESS_HASH, TX_TIME_MS, USDT

PAYER = "TS8rFyec428XemxfPXTdPM7FAyiX88qr59"
BASE_URL = "https://trongrid.test"
API_KEY = "trongrid-key-0123456789abcdef"


def _topic(address: str) -> str:
    return str(to_hex_address(address))[2:].rjust(64, "0")


def solid_info(
    *,
    tx_hash: str = SUCCESS_HASH,
    amount: int = 29_000_000,
    to: str = RECEIVE_ADDRESS,
    token: str = USDT,
    timestamp: int = TX_TIME_MS,
    result: str = "SUCCESS",
) -> dict[str, Any]:
    """``gettransactioninfobyid`` for a TRC20 transfer (by default the TronScan fixture's)."""
    return {
        "id": tx_hash,
        "fee": 13_844_850,
        "blockNumber": 77_350_123,
        "blockTimeStamp": timestamp,
        "contractResult": ["0000000000000000000000000000000000000000000000000000000000000001"],
        "contract_address": token,
        "receipt": {
            "energy_fee": 13_499_850,
            "energy_usage_total": 31_895,
            "net_fee": 345_000,
            "result": result,
            "energy_penalty_total": 17_245,
        },
        "log": [
            {
                "address": to_hex_address(token)[2:],
                "topics": [TRANSFER_TOPIC, _topic(PAYER), _topic(to)],
                "data": f"{amount:064x}",
            }
        ],
    }


class FakeTrongrid:
    """Known hashes answer their solid info, others ``{}`` (not solidified, or unknown);
    ``always`` (an HTTP status) fails every request."""

    def __init__(self) -> None:
        self.infos: dict[str, dict[str, Any]] = {}
        self.always: int | None = None
        self.requests: list[httpx.Request] = []

    def add(self, info: dict[str, Any]) -> None:
        self.infos[str(info["id"])] = info

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.method == "POST"
        assert request.url.path == "/walletsolidity/gettransactioninfobyid"
        if self.always is not None:
            return httpx.Response(self.always, text="upstream error")
        value = json.loads(request.content)["value"]
        return httpx.Response(200, json=self.infos.get(value, {}))

    def client(self, settings: TrongridSettings | None = None) -> TrongridSource:
        """The real TronGrid source over this fake, with backoff sleeps made tiny."""
        http = httpx.AsyncClient(transport=httpx.MockTransport(self))
        return TrongridSource(
            http, settings or TrongridSettings(base_url=BASE_URL), backoff=(0.001,) * 3
        )
