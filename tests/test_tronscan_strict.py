"""The strict reading of TronScan: hex addresses, the flags a lenient reader skips, and answers
off the recorded shape (pure functions; the bot-level attacks are in tests/attacks/)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.adapters.tronscan import parse_transaction_info
from core.config import PaymentSettings
from core.payments.chain import UnexpectedAnswerError
from core.payments.ports import InvoiceRecord, InvoiceStatus
from core.payments.rules import Check, CheckNote, Outcome, evaluate, unexpected_answer
from core.payments.tron import is_valid_tron_address, normalise_tron_address
from tests.support.fake_tronscan import (
    FAKE_USDT,
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    USDT,
    FakeTronscan,
    success,
)

RECEIVE_HEX = "41fee76d199991f5e11fa83cac24e818708901ba90"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
SETTINGS = PaymentSettings(receive_address=RECEIVE_ADDRESS)
CREATED = datetime(2025, 11, 28, 3, 0, tzinfo=UTC)


def invoice() -> InvoiceRecord:
    return InvoiceRecord(
        id=1,
        account_id=1,
        plan="basic",
        tier="basic",
        days=30,
        amount_micro=29_000_000,
        receive_address=RECEIVE_ADDRESS,
        created_at=CREATED,
        expires_at=CREATED + timedelta(hours=24),
        status=InvoiceStatus.OPEN,
        signature=None,
    )


def changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = success()
    change(data)
    return data


def first(data: dict[str, Any]) -> dict[str, Any]:
    transfer: dict[str, Any] = data["trc20TransferInfo"][0]
    return transfer


def judge(data: dict[str, Any]):
    return evaluate(parse_transaction_info(data, SUCCESS_HASH), invoice(), SETTINGS)


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        (RECEIVE_HEX, RECEIVE_ADDRESS),
        (RECEIVE_HEX.upper(), RECEIVE_ADDRESS),
        (USDT_HEX, USDT),
        (RECEIVE_ADDRESS, RECEIVE_ADDRESS),  # base58check already: unchanged
        (FAKE_USDT, FAKE_USDT),
    ],
)
def test_hex_addresses_become_base58check(text: str, address: str) -> None:
    normalised = normalise_tron_address(text)
    assert normalised == address and normalised is not None
    assert is_valid_tron_address(normalised)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "41",
        RECEIVE_HEX[:-2],  # 20 bytes
        RECEIVE_HEX + "00",  # 22 bytes
        "42" + RECEIVE_HEX[2:],  # another network's prefix
        "0x" + RECEIVE_HEX,
        "41" + "zz" * 20,  # not hex
        "41" + " " * 40,  # whitespace that bytes.fromhex would skip
        RECEIVE_HEX + "\n",
        RECEIVE_ADDRESS[:-1] + ("b" if RECEIVE_ADDRESS[-1] != "b" else "c"),  # bad checksum
        RECEIVE_ADDRESS.lower(),
    ],
)
def test_anything_else_is_not_an_address(text: str) -> None:
    assert normalise_tron_address(text) is None


def test_hex_payee_and_contract_are_compared_as_base58() -> None:
    data = changed(lambda d: first(d).update(to_address=RECEIVE_HEX, contract_address=USDT_HEX))
    tx = parse_transaction_info(data, SUCCESS_HASH)
    assert tx is not None
    assert (tx.transfers[0].to_address, tx.transfers[0].contract_address) == (RECEIVE_ADDRESS, USDT)
    assert evaluate(tx, invoice(), SETTINGS).outcome is Outcome.APPROVE


# --- flags: confirmed, revert, a transfer's status --------------------------------------------


def test_the_recorded_flags_are_read() -> None:
    tx = parse_transaction_info(success(), SUCCESS_HASH)
    assert tx is not None and tx.confirmed is True and tx.reverted is False
    assert tx.transfers[0].status == 0


def test_absent_flags_are_not_required() -> None:
    def strip(d: dict[str, Any]) -> None:
        del d["confirmed"], d["revert"], first(d)["status"]

    tx = parse_transaction_info(changed(strip), SUCCESS_HASH)
    assert tx is not None and tx.confirmed is None and tx.transfers[0].status is None
    assert evaluate(tx, invoice(), SETTINGS).outcome is Outcome.APPROVE


def test_not_confirmed_waits_whatever_the_count() -> None:
    verdict = judge(changed(lambda d: d.update(confirmed=False)))
    assert verdict.outcome is Outcome.PENDING and verdict.reason is CheckNote.CONFIRMATIONS
    (confirmations,) = [c for c in verdict.checks if c.check is Check.CONFIRMATIONS]
    assert confirmations.passed is False and "not confirmed" in confirmations.detail


def test_a_reverted_transaction_fails() -> None:
    verdict = judge(changed(lambda d: d.update(revert=True)))
    assert verdict.outcome is Outcome.FAIL and verdict.reason is CheckNote.TX_FAILED


@pytest.mark.parametrize("status", [1, 2, -1])
def test_a_failed_transfer_to_us_fails(status: int) -> None:
    verdict = judge(changed(lambda d: first(d).update(status=status)))
    assert verdict.outcome is Outcome.FAIL and verdict.reason is CheckNote.TX_FAILED


def test_a_failed_transfer_beside_a_good_one_to_us_does_not_spoil_it() -> None:
    def add_failed(d: dict[str, Any]) -> None:
        bad = dict(first(d), status=1, amount_str="1000000")
        d["trc20TransferInfo"].insert(0, bad)

    verdict = judge(changed(add_failed))
    assert verdict.outcome is Outcome.APPROVE and verdict.paid_micro == 29_000_000


# --- answers off the recorded shape -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda d: d.pop("contractRet"), "no contractRet"),
        (lambda d: d.update(contractRet=0), "no contractRet"),
        (lambda d: first(d).update(amount_str=29000000), "amount_str is not a string"),
        (lambda d: first(d).pop("amount_str"), "amount_str is not a string"),
        (lambda d: d.update(trc20TransferInfo=first(d)), "trc20TransferInfo is not a list"),
        (lambda d: d.update(trc20TransferInfo=["x"]), "entry is not an object"),
        (lambda d: d.update(confirmed="true"), "confirmed is not true/false"),
        (lambda d: d.update(revert=0), "revert is not true/false"),
        (lambda d: first(d).update(status="0"), "status is not a number"),
        (lambda d: first(d).update(status=False), "status is not a number"),
        (lambda d: first(d).update(to_address="41" + "0" * 39), "to_address is not"),
        (lambda d: first(d).pop("contract_address"), "contract_address is not"),
        (lambda d: d.update(confirmations=None), "no confirmations"),
        (lambda d: d.update(timestamp="1764300000000"), "no timestamp"),
        (lambda d: d.update(hash="0" * 64), "another transaction"),
    ],
)
def test_an_answer_off_the_recorded_shape_is_never_judged(
    change: Callable[[dict[str, Any]], None], what: str
) -> None:
    with pytest.raises(UnexpectedAnswerError, match=what):
        parse_transaction_info(changed(change), SUCCESS_HASH)


@pytest.mark.parametrize("data", [[], "SUCCESS", 3, None, {"data": []}])
def test_json_that_is_not_a_transaction_is_unexpected(data: Any) -> None:
    with pytest.raises(UnexpectedAnswerError):
        parse_transaction_info(data, SUCCESS_HASH)


def test_an_unexpected_answer_is_pending_not_a_verdict() -> None:
    verdict = unexpected_answer("unexpected answer: no contractRet")
    assert verdict.outcome is Outcome.PENDING and verdict.reason is CheckNote.UNEXPECTED_ANSWER
    assert verdict.paid_micro is None and verdict.checks[0].passed is None


async def test_the_client_retries_an_odd_answer_then_says_it_was_odd() -> None:
    fake = FakeTronscan()
    fake.transactions[SUCCESS_HASH] = changed(lambda d: d.pop("contractRet"))
    with pytest.raises(UnexpectedAnswerError, match="no contractRet"):
        await fake.client().transaction(SUCCESS_HASH)
    assert len(fake.requests) == 4
