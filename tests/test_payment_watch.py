"""Payments found without a hash (issue 17, SPEC §7): reading TronScan's incoming transfer
list strictly, the pure matching rules, the simulator's list, and the bot telling a payer
who never sent /pay that the transfer was seen and then approved."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.adapters.tronscan import TronscanClient, parse_transfer_page
from core.adapters.tronscan_simulator import SimulatedTronscan
from core.clock import FakeClock
from core.config import Secret, Settings, TronscanSettings, load_settings
from core.payments.chain import UnexpectedAnswerError
from core.payments.ports import InvoiceRecord, InvoiceStatus
from core.payments.rules import epoch_ms
from core.payments.watch_ports import (
    WatchCandidate,
    WatchCursor,
    WatchedTransferRecord,
    WatchState,
)
from core.payments.watch_rules import (
    FIRST_LOOKBACK,
    OVERLAP,
    Unmatched,
    digest,
    match,
    next_cursor,
    window,
)
from tests.support.fake_tronscan import (
    API_KEY,
    FAKE_USDT,
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    TX_TIME_MS,
    USDT,
    FakeTronscan,
    incoming,
    load,
    payments_config,
    success,
)
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.services import build_services
from tests.support.steps import db_rows
from tests.support.watch_steps import cursor, recheck_round, watch_round, watched

CREATED = datetime(2025, 11, 28, 3, 0, tzinfo=UTC)  # the payments clock: before the fixtures


# --- reading the list strictly ----------------------------------------------------------


def test_the_recorded_incoming_list_reads_as_five_transfers() -> None:
    rows = parse_transfer_page(load("transfer-trc20.incoming.json"))
    assert [(r.amount, r.contract_address, r.result, r.confirmed) for r in rows] == [
        (29_000_000, USDT, "SUCCESS", True),
        (29_020_000, USDT, "SUCCESS", False),
        (1, USDT, "SUCCESS", True),
        (29_000_000, FAKE_USDT, "SUCCESS", True),  # calls itself USDT: the contract says not
        (79_000_000, USDT, "OUT_OF_ENERGY", True),
    ]
    assert rows[0].hash == SUCCESS_HASH and rows[0].block_ms == TX_TIME_MS
    assert {r.to_address for r in rows} == {RECEIVE_ADDRESS}
    assert parse_transfer_page(load("transfer-trc20.empty.json")) == ()


def _odd(change: str) -> Any:
    page: dict[str, Any] = copy.deepcopy(load("transfer-trc20.incoming.json"))
    row = page["data"][0]
    if change == "numeric amount":
        row["amount"] = 29000000
    elif change == "no hash":
        del row["hash"]
    elif change == "confirmed as text":
        row["confirmed"] = "yes"
    elif change == "no tokenInfo":
        del row["tokenInfo"]
    elif change == "token not an address":
        row["tokenInfo"]["tokenId"] = "USDT"
    elif change == "no contract_ret":
        del row["contract_ret"]
    elif change == "data not a list":
        page["data"] = {"rows": page["data"]}
    elif change == "code 500":
        page["code"] = 500
    elif change == "not an object":
        return [row]
    return page


@pytest.mark.parametrize(
    "change",
    [
        "numeric amount",
        "no hash",
        "confirmed as text",
        "no tokenInfo",
        "token not an address",
        "no contract_ret",
        "data not a list",
        "code 500",
        "not an object",
    ],
)
def test_a_page_off_the_recorded_shape_is_never_read_in_part(change: str) -> None:
    with pytest.raises(UnexpectedAnswerError):
        parse_transfer_page(_odd(change))


def test_a_hex_payee_is_read_as_base58() -> None:
    page = load("transfer-trc20.incoming.json")
    page["data"] = [dict(page["data"][0], to="41FD1E6C0A2C3A6BAB0E40D1C4C1A1E0D6E3C2B1A0")]
    [row] = parse_transfer_page(page)
    assert row.to_address.startswith("T") and len(row.to_address) == 34


async def test_the_client_asks_with_the_documented_parameters_and_the_key_header() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=load("transfer-trc20.incoming.json"))

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = TronscanClient(http, load_settings_tronscan(), backoff=(0.001,))
        rows = await client.incoming_transfers(
            RECEIVE_ADDRESS, USDT, start_ms=1, end_ms=2, offset=50, limit=50
        )
    assert len(rows) == 5
    (request,) = seen
    assert request.url.path == "/api/transfer/trc20"
    assert dict(request.url.params) == {
        "address": RECEIVE_ADDRESS,
        "trc20Id": USDT,
        "direction": "2",
        "start": "50",
        "limit": "50",
        "sort": "-timestamp",
        "db_version": "1",
        "start_timestamp": "1",
        "end_timestamp": "2",
    }
    assert request.headers["TRON-PRO-API-KEY"] == API_KEY


def load_settings_tronscan() -> TronscanSettings:
    return TronscanSettings(base_url="https://tronscan.test", api_key=Secret(API_KEY))


async def test_the_simulator_lists_transfers_in_the_recorded_shape_newest_first() -> None:
    clock = FakeClock(CREATED)
    chain = SimulatedTronscan(clock)
    first = chain.pay(RECEIVE_ADDRESS, 29_000_000)
    clock.advance(seconds=60)
    second = chain.pay(RECEIVE_ADDRESS, 79_000_000)
    chain.pay("TS8rFyec428XemxfPXTdPM7FAyiX88qr59", 5_000_000)  # to someone else: not listed
    chain.confirm()
    client = chain.client()
    try:
        rows = await client.incoming_transfers(
            RECEIVE_ADDRESS, USDT, start_ms=0, end_ms=epoch_ms(clock.now()), offset=0, limit=50
        )
        paged = await client.incoming_transfers(
            RECEIVE_ADDRESS, USDT, start_ms=0, end_ms=epoch_ms(clock.now()), offset=1, limit=1
        )
    finally:
        await chain.aclose()
    assert [r.hash for r in rows] == [second.hash, first.hash]
    assert [r.hash for r in paged] == [first.hash]
    recorded = load("transfer-trc20.incoming.json")["data"][0]
    simulated = chain.transfer_row(first)
    assert set(simulated) == set(recorded)
    assert set(simulated["tokenInfo"]) == set(recorded["tokenInfo"])
    assert {k: type(v) for k, v in simulated.items()} == {k: type(v) for k, v in recorded.items()}


# --- the pure rules ------------------------------------------------------------------------


def _invoice(amount: int = 29_000_000, created: datetime = CREATED, n: int = 1) -> InvoiceRecord:
    return InvoiceRecord(
        n, n, "basic", "basic", 30, amount, RECEIVE_ADDRESS, created,
        created + timedelta(hours=24), InvoiceStatus.OPEN, "sig",
    )  # fmt: skip


def test_each_recorded_row_meets_its_rule() -> None:
    rows = parse_transfer_page(load("transfer-trc20.incoming.json"))
    candidates = [WatchCandidate(_invoice(), 1001), WatchCandidate(_invoice(79_000_000), 1002)]

    def verdict(row_index: int) -> object:
        found = match(
            rows[row_index],
            address=RECEIVE_ADDRESS,
            usdt_contract=USDT,
            tolerance_micro=5_000,
            candidates=candidates,
        )
        return found.candidate.invoice.amount_micro if found.candidate else found.unmatched

    assert [verdict(n) for n in range(5)] == [
        29_000_000,
        Unmatched.UNKNOWN_AMOUNT,  # 29.02: no invoice of that amount
        Unmatched.DUST,
        Unmatched.NOT_USDT,
        Unmatched.FAILED,
    ]


@pytest.mark.parametrize(
    ("amount", "created_offset", "expected"),
    [
        ("29005000", 0, "match"),  # the tolerance, exactly
        ("29005001", 0, Unmatched.UNKNOWN_AMOUNT),
        ("28995000", 0, "match"),
        ("29000000", 21, Unmatched.OUTSIDE_INVOICE_TIME),  # invoice made after the transfer
        ("29000000", -24 * 60, Unmatched.OUTSIDE_INVOICE_TIME),  # expired before it
    ],
)
def test_amount_and_time_decide_the_match(
    amount: str, created_offset: int, expected: object
) -> None:
    [row] = parse_transfer_page({"data": [incoming(amount=amount)]})
    created = CREATED + timedelta(minutes=created_offset)
    found = match(
        row,
        address=RECEIVE_ADDRESS,
        usdt_contract=USDT,
        tolerance_micro=5_000,
        candidates=[WatchCandidate(_invoice(created=created), 1001)],
    )
    assert (found.unmatched or "match") == expected


def test_the_window_reads_a_little_behind_the_cursor() -> None:
    now = CREATED + timedelta(hours=1)
    first = window(None, now)
    assert (first.start_ms, first.end_ms) == (epoch_ms(now - FIRST_LOOKBACK), epoch_ms(now))
    later = window(WatchCursor(epoch_ms(CREATED)), now)
    assert (later.start_ms, later.end_ms) == (epoch_ms(CREATED - OVERLAP), epoch_ms(now))
    backlog = window(WatchCursor(epoch_ms(CREATED), backlog_end_ms=epoch_ms(CREATED) + 5), now)
    assert (backlog.start_ms, backlog.end_ms) == (
        epoch_ms(CREATED - OVERLAP),
        epoch_ms(CREATED) + 5,
    )


def test_the_cursor_moves_only_over_what_was_read() -> None:
    start = WatchCursor(1_000_000_000)
    span = window(start, CREATED)
    times = [span.end_ms - 10, span.end_ms - 20, span.end_ms + 99_999]  # one row off the window
    read = next_cursor(start, span, times, complete=True, capped=False)
    assert read == WatchCursor(span.end_ms)
    assert next_cursor(start, span, times, complete=False, capped=False) is start  # failed
    capped = next_cursor(start, span, times, complete=False, capped=True)
    assert capped == WatchCursor(start.read_to_ms, span.end_ms - 20, span.end_ms)
    older = window(capped, CREATED + timedelta(minutes=5))  # the older part, up to the top
    assert (older.start_ms, older.end_ms) == (span.start_ms, span.end_ms - 20)
    deeper = next_cursor(capped, older, [older.end_ms - 5], complete=False, capped=True)
    assert deeper == WatchCursor(start.read_to_ms, older.end_ms - 5, span.end_ms)
    assert next_cursor(deeper, older, [], complete=True, capped=False) == WatchCursor(
        span.end_ms
    )  # every part read: read up to the first window's end
    assert next_cursor(None, span, times, complete=False, capped=False) is None
    first = window(None, CREATED)
    assert next_cursor(None, first, times, complete=False, capped=True) == WatchCursor(
        first.start_ms + OVERLAP // timedelta(milliseconds=1), span.end_ms - 20, first.end_ms
    )


def test_the_digest_names_amounts_short_hashes_and_reasons() -> None:
    def seen(n: int, amount: int | None, reason: Unmatched) -> WatchedTransferRecord:
        return WatchedTransferRecord(
            f"{n:02d}" * 32, RECEIVE_ADDRESS, USDT, amount, TX_TIME_MS, CREATED,
            WatchState.UNMATCHED, str(reason),
        )  # fmt: skip

    evidence = digest(
        [seen(1, 1, Unmatched.DUST), seen(2, 29_000_000, Unmatched.NOT_USDT), seen(3, None,
         Unmatched.UNREADABLE_AMOUNT)]
    )  # fmt: skip
    assert evidence == {
        "transfers": 3,
        "reasons": "dust 1, not_usdt 1, unreadable_amount 1",
        "amounts": ["0.000001", "29.00", "?"],
        "hashes": ["01010101…", "02020202…", "03030303…"],
    }


def test_watch_seconds_defaults_to_30_and_is_checked(tmp_path: Any, env: dict[str, str]) -> None:
    config = payments_config(tmp_path)
    assert load_settings(config, env).payments.watch_seconds == 30
    config.write_text(config.read_text() + "watch_seconds = 5\n")
    with pytest.raises(Exception, match="watch_seconds"):
        load_settings(config, env)


# --- through the bot -----------------------------------------------------------------------

pay = pytest.mark.payments


@pay
async def test_the_watch_job_runs_every_watch_seconds(bot: BotHarness, settings: Settings) -> None:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("payments-watch")
    assert job.job.trigger.interval == timedelta(seconds=settings.payments.watch_seconds)


@pay
async def test_a_payer_who_never_sends_pay_is_told_seen_and_then_approved(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, "quiet@example.com")
    assert "exactly 29.00 USDT" in await invoice_for(bot, user)
    fake.incoming.append(incoming(confirmed=0))
    fake.add(success(confirmations=5))
    clock.advance(minutes=30)  # the transfer (03:20) is in the past now

    await watch_round(bot)
    seen = await said(bot, user, "seen on the TRON chain")
    assert "Payment #1 for invoice #1 seen on the TRON chain: 29.00 USDT, 5/19" in seen
    assert await db_rows(bot, "SELECT id, invoice_id, status FROM payments") == [(1, 1, "pending")]
    assert await watched(bot) == [(SUCCESS_HASH[:8], "matched", "", 1)]
    assert await cursor(bot) == epoch_ms(clock.now())  # read up to the round's time

    await watch_round(bot)  # the same transfer again: nothing new, nothing said twice
    seen_message = next(m for m in bot.api.sent_to(user.id) if "seen on the TRON" in m.plain)
    sent = len(bot.api.sent_to(user.id))
    fake.add(success(confirmations=12))
    await recheck_round(bot)  # "seen" is the status message: edited in place as they grow
    assert "12/19" in seen_message.plain and seen_message.edits == 1
    assert len(bot.api.sent_to(user.id)) == sent
    fake.add(success(confirmations=25))
    await recheck_round(bot)
    assert "Payment #1 confirmed: 29.00 USDT" in await said(bot, user, "Payment #1 confirmed")
    texts = bot.texts(user.id)
    assert "Payment #1 for invoice #1: ✅ approved" in seen_message.plain  # its final state
    assert sum("Payment #1 for invoice #1" in t for t in texts) == 1
    assert sum("confirmed: 29.00 USDT" in t for t in texts) == 1
    assert await db_rows(bot, "SELECT status FROM payments") == [("approved",)]
    assert await db_rows(bot, "SELECT account_id, payment_id FROM licenses") == [(1, 1)]


@pay
async def test_a_transfer_already_final_is_approved_in_the_same_round(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, "quiet@example.com")
    await invoice_for(bot, user)
    fake.incoming.append(incoming())
    fake.add(success())
    clock.advance(minutes=30)
    await watch_round(bot)
    assert "Payment #1 confirmed: 29.00 USDT" in await said(bot, user, "Payment #1 confirmed")
    assert not any("seen on the TRON chain" in t for t in bot.texts(user.id))
    events = await db_rows(
        bot, "SELECT event_type FROM audit_events WHERE event_type LIKE 'PAYMENT_%' ORDER BY id"
    )
    assert events == [("PAYMENT_SUBMITTED",), ("PAYMENT_APPROVED",)]


@pay
async def test_a_payer_who_sent_pay_first_gets_no_second_payment_nor_message(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, "quick@example.com")
    await invoice_for(bot, user)
    fake.add(success(confirmations=5))
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "⏳ Payment #1")
    before = len(bot.texts(user.id))
    fake.incoming.append(incoming(confirmed=0))
    clock.advance(minutes=30)
    await watch_round(bot)
    assert await watched(bot) == [(SUCCESS_HASH[:8], "matched", "", 1)]
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(1,)]
    assert len(bot.texts(user.id)) == before


@pay
async def test_the_simulated_chain_is_watched_like_the_real_one(
    settings: Settings, clock: FakeClock
) -> None:
    chain = SimulatedTronscan(clock)
    services = await build_services(settings, clock, chain=chain.client(settings.tronscan))
    bot = BotHarness(settings, services)
    await bot.start()
    try:
        user = await payer(bot, 2, "shell@example.com")
        await invoice_for(bot, user)
        chain.pay(RECEIVE_ADDRESS, 29_000_000)
        clock.advance(seconds=30)
        await watch_round(bot)
        assert "29.00 USDT, 0/19 confirmations" in await said(bot, user, "seen on the TRON")
        chain.confirm()
        await recheck_round(bot)
        assert "Payment #1 confirmed: 29.00 USDT" in await said(bot, user, "Payment #1 confirmed")
    finally:
        await bot.stop()
        await services.aclose()
        await chain.aclose()
