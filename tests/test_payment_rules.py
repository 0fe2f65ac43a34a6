"""Verification rules, each against its own variant of the recorded TronScan fixtures."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.adapters.tronscan import parse_transaction_info
from core.config import PaymentSettings
from core.errors import Refusal
from core.payments.chain import UnexpectedAnswerError
from core.payments.ports import InvoiceRecord, InvoiceStatus
from core.payments.refusals import TxHashMalformed
from core.payments.rules import Check, CheckNote, Outcome, epoch_ms, evaluate, normalise_tx_hash
from tests.support.fake_tronscan import (
    FAKE_USDT,
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    TX_TIME_MS,
    USDT,
    load,
    success,
)

SETTINGS = PaymentSettings(receive_address=RECEIVE_ADDRESS)
CREATED = datetime(2025, 11, 28, 3, 0, tzinfo=UTC)  # 20 minutes before the fixtures' transfer


def invoice(amount_micro: int = 29_000_000, created: datetime = CREATED) -> InvoiceRecord:
    return InvoiceRecord(
        id=1,
        account_id=1,
        plan="basic",
        tier="basic",
        days=30,
        amount_micro=amount_micro,
        receive_address=RECEIVE_ADDRESS,
        created_at=created,
        expires_at=created + timedelta(hours=24),
        status=InvoiceStatus.OPEN,
        signature=None,
    )


def judge(data: dict[str, Any], inv: InvoiceRecord | None = None):
    tx = parse_transaction_info(data, data.get("hash", SUCCESS_HASH))
    return evaluate(tx, inv or invoice(), SETTINGS)


def variant(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = success()
    change(data)
    return data


def transfer(data: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = data["trc20TransferInfo"][0]
    return first


def test_the_recorded_success_is_approved_with_every_check_passing() -> None:
    verdict = judge(load("transaction-info.success.json"))
    assert verdict.outcome is Outcome.APPROVE and verdict.reason is CheckNote.OK
    assert verdict.paid_micro == 29_000_000
    assert [c.check for c in verdict.checks] == list(Check)
    assert all(c.passed for c in verdict.checks)


def test_out_of_energy_is_refused_although_revert_is_false() -> None:
    data = load("transaction-info.out-of-energy.json")
    assert data["revert"] is False and data["contractRet"] == "OUT_OF_ENERGY"
    verdict = judge(data)
    assert verdict.outcome is Outcome.FAIL and verdict.reason is CheckNote.TX_FAILED


@pytest.mark.parametrize("result", ["REVERT", "", "success"])
def test_only_contract_ret_success_counts(result: str) -> None:
    verdict = judge(variant(lambda d: d.update(contractRet=result)))
    assert verdict.outcome is Outcome.FAIL and verdict.reason is CheckNote.TX_FAILED
    # A null contractRet is not a failed transfer but an answer we cannot read (never judged).
    with pytest.raises(UnexpectedAnswerError, match="no contractRet"):
        judge(variant(lambda d: d.update(contractRet=None)))


def test_unknown_hash_stays_pending() -> None:
    verdict = evaluate(None, invoice(), SETTINGS)
    assert verdict.outcome is Outcome.PENDING and verdict.reason is CheckNote.NOT_FOUND


def test_a_token_that_calls_itself_usdt_is_refused() -> None:
    data = variant(lambda d: transfer(d).update(contract_address=FAKE_USDT))
    assert transfer(data)["symbol"] == "USDT" and transfer(data)["name"] == "Tether USD"
    verdict = judge(data)
    assert verdict.outcome is Outcome.FAIL and verdict.reason is CheckNote.WRONG_TOKEN


def test_the_top_level_to_address_is_never_taken_for_the_payee() -> None:
    def elsewhere(d: dict[str, Any]) -> None:
        transfer(d)["to_address"] = "TS8rFyec428XemxfPXTdPM7FAyiX88qr59"
        d["toAddress"] = RECEIVE_ADDRESS
        d["trigger_info"]["parameter"]["_to"] = RECEIVE_ADDRESS
        d["tokenTransferInfo"]["to_address"] = RECEIVE_ADDRESS

    verdict = judge(variant(elsewhere))
    assert verdict.outcome is Outcome.FAIL and verdict.reason is CheckNote.WRONG_RECIPIENT


def test_any_transfer_of_the_list_may_be_ours() -> None:
    def two(d: dict[str, Any]) -> None:
        other = copy.deepcopy(transfer(d))
        other["to_address"] = "TS8rFyec428XemxfPXTdPM7FAyiX88qr59"
        other["amount_str"] = "5000000"
        d["trc20TransferInfo"].insert(0, other)

    verdict = judge(variant(two))
    assert verdict.outcome is Outcome.APPROVE and verdict.paid_micro == 29_000_000


def test_a_transaction_without_transfers_is_refused() -> None:
    verdict = judge(variant(lambda d: d.update(trc20TransferInfo=[])))
    assert verdict.outcome is Outcome.FAIL and verdict.reason is CheckNote.NO_TRANSFER


@pytest.mark.parametrize(
    ("amount_str", "outcome"),
    [
        ("29000000", Outcome.APPROVE),
        ("29005000", Outcome.APPROVE),  # exactly +0.005 (the default tolerance)
        ("28995000", Outcome.APPROVE),  # exactly -0.005
        ("29005001", Outcome.OVERPAID),  # +0.005001: approved, the excess to the wallet
        ("28994999", Outcome.PARTIAL),  # -0.005001: counts toward the invoice
        ("29010000", Outcome.OVERPAID),  # +0.01: half-way to the next open invoice's 29.02
        ("2900000", Outcome.PARTIAL),  # a decimal place off
        ("58000000", Outcome.OVERPAID),  # twice the invoice: still credited by the rule
        ("58000001", Outcome.REVIEW),  # more than twice: an admin looks
        ("29000000000000000000000000", Outcome.REVIEW),  # 18 decimals' worth: a misreading
        ("29.000000", Outcome.REVIEW),  # not an integer string: never guessed at
        ("-29000000", Outcome.REVIEW),
        ("0", Outcome.FAIL),  # nothing reached us
    ],
)
def test_the_amount_is_compared_in_integers_within_the_tolerance(
    amount_str: str, outcome: Outcome
) -> None:
    verdict = judge(variant(lambda d: transfer(d).update(amount_str=amount_str)))
    assert verdict.outcome is outcome
    if outcome is Outcome.FAIL:
        assert verdict.reason is CheckNote.AMOUNT_MISMATCH


def rival(amount_micro: int, *, account_id: int = 2, invoice_id: int = 2) -> InvoiceRecord:
    return InvoiceRecord(
        **{**invoice(amount_micro).__dict__, "id": invoice_id, "account_id": account_id}
    )


@pytest.mark.parametrize("account_id", [1, 2])
def test_a_transfer_that_fits_another_invoice_exactly_is_theirs(account_id: int) -> None:
    tx = parse_transaction_info(success(), SUCCESS_HASH)  # 29.00
    mine = invoice(amount_micro=29_020_000)
    verdict = evaluate(tx, mine, SETTINGS, [rival(29_000_000, account_id=account_id)])
    assert verdict.outcome is Outcome.FAIL and verdict.reason is CheckNote.AMOUNT_MISMATCH
    # An invoice that was not open when the transfer was made, or is paid, does not own it.
    later = rival(29_000_000, account_id=account_id)
    later = InvoiceRecord(**{**later.__dict__, "created_at": CREATED + timedelta(hours=1)})
    paid = InvoiceRecord(**{**rival(29_000_000).__dict__, "status": InvoiceStatus.PAID})
    for other in (later, paid):
        assert evaluate(tx, mine, SETTINGS, [other]).outcome is Outcome.PARTIAL


def test_a_round_sum_is_not_claimed_by_a_rule_while_others_await_payment() -> None:
    tx = parse_transaction_info(success(amount_str="40000000"), SUCCESS_HASH)
    verdict = evaluate(tx, invoice(), SETTINGS, [rival(79_000_000)])
    assert verdict.outcome is Outcome.REVIEW and verdict.reason is CheckNote.AMBIGUOUS
    # The same account's other invoice is no rival: it is the payer's own money either way.
    own = evaluate(tx, invoice(), SETTINGS, [rival(79_000_000, account_id=1)])
    assert own.outcome is Outcome.OVERPAID and own.paid_micro == 40_000_000
    # The exact amount approves whoever else is waiting.
    exact = evaluate(
        parse_transaction_info(success(), SUCCESS_HASH), invoice(), SETTINGS, [rival(79_000_000)]
    )
    assert exact.outcome is Outcome.APPROVE


def test_a_transfer_made_after_the_invoice_expired_goes_to_review() -> None:
    expired = invoice(created=CREATED - timedelta(hours=24))  # expired at 03:00, paid at 03:20
    verdict = judge(success(), expired)
    assert verdict.outcome is Outcome.REVIEW and verdict.reason is CheckNote.PAID_LATE
    last_ms = invoice(created=datetime.fromtimestamp(TX_TIME_MS // 1000, UTC) - timedelta(hours=24))
    assert judge(success(), last_ms).reason is CheckNote.PAID_LATE  # expiry itself is late


def test_the_decimals_field_does_not_change_the_amount() -> None:
    verdict = judge(variant(lambda d: transfer(d).update(decimals=18)))
    assert verdict.outcome is Outcome.APPROVE and verdict.paid_micro == 29_000_000


def test_an_invoice_two_steps_up_does_not_accept_the_base_price() -> None:
    verdict = judge(success(), invoice(amount_micro=29_020_000))
    assert verdict.outcome is Outcome.PARTIAL and verdict.reason is CheckNote.UNDERPAID


@pytest.mark.parametrize(
    ("confirmations", "outcome"),
    [(0, Outcome.PENDING), (18, Outcome.PENDING), (19, Outcome.APPROVE)],
)
def test_confirmations_below_the_minimum_keep_it_pending(
    confirmations: int, outcome: Outcome
) -> None:
    verdict = judge(success(confirmations=confirmations))
    assert verdict.outcome is outcome
    if outcome is Outcome.PENDING:
        assert verdict.reason is CheckNote.CONFIRMATIONS


def test_the_confirmed_flag_alone_is_not_enough() -> None:
    verdict = judge(variant(lambda d: d.update(confirmed=True, confirmations=3)))
    assert verdict.outcome is Outcome.PENDING


def test_a_transfer_older_than_the_invoice_goes_to_review() -> None:
    created_after = datetime.fromtimestamp(TX_TIME_MS // 1000, UTC) + timedelta(milliseconds=1)
    verdict = judge(success(), invoice(created=created_after))
    assert verdict.outcome is Outcome.REVIEW and verdict.reason is CheckNote.BEFORE_INVOICE
    same_ms = datetime.fromtimestamp(TX_TIME_MS // 1000, UTC)
    assert epoch_ms(same_ms) == TX_TIME_MS
    assert judge(success(), invoice(created=same_ms)).outcome is Outcome.APPROVE


def test_another_receive_address_in_the_invoice_is_what_counts() -> None:
    other = InvoiceRecord(**{**invoice().__dict__, "receive_address": USDT})
    verdict = judge(success(), other)
    assert verdict.reason is CheckNote.WRONG_RECIPIENT


@pytest.mark.parametrize("text", ["", "abc", "g" * 64, "0x" + "a" * 64, "a" * 63, "a" * 65])
def test_transaction_hashes_are_64_hex(text: str) -> None:
    with pytest.raises(Refusal) as refused:
        normalise_tx_hash(text)
    assert refused.value.reason == TxHashMalformed()


def test_transaction_hashes_are_stored_lowercase() -> None:
    assert normalise_tx_hash(f"  {SUCCESS_HASH.upper()} ") == SUCCESS_HASH
