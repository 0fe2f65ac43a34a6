"""A second opinion (issue 17, optional part): with a second source (TronGrid's solidified
transaction info, read through tronpy; ``payments.second_source = "trongrid"``) it must tell
the same story as TronScan before a payment is approved automatically. What an attacker who
controls (or poisons) one source tries: a TronScan answer saying "paid" that the chain does not
bear out. A disagreement is never judged by a rule: the payment goes to review (it holds its
hash) and the admins are alerted once."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.adapters.trongrid import TrongridSettings, parse_solid_info
from core.adapters.tronscan import parse_transaction_info
from core.clock import FakeClock
from core.config import Secret, Settings, load_settings
from core.errors import ChainUnavailableError
from core.payments.agreement import disagreement
from core.payments.chain import UnexpectedAnswerError
from core.services import Services
from tests.support.fake_trongrid import API_KEY, BASE_URL, FakeTrongrid, solid_info
from tests.support.fake_tronscan import (
    FAKE_USDT,
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    USDT,
    FakeTronscan,
    payments_config,
    success,
)
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.services import build_services
from tests.support.steps import db_rows
from tests.support.watch_steps import recheck_round


def test_solid_info_reads_the_transfer_from_the_event_log() -> None:
    tx = parse_solid_info(solid_info(), SUCCESS_HASH)
    assert tx is not None
    assert [(t.contract_address, t.to_address, t.amount) for t in tx.transfers] == [
        (USDT, RECEIVE_ADDRESS, 29_000_000)
    ]
    assert tx.result == "SUCCESS" and tx.confirmed is True
    scan = parse_transaction_info(success(), SUCCESS_HASH)
    assert scan is not None and disagreement(scan, tx) is None
    assert parse_solid_info({}, SUCCESS_HASH) is None


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"amount": 30_000_000}, "transfers"),
        ({"token": FAKE_USDT}, "transfers"),
        ({"to": "TS8rFyec428XemxfPXTdPM7FAyiX88qr59"}, "transfers"),
        ({"timestamp": 1764300003000}, "block time"),
        ({"result": "OUT_OF_ENERGY"}, "result"),
    ],
)
def test_each_difference_is_named(change: dict[str, Any], differs: str) -> None:
    scan = parse_transaction_info(success(), SUCCESS_HASH)
    grid = parse_solid_info(solid_info(**change), SUCCESS_HASH)
    assert scan is not None and grid is not None
    assert disagreement(scan, grid) == differs


def _odd(change: str) -> Any:
    info = copy.deepcopy(solid_info())
    if change == "another id":
        info["id"] = "ab" * 32
    elif change == "no receipt":
        del info["receipt"]
    elif change == "topics short":
        info["log"][0]["topics"] = info["log"][0]["topics"][:2]
    elif change == "data not hex":
        info["log"][0]["data"] = "zz" * 32
    elif change == "log not a list":
        info["log"] = {}
    elif change == "time as text":
        info["blockTimeStamp"] = "1764300000000"
    return info


@pytest.mark.parametrize(
    "change",
    ["another id", "no receipt", "topics short", "data not hex", "log not a list", "time as text"],
)
def test_a_receipt_off_the_known_shape_is_never_judged(change: str) -> None:
    with pytest.raises(UnexpectedAnswerError):
        parse_solid_info(_odd(change), SUCCESS_HASH)


async def test_the_client_asks_the_solid_state_with_our_key_and_retries() -> None:
    grid = FakeTrongrid()
    grid.add(solid_info())
    source = grid.client(TrongridSettings(base_url=BASE_URL, api_key=Secret(API_KEY)))
    assert (await source.transaction(SUCCESS_HASH)) is not None
    (request,) = grid.requests
    assert json.loads(request.content) == {"value": SUCCESS_HASH, "visible": True}
    assert request.headers["tron-pro-api-key"] == API_KEY
    assert await source.transaction("ab" * 32) is None  # not solidified yet, or unknown
    grid.always = 503
    with pytest.raises(ChainUnavailableError):
        await source.transaction(SUCCESS_HASH)
    assert len(grid.requests) == 2 + 4


@pytest.fixture
def grid() -> FakeTrongrid:
    return FakeTrongrid()


@pytest.fixture
async def cross_bot(
    tmp_path: Path, env: dict[str, str], clock: FakeClock, fake: FakeTronscan, grid: FakeTrongrid
) -> AsyncIterator[BotHarness]:
    settings: Settings = load_settings(payments_config(tmp_path), env)
    services: Services = await build_services(
        settings, clock, chain=fake.client(settings.tronscan), second_chain=grid.client()
    )
    bot = BotHarness(settings, services)
    await bot.start()
    yield bot
    await bot.stop()
    await services.aclose()


pytestmark = pytest.mark.payments


async def test_both_sources_agree_and_the_payment_is_approved(
    cross_bot: BotHarness, fake: FakeTronscan, grid: FakeTrongrid
) -> None:
    user = await payer(cross_bot, 2, "both@example.com")
    await invoice_for(cross_bot, user)
    fake.add(success())
    grid.add(solid_info())
    await cross_bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    assert "Payment #1 confirmed: 29.00 USDT" in await said(cross_bot, user, "Payment #1 confirmed")
    assert len(grid.requests) >= 1


async def test_a_transfer_not_solid_at_the_second_source_waits_for_it(
    cross_bot: BotHarness, fake: FakeTronscan, grid: FakeTrongrid
) -> None:
    user = await payer(cross_bot, 2, "both@example.com")
    await invoice_for(cross_bot, user)
    fake.add(success())  # TronScan: final; TronGrid: not in a solidified block yet
    await cross_bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(cross_bot, user, "⏳ Payment #1")
    assert await db_rows(cross_bot, "SELECT status, note FROM payments") == [
        ("pending", "confirmations")
    ]
    grid.add(solid_info())
    await recheck_round(cross_bot)
    assert "Payment #1 confirmed" in await said(cross_bot, user, "Payment #1 confirmed")


@pytest.mark.parametrize("lie", [{"amount": 2_000_000}, {"token": FAKE_USDT}])
async def test_a_tronscan_answer_the_chain_does_not_bear_out_is_never_approved(
    cross_bot: BotHarness, fake: FakeTronscan, grid: FakeTrongrid, lie: dict[str, Any]
) -> None:
    user = await payer(cross_bot, 2, "both@example.com")
    await invoice_for(cross_bot, user)
    fake.add(success())  # TronScan (or whoever answers in its name) says 29.00 USDT, final
    grid.add(solid_info(**lie))  # the solidified chain says otherwise
    await cross_bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    told = await said(cross_bot, user, "Payment #1: TronScan and TronGrid tell different")
    assert "an admin looks at it" in told and "confirmed" not in told
    await recheck_round(cross_bot)
    await recheck_round(cross_bot)
    assert await db_rows(cross_bot, "SELECT status, note, amount_micro FROM payments") == [
        ("review", "sources_disagree", None)
    ]
    assert await db_rows(cross_bot, "SELECT COUNT(*) FROM licenses") == [(0,)]
    assert await db_rows(cross_bot, "SELECT rule FROM alerts") == [("payment_needs_review",)]


async def test_the_second_source_unreachable_keeps_the_payment_pending(
    cross_bot: BotHarness, fake: FakeTronscan, grid: FakeTrongrid
) -> None:
    user = await payer(cross_bot, 2, "both@example.com")
    await invoice_for(cross_bot, user)
    fake.add(success())
    grid.always = 429
    await cross_bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(cross_bot, user, "⏳ Payment #1")
    assert await db_rows(cross_bot, "SELECT status FROM payments") == [("pending",)]
    grid.always = None
    grid.add(solid_info())
    await recheck_round(cross_bot)
    assert "Payment #1 confirmed" in await said(cross_bot, user, "Payment #1 confirmed")
