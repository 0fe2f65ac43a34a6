"""A simulated TronScan for trying payments offline (``verzek shell``): a shipped feature.

It answers the TronScan endpoints Verzek Guard reads, in the shapes the real service returns
(the recorded fixtures in ``tests/fixtures/tronscan/`` are the reference, and a test compares
them field by field): ``GET /api/transaction-info?hash=`` (``{}`` for an unknown hash),
``GET /api/transfer/trc20`` (the transfers an address received) and
``GET /api/block/latest``. It is served through ``httpx.MockTransport`` to the real
:class:`core.adapters.tronscan.TronscanClient`, so the shell exercises the same parser and the
same payment rules as production; only the network is missing.

A person drives the chain: :meth:`SimulatedTronscan.pay` puts a USDT TRC20 transfer into a new
block (0 confirmations), :meth:`SimulatedTronscan.confirm` adds blocks on top.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from core.adapters.tronscan import TronscanClient
from core.clock import Clock
from core.config import USDT_CONTRACT, TronscanSettings
from core.payments.rules import epoch_ms

SIMULATED_BASE_URL = "https://tronscan.simulated.invalid"
START_HEIGHT = 77_383_522  # the recorded fixtures' height, so numbers look familiar
PAYER_ADDRESS = "TS8rFyec428XemxfPXTdPM7FAyiX88qr59"  # a valid address, from the fixtures
ISSUER_ADDRESS = "THPvaUhoh2Qn2y9THCZML3H815hhFhn5YC"  # the fixtures' token issuer
SOLID_AFTER = 19  # TRON: final once 19 of the 27 block producers built on a block
USDT_INFO = {
    "icon_url": "https://static.tronscan.org/production/logo/usdtlogo.png",
    "symbol": "USDT",
    "name": "Tether USD",
    "level": "2",
    "vip": True,
    "tokenType": "trc20",
}


@dataclass
class SimulatedTransfer:
    """One transfer put on the simulated chain."""

    hash: str
    block: int
    timestamp_ms: int
    to_address: str
    amount_micro: int
    contract: str
    result: str


class SimulatedTronscan:
    """An in-memory chain answering like TronScan (an ``httpx.MockTransport`` handler)."""

    def __init__(self, clock: Clock, *, usdt_contract: str = USDT_CONTRACT) -> None:
        self._clock = clock
        self._usdt = usdt_contract
        self.height = START_HEIGHT
        self.transfers: dict[str, SimulatedTransfer] = {}
        self.requests = 0
        self._clients: list[httpx.AsyncClient] = []

    def pay(
        self,
        to_address: str,
        amount_micro: int,
        *,
        contract: str | None = None,
        result: str = "SUCCESS",
    ) -> SimulatedTransfer:
        """Put a TRC20 transfer into a new block on top of the chain; it has 0 confirmations."""
        self.height += 1
        transfer = SimulatedTransfer(
            hash=secrets.token_hex(32),
            block=self.height,
            timestamp_ms=epoch_ms(self._clock.now()),
            to_address=to_address,
            amount_micro=amount_micro,
            contract=contract or self._usdt,
            result=result,
        )
        self.transfers[transfer.hash] = transfer
        return transfer

    def confirm(self, blocks: int = SOLID_AFTER) -> int:
        """Add ``blocks`` blocks on top of the chain; returns the new height."""
        self.height += max(0, blocks)
        return self.height

    def confirmations(self, transfer: SimulatedTransfer) -> int:
        """Blocks built on top of the transfer's block."""
        return self.height - transfer.block

    def transaction_info(self, tx_hash: str) -> dict[str, Any]:
        """``/api/transaction-info`` for ``tx_hash``: ``{}`` when unknown (as TronScan)."""
        transfer = self.transfers.get(tx_hash.lower())
        if transfer is None:
            return {}
        confirmations = self.confirmations(transfer)
        token = {
            **USDT_INFO,
            "contract_address": transfer.contract,
            "type": "Transfer",
            "decimals": 6,
            "from_address": PAYER_ADDRESS,
            "to_address": transfer.to_address,
            "amount_str": str(transfer.amount_micro),
            "status": 0,
        }
        return {
            "hash": transfer.hash,
            "block": transfer.block,
            "timestamp": transfer.timestamp_ms,
            "ownerAddress": PAYER_ADDRESS,
            "toAddress": transfer.contract,  # as TronScan: the contract, not the payee
            "contractType": 31,
            "contract_type": "trc20",
            "triggerContractType": 500,
            "confirmed": confirmations >= SOLID_AFTER,
            "confirmations": confirmations,
            "revert": False,
            "contractRet": transfer.result,
            "riskTransaction": False,
            "event_count": 1,
            "fee_limit": 30_000_000,
            "data": "",
            "project": "",
            "cost": {
                "net_fee": 0,
                "energy_usage": 31895,
                "fee": 0,
                "energy_fee": 0,
                "energy_usage_total": 31895,
                "net_usage": 345,
                "multi_sign_fee": 0,
                "memoFee": 0,
                "origin_energy_usage": 0,
            },
            "trc20TransferInfo": [dict(token)],
            "transfersAllList": [dict(token)],
            "tokenTransferInfo": dict(token),
            "trigger_info": {
                "method": "transfer(address _to,uint256 _value)",
                "methodId": "a9059cbb",
                "parameter": {"_value": str(transfer.amount_micro), "_to": transfer.to_address},
                "contract_address": transfer.contract,
                "call_value": 0,
            },
            "contractData": {
                "data": "a9059cbb",
                "owner_address": PAYER_ADDRESS,
                "contract_address": transfer.contract,
            },
            "signature_addresses": [],
            "info": {},
            "internal_transactions": {},
        }

    def transfer_row(self, transfer: SimulatedTransfer) -> dict[str, Any]:
        """One row of ``/api/transfer/trc20`` for ``transfer``, as TronScan lists it."""
        usdt = transfer.contract == self._usdt
        token = {
            "tokenId": transfer.contract,
            "tokenAbbr": "USDT",  # a look-alike token calls itself USDT too
            "tokenName": "Tether USD" if usdt else "USDT",
            "tokenDecimal": 6,
            "tokenCanShow": 1,
            "tokenType": "trc20",
            "tokenLogo": USDT_INFO["icon_url"],
            "tokenLevel": "2",
            "issuerAddr": ISSUER_ADDRESS,
            "vip": usdt,
        }
        return {
            "amount": str(transfer.amount_micro),
            "approval_amount": "0",
            "block_timestamp": transfer.timestamp_ms,
            "block": transfer.block,
            "from": PAYER_ADDRESS,
            "to": transfer.to_address,
            "hash": transfer.hash,
            "confirmed": 1 if self.confirmations(transfer) >= SOLID_AFTER else 0,
            "contract_type": "trc20",
            "contractType": 31,
            "revert": 0,
            "contract_ret": transfer.result,
            "event_type": "Transfer",
            "issue_address": ISSUER_ADDRESS,
            "decimals": 6,
            "token_name": token["tokenName"],
            "id": transfer.contract,
            "direction": 2,
            "tokenInfo": token,
        }

    def transfers_to(self, params: httpx.QueryParams) -> dict[str, Any]:
        """``/api/transfer/trc20`` (incoming): transfers to ``address`` of token ``trc20Id``
        in the time window, newest first, ``start``/``limit`` paged."""
        address, token = params.get("address", ""), params.get("trc20Id")
        since = int(params.get("start_timestamp", "0") or 0)
        until = int(params.get("end_timestamp", "0") or 0) or 1 << 62
        start, limit = int(params.get("start", "0")), int(params.get("limit", "20"))
        rows = sorted(
            (
                t
                for t in self.transfers.values()
                if t.to_address == address
                and (token is None or t.contract == token)
                and since <= t.timestamp_ms <= until
            ),
            key=lambda t: (t.timestamp_ms, t.block),
            reverse=True,
        )
        page = [self.transfer_row(t) for t in rows[start : start + limit]]
        return {"page_size": len(page), "code": 200, "data": page}

    def block_latest(self) -> dict[str, Any]:
        """``/api/block/latest``: the chain height."""
        return {
            "number": self.height,
            "hash": f"{self.height:016x}" + "ab" * 24,
            "timestamp": epoch_ms(self._clock.now()),
            "confirmed": False,
            "nrOfTrx": 312,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as TronScan would."""
        self.requests += 1
        if request.method != "GET":
            return httpx.Response(405, json={"message": "Method Not Allowed"})
        if request.url.path == "/api/transaction-info":
            tx_hash = request.url.params.get("hash", "")
            return httpx.Response(200, json=self.transaction_info(tx_hash))
        if request.url.path == "/api/transfer/trc20":
            return httpx.Response(200, json=self.transfers_to(request.url.params))
        if request.url.path == "/api/block/latest":
            return httpx.Response(200, json=self.block_latest())
        return httpx.Response(404, json={"message": "Not Found"})

    def client(self, settings: TronscanSettings | None = None) -> TronscanClient:
        """The real TronScan client, talking to this simulation instead of the network."""
        http = httpx.AsyncClient(transport=httpx.MockTransport(self))
        self._clients.append(http)
        return TronscanClient(http, settings or TronscanSettings(base_url=SIMULATED_BASE_URL))

    async def aclose(self) -> None:
        """Close the clients made by :meth:`client`."""
        while self._clients:
            await self._clients.pop().aclose()
