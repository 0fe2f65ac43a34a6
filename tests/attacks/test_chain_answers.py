"""Chain answers that are not what they seem: TronScan's answer about a transaction looks like a
payment but says, in a field a lenient reader skips, that it is not final (``confirmed`` false),
was reverted (``revert`` true) or that the transfer itself failed (``status`` 1); or it names
the payee in hex (``41…``) so a string comparison misses the right payee or is fooled; or it is
not in the recorded shape at all (no ``contractRet``, ``amount_str`` as a number,
``trc20TransferInfo`` as an object, JSON that is not a transaction), as a changed API, a
man-in-the-middle or a lying mirror would answer.

Defence: the reader is strict (core/adapters/tronscan.py): hex addresses are normalised to
base58check before any comparison, and an answer off the recorded shape is never judged. The
rules (core/payments/rules.py) fail a reverted transaction or a failed transfer, and wait for
``confirmed``. An odd answer keeps the payment pending, with no license, and raises exactly one
admin alert per payment however often the re-check job sees it again.

Every variant is the recorded success fixture with one field changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.fake_telegram import TelegramUser
from core.payments.tron import normalise_tron_address
from tests.support.fake_tronscan import RECEIVE_ADDRESS, SUCCESS_HASH, USDT, FakeTronscan, success
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.steps import db_rows

pytestmark = pytest.mark.payments

PAYER = "payer@example.com"
# The ``41…`` hex forms (0x41 + 20-byte body) of the invoice's address, the USDT contract and
# the fixture's sender (a real address that is not ours), as TronScan sometimes gives them.
RECEIVE_HEX = "41fee76d199991f5e11fa83cac24e818708901ba90"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
OTHER_PAYEE_HEX = "41b154db6156bd18c972cff1ae7c86ce1132e2c206"


def test_the_hex_forms_are_those_addresses() -> None:
    assert normalise_tron_address(RECEIVE_HEX) == RECEIVE_ADDRESS
    assert normalise_tron_address(USDT_HEX.upper()) == USDT
    assert normalise_tron_address(OTHER_PAYEE_HEX) == "TS8rFyec428XemxfPXTdPM7FAyiX88qr59"


def changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    tx = success()
    change(tx)
    return tx


def first(tx: dict[str, Any]) -> dict[str, Any]:
    transfer: dict[str, Any] = tx["trc20TransferInfo"][0]
    return transfer


async def run_recheck_job(bot: BotHarness) -> None:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("payments-recheck")
    await job.run(bot.app)


async def pay(bot: BotHarness, fake: FakeTronscan, answer: Any) -> TelegramUser:
    """A user with an invoice for 29.00 USDT who /pays the fixture's hash; TronScan answers."""
    user = await payer(bot, 2, PAYER)
    assert "exactly 29.00 USDT" in await invoice_for(bot, user)
    fake.transactions[SUCCESS_HASH] = answer
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    return user


async def no_license_and_no_alert(bot: BotHarness) -> None:
    assert await db_rows(bot, "SELECT COUNT(*) FROM licenses") == [(0,)]
    assert await db_rows(bot, "SELECT COUNT(*) FROM alerts") == [(0,)]


async def test_a_transaction_tronscan_says_is_not_confirmed_waits(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await pay(bot, fake, changed(lambda d: d.update(confirmed=False)))
    await said(bot, user, "waiting for enough confirmations")
    await run_recheck_job(bot)
    assert await db_rows(bot, "SELECT status, note FROM payments") == [("pending", "confirmations")]
    await no_license_and_no_alert(bot)

    fake.transactions[SUCCESS_HASH] = success()  # now final: approved as usual
    await run_recheck_job(bot)
    await said(bot, user, "confirmed")
    assert await db_rows(bot, "SELECT status FROM payments") == [("approved",)]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(revert=True), id="revert-true"),
        pytest.param(lambda d: first(d).update(status=1), id="transfer-status-1"),
    ],
)
async def test_a_reverted_transaction_or_failed_transfer_is_refused(
    bot: BotHarness, fake: FakeTronscan, change: Callable[[dict[str, Any]], None]
) -> None:
    user = await pay(bot, fake, changed(change))
    failed = await said(bot, user, "Payment #1 can't be accepted")
    assert "failed on the chain" in failed
    assert await db_rows(bot, "SELECT status, note, signature FROM payments") == [
        ("failed", "tx_failed", None)
    ]
    await no_license_and_no_alert(bot)


async def test_the_right_payee_in_hex_is_accepted(bot: BotHarness, fake: FakeTronscan) -> None:
    def hexed(d: dict[str, Any]) -> None:
        first(d).update(to_address=RECEIVE_HEX, contract_address=USDT_HEX.upper())

    user = await pay(bot, fake, changed(hexed))
    await said(bot, user, "confirmed")
    assert await db_rows(bot, "SELECT status FROM payments") == [("approved",)]
    assert await db_rows(bot, "SELECT COUNT(*) FROM licenses") == [(1,)]


async def test_another_payee_in_hex_is_refused(bot: BotHarness, fake: FakeTronscan) -> None:
    user = await pay(bot, fake, changed(lambda d: first(d).update(to_address=OTHER_PAYEE_HEX)))
    failed = await said(bot, user, "Payment #1 can't be accepted")
    assert "wasn't sent to the invoice's address" in failed
    assert await db_rows(bot, "SELECT status, note FROM payments") == [
        ("failed", "wrong_recipient")
    ]
    await no_license_and_no_alert(bot)


ODD_ANSWERS = [
    pytest.param(changed(lambda d: first(d).update(amount_str=29_000_000)), id="amount-number"),
    pytest.param(changed(lambda d: d.pop("contractRet")), id="no-contractRet"),
    pytest.param(changed(lambda d: d.update(contractRet=None)), id="contractRet-null"),
    pytest.param(
        changed(lambda d: d.update(trc20TransferInfo=d["trc20TransferInfo"][0])),
        id="transfers-as-object",
    ),
    pytest.param(changed(lambda d: d.update(confirmed="true")), id="confirmed-as-text"),
    pytest.param(changed(lambda d: d.update(revert=0)), id="revert-as-number"),
    pytest.param(changed(lambda d: first(d).update(status="0")), id="status-as-text"),
    pytest.param(changed(lambda d: first(d).update(to_address="41zz")), id="invalid-hex-payee"),
    pytest.param(changed(lambda d: d.update(confirmations="33399")), id="confirmations-text"),
    pytest.param([success()], id="garbage-json-list"),
    pytest.param({"hash": SUCCESS_HASH, "data": [1, 2, 3]}, id="garbage-json-object"),
    pytest.param("SUCCESS", id="garbage-json-string"),
]


@pytest.mark.parametrize("answer", ODD_ANSWERS)
async def test_an_answer_off_the_recorded_shape_stays_pending_and_alerts_once(
    bot: BotHarness, fake: FakeTronscan, answer: Any
) -> None:
    user = await pay(bot, fake, answer)
    pending = await said(bot, user, "looks unusual")
    assert "Payment #1" in pending and "an admin has been asked to look" in pending
    for _ in range(3):  # the job sees the same odd answer every round
        await run_recheck_job(bot)
    assert await db_rows(bot, "SELECT status, note, amount_micro, signature FROM payments") == [
        ("pending", "unexpected_answer", None, None)
    ]
    assert await db_rows(bot, "SELECT COUNT(*) FROM licenses") == [(0,)]
    assert await db_rows(bot, "SELECT rule, subject FROM alerts") == [
        ("payment_unexpected_answer", "payment:1")
    ]
    verdicts = ("Payment #1 can't be accepted", "Payment #1 confirmed")
    assert not any(word in text for text in bot.texts(2) for word in verdicts)


async def test_an_odd_answer_that_turns_normal_is_then_approved(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await pay(bot, fake, changed(lambda d: d.pop("contractRet")))
    await said(bot, user, "looks unusual")
    fake.transactions[SUCCESS_HASH] = success()
    await run_recheck_job(bot)
    await said(bot, user, "confirmed")
    assert await db_rows(bot, "SELECT status FROM payments") == [("approved",)]
    assert await db_rows(bot, "SELECT COUNT(*) FROM alerts") == [(1,)]
