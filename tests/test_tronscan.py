"""The TronScan client: request shape, the API key header, retries, and parsing traps."""

from __future__ import annotations

import logging

import pytest

from core.adapters.tronscan import API_KEY_HEADER, parse_transaction_info
from core.config import Secret, TronscanSettings
from core.errors import ChainUnavailableError
from tests.fake_tronscan import (
    API_KEY,
    BASE_URL,
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    USDT,
    FakeTronscan,
    load,
    success,
)

WITH_KEY = TronscanSettings(base_url=BASE_URL + "/", api_key=Secret(API_KEY))


async def test_asks_transaction_info_with_the_key_header_and_a_timeout() -> None:
    fake = FakeTronscan()
    fake.add(success())
    tx = await fake.client(WITH_KEY).transaction(SUCCESS_HASH)
    assert tx is not None and tx.hash == SUCCESS_HASH
    (request,) = fake.requests
    assert str(request.url) == f"{BASE_URL}/api/transaction-info?hash={SUCCESS_HASH}"
    assert request.headers[API_KEY_HEADER] == API_KEY
    assert request.extensions["timeout"]["read"] == 5.0


async def test_no_key_header_without_a_key() -> None:
    fake = FakeTronscan()
    assert await fake.client().transaction(SUCCESS_HASH) is None  # {}: unknown hash
    assert API_KEY_HEADER not in fake.requests[0].headers


def test_the_payee_comes_from_trc20_transfer_info_not_the_top_level_to_address() -> None:
    data = load("transaction-info.success.json")
    assert data["toAddress"] == USDT  # the trap: top level names the token contract
    tx = parse_transaction_info(data, SUCCESS_HASH)
    assert tx is not None
    (transfer,) = tx.transfers
    assert transfer.to_address == RECEIVE_ADDRESS and transfer.contract_address == USDT
    assert transfer.amount == 29_000_000 and isinstance(transfer.amount, int)
    assert tx.result == "SUCCESS" and tx.confirmations == 33399
    assert parse_transaction_info(load("transaction-info.not-found.json"), SUCCESS_HASH) is None


@pytest.mark.parametrize("amount", ["29.000000", "2.9e7", "-29000000", "", " 29000000"])
def test_an_amount_that_is_not_a_whole_number_is_unreadable(amount: str) -> None:
    tx = parse_transaction_info(success(amount_str=amount), SUCCESS_HASH)
    assert tx is not None and tx.transfers[0].amount is None


@pytest.mark.parametrize(
    "failures",
    [[403, 403], [429], [500, 502, 503], ["timeout", "timeout"], ["connect"], ["bad_json"]],
)
async def test_throttling_errors_timeouts_and_bad_json_are_retried(failures: list) -> None:
    fake = FakeTronscan()
    fake.add(success())
    fake.failures = list(failures)
    tx = await fake.client().transaction(SUCCESS_HASH)
    assert tx is not None and tx.result == "SUCCESS"
    assert len(fake.requests) == len(failures) + 1


async def test_the_recorded_403_body_is_throttling_not_an_answer() -> None:
    assert load("throttled-403.json")["code"] == 403
    fake = FakeTronscan()
    fake.always = 403
    with pytest.raises(ChainUnavailableError, match="HTTP 403"):
        await fake.client().transaction(SUCCESS_HASH)
    assert len(fake.requests) == 4


async def test_an_answer_about_another_transaction_is_not_trusted() -> None:
    fake = FakeTronscan()
    other = success(tx_hash="ab" * 32)
    fake.transactions[SUCCESS_HASH] = other  # a confused cache answering the wrong hash
    with pytest.raises(ChainUnavailableError, match="another transaction"):
        await fake.client().transaction(SUCCESS_HASH)


async def test_answers_without_a_timestamp_are_not_trusted() -> None:
    fake = FakeTronscan()
    broken = success()
    del broken["timestamp"]
    fake.add(broken)
    with pytest.raises(ChainUnavailableError, match="timestamp"):
        await fake.client(attempts=2).transaction(SUCCESS_HASH)


async def test_a_bad_request_is_not_retried() -> None:
    fake = FakeTronscan()
    fake.always = 400
    with pytest.raises(ChainUnavailableError, match="HTTP 400"):
        await fake.client().transaction(SUCCESS_HASH)
    assert len(fake.requests) == 1


async def test_the_api_key_never_reaches_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeTronscan()
    fake.failures = ["timeout", "connect", 503]
    fake.always = "bad_json"
    client = fake.client(WITH_KEY)
    with pytest.raises(ChainUnavailableError) as raised:
        await client.transaction(SUCCESS_HASH)
    assert all(r.headers[API_KEY_HEADER] == API_KEY for r in fake.requests)
    assert len(fake.requests) == 4
    assert "attempt 4/4" in caplog.text
    for text in (caplog.text, str(raised.value), repr(client), repr(WITH_KEY)):
        assert API_KEY not in text


def test_fixture_copies_match_the_shared_originals() -> None:
    import pytest

    from tests.fake_tronscan import FIXTURES, SHARED_FIXTURES

    if not SHARED_FIXTURES.is_dir():
        pytest.skip("shared/ is not beside this clone")
    for original in SHARED_FIXTURES.iterdir():
        assert (FIXTURES / original.name).read_bytes() == original.read_bytes(), original.name
