"""Watched transfers: the bot reads the receive address's incoming USDT transfers and pays the
invoice whose unique amount a transfer carries, without a hash. What an attacker tries:

- front-run the payer with /pay at the very moment the watcher finds the transfer, hoping
  the transfer pays their invoice, or two invoices, or burns it;
- send a token that calls itself USDT with the right amount, or a transfer the list shows as
  fine but the transaction's record does not, hoping the list alone approves it (or makes
  the payer's account fail verifications and look suspicious);
- rely on a transfer to another address, or one made before the invoice existed;
- make TronScan list a transfer twice, or fail (down, 429, odd JSON) mid-read, hoping a
  transfer is paid twice or lost.

Defence: a listed row is only a hint. It must carry the exact USDT contract, the receive
address and the unique amount of an invoice alive at its block time; then the transaction's
own record must bear it out under the /pay rules before a payment is made, and that payment
goes through the same submit as /pay (partial unique index on held hashes, compare-and-set
approval). Each hash is recorded once; the cursor moves only after a whole window was read.
Whatever pays nobody is listed in one admin alert an hour.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from core.clock import FakeClock
from core.payments.rules import epoch_ms
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.fake_tronscan import (
    FAKE_USDT,
    SUCCESS_HASH,
    TX_TIME_MS,
    FakeTronscan,
    incoming,
    success,
    tx_hash,
)
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.steps import db_rows, events
from tests.support.watch_steps import (
    cursor,
    quicken_watch,
    unmatched_alerts,
    watch_round,
    watched,
)

pytestmark = pytest.mark.payments

VICTIM, MALLORY = "victim@example.com", "mallory@example.com"
ELSEWHERE = "TS8rFyec428XemxfPXTdPM7FAyiX88qr59"  # a valid address that is not ours


async def _nothing_paid(bot: BotHarness) -> None:
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(0,)]
    assert await db_rows(bot, "SELECT COUNT(*) FROM licenses") == [(0,)]
    assert await db_rows(bot, "SELECT status FROM invoices") == [("open",)]


async def _suspicions(bot: BotHarness) -> list[str]:
    return [
        str(e.details["rule"])
        for e in await events(bot)
        if e.event_type == "SUSPICIOUS_ACTIVITY"
        and e.details["rule"] != "payment_unmatched_transfers"
    ]


@pytest.mark.parametrize(
    "order", ["victim, mallory, job", "mallory, job, victim", "job, mallory, victim"]
)
async def test_the_same_instant_race_of_two_pays_and_the_watcher_pays_the_payer_once(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock, order: str
) -> None:
    victim = await payer(bot, 2, VICTIM)
    mallory = await payer(bot, 3, MALLORY)
    assert "exactly 29.00 USDT" in await invoice_for(bot, victim)
    assert "exactly 29.02 USDT" in await invoice_for(bot, mallory)
    fake.add(success())  # the victim's 29.00 USDT transfer, final, visible to everyone
    fake.incoming.append(incoming())
    clock.advance(minutes=30)
    runs = {
        "victim": bot.send(victim, f"/pay 1 {SUCCESS_HASH}"),
        "mallory": bot.send(mallory, f"/pay 2 {SUCCESS_HASH}"),
        "job": watch_round(bot),
    }
    await asyncio.gather(*(runs[name] for name in order.split(", ")))
    assert "Payment #" in await said(bot, victim, "confirmed: 29.00 USDT")
    await bot.settle()
    await asyncio.sleep(0.2)  # background checks of the losing submissions finish

    assert await db_rows(
        bot, "SELECT invoice_id, account_id FROM payments WHERE status = 'approved'"
    ) == [(1, 1)]
    assert await db_rows(bot, "SELECT account_id FROM licenses") == [(1,)]
    assert await db_rows(bot, "SELECT id, status FROM invoices ORDER BY id") == [
        (1, "paid"),
        (2, "open"),
    ]
    assert sum("confirmed: 29.00 USDT" in t for t in bot.texts(victim.id)) == 1
    assert not any("confirmed: " in t for t in bot.texts(mallory.id))
    approvals = [e for e in await events(bot) if e.event_type == "PAYMENT_APPROVED"]
    assert len(approvals) == 1
    assert "payment_hash_reuse" not in await _suspicions(bot)  # the payer is never suspected


async def test_the_race_with_the_job_ticking_on_its_own_schedule_pays_once(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    victim = await payer(bot, 2, VICTIM)
    mallory = await payer(bot, 3, MALLORY)
    await invoice_for(bot, victim)
    await invoice_for(bot, mallory)
    fake.add(success())
    clock.advance(minutes=30)
    quicken_watch(bot)  # the real JobQueue now runs a round every few tens of milliseconds
    fake.incoming.append(incoming())
    await asyncio.gather(
        bot.send(mallory, f"/pay 2 {SUCCESS_HASH}"), bot.send(victim, f"/pay 1 {SUCCESS_HASH}")
    )
    await said(bot, victim, "confirmed: 29.00 USDT")
    await asyncio.sleep(0.3)
    assert await db_rows(bot, "SELECT account_id FROM licenses") == [(1,)]
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments WHERE status = 'approved'") == [(1,)]
    assert sum("confirmed: 29.00 USDT" in t for t in bot.texts(victim.id)) == 1


async def test_a_token_that_calls_itself_usdt_with_the_right_amount_pays_nothing(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.incoming.append(incoming(tx_hash=tx_hash(7), token=FAKE_USDT, symbol="USDT"))
    clock.advance(minutes=30)
    await watch_round(bot)
    await _nothing_paid(bot)
    assert await watched(bot) == [(tx_hash(7)[:8], "unmatched", "not_usdt", None)]
    assert not fake.requests  # never even looked up: the contract alone rules it out
    [evidence] = await unmatched_alerts(bot)
    assert json.loads(evidence)["reasons"] == "not_usdt 1"
    assert not any("seen on the TRON chain" in t for t in bot.texts(victim.id))


async def test_a_row_the_transaction_record_does_not_bear_out_makes_no_payment_and_no_suspect(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    """The list says 29.00 USDT to us; the transaction's own record says another token (or a
    failed transfer). The watcher never makes a payment, so the payer's account collects no
    failed verification (three would flag it as suspicious)."""
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    for n in range(4):
        lying = success(tx_hash=tx_hash(n + 1))
        lying["trc20TransferInfo"][0]["contract_address"] = FAKE_USDT
        fake.add(lying)
        fake.incoming.append(incoming(tx_hash=tx_hash(n + 1), block_ms=TX_TIME_MS + n))
    clock.advance(minutes=30)
    await watch_round(bot)
    await watch_round(bot)
    await _nothing_paid(bot)
    assert {state for _, state, _, _ in await watched(bot)} == {"unmatched"}
    assert {reason for _, _, reason, _ in await watched(bot)} == {"not_confirmed"}
    assert await _suspicions(bot) == []
    assert len(await unmatched_alerts(bot)) == 1


async def test_the_right_amount_to_another_address_pays_nothing(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.add(success(tx_hash=tx_hash(5)))
    fake.incoming.append(incoming(tx_hash=tx_hash(5), to=ELSEWHERE))
    clock.advance(minutes=30)
    await watch_round(bot)
    await _nothing_paid(bot)
    assert await watched(bot) == [(tx_hash(5)[:8], "unmatched", "other_address", None)]


async def test_a_transfer_made_before_the_invoice_was_created_pays_nothing(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    clock.advance(minutes=30)  # the invoice is made at 03:30, the transfer was at 03:20
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.add(success())
    fake.incoming.append(incoming())
    clock.advance(minutes=5)
    await watch_round(bot)
    await _nothing_paid(bot)
    assert await watched(bot) == [(SUCCESS_HASH[:8], "unmatched", "outside_invoice_time", None)]
    assert not fake.requests


async def test_the_same_transfer_listed_twice_across_two_polls_pays_once_and_says_so_once(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.add(success(confirmations=3))
    fake.incoming += [incoming(confirmed=0), incoming(confirmed=0)]  # twice in one page too
    clock.advance(minutes=25)
    await watch_round(bot)
    fake.incoming = [incoming(confirmed=1)]  # the next poll lists it again, now confirmed
    clock.advance(seconds=30)
    listed = len(fake.listings)
    await watch_round(bot)
    assert len(fake.listings) == listed + 1
    assert int(fake.listings[-1].url.params["start_timestamp"]) <= TX_TIME_MS  # listed again
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(1,)]
    assert sum("seen on the TRON chain" in t for t in bot.texts(victim.id)) == 1
    assert await watched(bot) == [(SUCCESS_HASH[:8], "matched", "", 1)]


@pytest.mark.parametrize("failure", ["connect", 429, 403, 503, "bad_json", "odd_json", "timeout"])
async def test_a_poll_that_fails_loses_nothing_and_keeps_the_cursor(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock, failure: str | int
) -> None:
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.add(success())
    fake.incoming.append(incoming())
    clock.advance(minutes=30)
    fake.listing_always = failure
    await watch_round(bot)
    await _nothing_paid(bot)
    assert await watched(bot) == []
    assert await cursor(bot) is None
    assert len(fake.listings) == 4  # retried with backoff, then left for the next round

    fake.listing_always = None  # TronScan is back: the next round reads the same window
    clock.advance(seconds=30)
    await watch_round(bot)
    assert "confirmed: 29.00 USDT" in await said(bot, victim, "Payment #1 confirmed")
    assert await cursor(bot) == epoch_ms(clock.now())


async def test_a_read_that_fails_on_its_second_page_keeps_the_cursor_behind_the_unread(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.add(success())
    fake.incoming.append(incoming())  # the oldest row: on the second page, newest first
    for n in range(50):  # fifty newer dust transfers fill the first page
        fake.incoming.append(
            incoming(tx_hash=tx_hash(100 + n), amount="1", block_ms=TX_TIME_MS + 1000 + n)
        )
    clock.advance(minutes=30)
    fake.listing_failures = ["ok", 429, 429, 429, 429]
    await watch_round(bot)
    assert await cursor(bot) is None  # the window was not read whole
    assert len(await watched(bot)) == 50  # the first page is kept (recognised next time)
    await _nothing_paid(bot)

    await watch_round(bot)
    assert "confirmed: 29.00 USDT" in await said(bot, victim, "Payment #1 confirmed")
    assert await cursor(bot) == epoch_ms(clock.now())
    assert len(await watched(bot)) == 51
    [evidence] = await unmatched_alerts(bot)  # fifty dust transfers: one alert
    assert json.loads(evidence)["transfers"] == 50


async def test_a_window_with_more_transfers_than_a_round_reads_is_read_to_its_oldest(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flooding the address with dust so the payer's transfer sits past what one round reads
    (newest first) only delays it: the next rounds read the older part of the window."""
    monkeypatch.setattr("core.payments.watch.MAX_PAGES", 1)  # one page of 50 rows a round
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.add(success())
    fake.incoming.append(incoming())  # the oldest row
    for n in range(120):  # newer dust, 120 rows: three pages
        fake.incoming.append(
            incoming(tx_hash=tx_hash(100 + n), amount="1", block_ms=TX_TIME_MS + 1000 + n)
        )
    clock.advance(minutes=30)
    for expected in (50, 99):  # each backlog window re-reads its oldest row (recognised)
        await watch_round(bot)
        assert len(await watched(bot)) == expected
        assert await cursor(bot) is not None
        await _nothing_paid(bot)
    await watch_round(bot)  # the rest, down to the payer's transfer
    assert "confirmed: 29.00 USDT" in await said(bot, victim, "Payment #1 confirmed")
    assert len(await watched(bot)) == 121
    assert await cursor(bot) == epoch_ms(clock.now())  # the first window's end: all read
    clock.advance(seconds=30)
    fake.incoming = fake.incoming[-10:]  # older rows leave the list window
    await watch_round(bot)  # back to reading up to now, in one page
    assert await cursor(bot) == epoch_ms(clock.now())


async def test_transaction_info_unreachable_keeps_the_match_for_the_next_round(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.add(success())
    fake.incoming.append(incoming())
    clock.advance(minutes=30)
    fake.always = 429
    await watch_round(bot)
    assert await watched(bot) == [(SUCCESS_HASH[:8], "retry", "", None)]
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(0,)]
    fake.always = None
    fake.incoming.clear()  # gone from the list window: the match itself was kept
    clock.advance(hours=1)
    await watch_round(bot)
    assert "confirmed: 29.00 USDT" in await said(bot, victim, "Payment #1 confirmed")


def _h(n: int) -> str:
    return f"{n:02x}" * 32


async def test_unmatched_transfers_fold_into_one_alert_an_hour(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.incoming += [
        incoming(tx_hash=_h(1), amount="1"),
        incoming(tx_hash=_h(2), amount="29020000", block_ms=TX_TIME_MS + 1),
        incoming(tx_hash=_h(3), token=FAKE_USDT, block_ms=TX_TIME_MS + 2),
        incoming(tx_hash=_h(4), to=ELSEWHERE, block_ms=TX_TIME_MS + 3),
        incoming(tx_hash=_h(5), contract_ret="OUT_OF_ENERGY", block_ms=TX_TIME_MS + 4),
    ]
    clock.advance(minutes=30)
    await watch_round(bot)
    [first] = await unmatched_alerts(bot)
    assert json.loads(first) == {
        "transfers": 5,
        "reasons": "dust 1, failed 1, not_usdt 1, other_address 1, unknown_amount 1",
        "amounts": ["0.000001", "29.02", "29.00", "29.00", "29.00"],
        "hashes": [_h(n)[:8] + "…" for n in range(1, 6)],
    }
    for n in range(6, 16):  # ten more within the hour: no alert for any of them yet
        clock.advance(minutes=5)
        now_ms = epoch_ms(clock.now())
        fake.incoming.append(incoming(tx_hash=_h(n), amount="2", block_ms=now_ms - 1000))
        await watch_round(bot)
    assert len(await unmatched_alerts(bot)) == 1
    clock.advance(minutes=15)  # the hour is over: one alert lists all ten
    await watch_round(bot)
    second = json.loads((await unmatched_alerts(bot))[1])
    assert second["transfers"] == 10
    assert second["hashes"] == [_h(n)[:8] + "…" for n in range(6, 16)]
    clock.advance(minutes=10)
    fake.incoming.append(incoming(tx_hash=_h(16), amount="3", block_ms=epoch_ms(clock.now())))
    await watch_round(bot)
    assert len(await unmatched_alerts(bot)) == 2  # the next one waits for its hour
    clock.advance(hours=1)
    await watch_round(bot)
    assert json.loads((await unmatched_alerts(bot))[2])["transfers"] == 1
    unalerted = "SELECT COUNT(*) FROM watched_transfers WHERE alerted_at IS NULL"
    assert await db_rows(bot, unalerted) == [(0,)]
    await _nothing_paid(bot)


@pytest.mark.quick_jobs
async def test_the_admin_chat_reads_one_message_for_many_unmatched_transfers(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    victim = await payer(bot, 2, VICTIM)
    await invoice_for(bot, victim)
    fake.incoming += [
        incoming(tx_hash=_h(n), amount=str(n), block_ms=TX_TIME_MS + n) for n in range(1, 31)
    ]
    fake.incoming.append(incoming(tx_hash=_h(40), token=FAKE_USDT, block_ms=TX_TIME_MS + 40))
    clock.advance(minutes=30)
    await watch_round(bot)
    title = "Transfers to the receive address that pay no invoice"
    alert = await bot.wait_for(
        lambda: next((t for t in bot.texts(ADMIN_CHAT_ID) if title in t), None)
    )
    assert "transfers: 31" in alert and "dust 30, not_usdt 1" in alert
    assert "0.000001" in alert and "01010101…" in alert
    await asyncio.sleep(0.3)  # the outbox ran several times meanwhile
    assert sum(title in t for t in bot.texts(ADMIN_CHAT_ID)) == 1
    assert "<" not in alert  # the evidence arrives as text, never as markup
