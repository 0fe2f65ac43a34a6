"""Issue 17 end to end: each "Must be true" bullet walked once through the real bot (PTB
Application, fake Bot API) against the fake TronScan serving the real-format fixtures (and the
fake TronGrid for the second opinion). The thorough cases and attacks live in
tests/attacks/test_hash_burning.py, test_money_counted_once.py,
test_late_money_and_admin_review.py, test_watched_transfers.py, test_hoarding.py and
tests/test_payment_watch.py, test_second_source.py, test_payment_screen.py,
test_renewal_reminders.py, test_tronscan_strict.py; this file proves the bullets hold together.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.fake_telegram import Message, TelegramUser
from core.adapters.trongrid import TrongridSettings, TrongridSource
from core.clock import FakeClock
from core.config import Secret, Settings, load_settings
from core.errors import ConfigError
from core.payments.rules import epoch_ms
from core.services import Services
from tests.support import raw_db
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fake_trongrid import API_KEY, FakeTrongrid, solid_info
from tests.support.fake_tronscan import (
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    TX_TIME_MS,
    FakeTronscan,
    incoming,
    payments_config,
    success,
    tx_hash,
)
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.services import build_services
from tests.support.steps import db_rows, enable_2fa, events, login, register, scan_qr
from tests.support.watch_steps import recheck_round, unmatched_alerts, watch_round, watched

pytestmark = pytest.mark.payments

PAYER, MALLORY = "payer@example.com", "mallory@example.com"
EXPIRES = datetime(2025, 11, 29, 3, 0, tzinfo=UTC)  # invoices made at the test's start


def sent(fake: FakeTronscan, n: int, amount: str, *, at_ms: int = TX_TIME_MS) -> str:
    """A final USDT transfer of ``amount`` (micro-USDT text) to our address."""
    return fake.add(success(tx_hash=tx_hash(n), amount_str=amount, timestamp=at_ms))


async def suspicions(bot: BotHarness) -> list[str]:
    return [
        str(e.details["rule"]) for e in await events(bot) if e.event_type == "SUSPICIOUS_ACTIVITY"
    ]


async def admin_chat(bot: BotHarness, words: str) -> Message:
    found: Message = await bot.wait_for(
        lambda: next((m for m in bot.api.sent_to(ADMIN_CHAT_ID) if words in m.plain), None)
    )
    return found


def message_with(bot: BotHarness, user: TelegramUser, words: str) -> Message:
    return next(m for m in bot.api.sent_to(user.id) if words in m.plain)


async def decide(bot: BotHarness, clock: FakeClock, command: str) -> str:
    """An admin with 2FA runs ``command`` (/approve or /credit) and confirms with a code."""
    admin = bot.user(ADMIN_ID)
    totp, _ = await enable_2fa(bot, admin, clock)
    (ask,) = await bot.send(admin, command)
    assert "Send your 6-digit 2FA code" in ask.plain, ask.plain
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    return done.plain


# --- No hash burning ----------------------------------------------------------------------


async def test_no_hash_burning(bot: BotHarness, fake: FakeTronscan) -> None:
    payer_user, mallory = await payer(bot, 2, PAYER), await payer(bot, 3, MALLORY)
    await invoice_for(bot, payer_user)  # 29.00
    await invoice_for(bot, mallory)  # 29.02
    fake.add(success())  # the payer's 29.00 transfer, public on the chain
    await bot.send(mallory, f"/pay 2 {SUCCESS_HASH}")
    assert "amount doesn't match" in await said(bot, mallory, "Payment #1 can't be accepted")
    await bot.send(payer_user, f"/pay 1 {SUCCESS_HASH}")  # the hash was freed for its invoice
    await said(bot, payer_user, "Payment #2 confirmed: 29.00 USDT")
    assert await suspicions(bot) == []  # the later submitter is not suspected
    (again,) = await bot.send(mallory, f"/pay 2 {SUCCESS_HASH}")  # never pays two invoices
    assert "already used for a payment" in again.plain
    assert await db_rows(bot, "SELECT invoice_id, status FROM payments ORDER BY id") == [
        (2, "failed"),
        (1, "approved"),
    ]
    index = await raw_db.index_definition(bot.settings, "payments_tx_hash_held")
    assert "UNIQUE INDEX" in index and "WHERE" in index  # the database enforces it


@pytest.mark.parametrize("front_runner_first", [True, False])
async def test_the_same_instant_race_of_front_runner_payer_and_watcher(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock, front_runner_first: bool
) -> None:
    payer_user, mallory = await payer(bot, 2, PAYER), await payer(bot, 3, MALLORY)
    await invoice_for(bot, payer_user)
    await invoice_for(bot, mallory)
    fake.add(success())
    fake.incoming.append(incoming())
    clock.advance(minutes=30)
    runs = [
        bot.send(mallory, f"/pay 2 {SUCCESS_HASH}"),
        bot.send(payer_user, f"/pay 1 {SUCCESS_HASH}"),
    ]
    await asyncio.gather(*(runs if front_runner_first else runs[::-1]), watch_round(bot))
    await said(bot, payer_user, "confirmed: 29.00 USDT")
    await bot.settle()
    await asyncio.sleep(0.2)  # the losing submissions' background checks finish
    assert await db_rows(bot, "SELECT invoice_id FROM payments WHERE status = 'approved'") == [(1,)]
    assert await db_rows(bot, "SELECT account_id FROM licenses") == [(1,)]
    assert sum("confirmed: 29.00 USDT" in t for t in bot.texts(payer_user.id)) == 1
    assert "payment_hash_reuse" not in await suspicions(bot)


# --- One transfer, one invoice --------------------------------------------------------------


async def test_one_transfer_one_invoice(tmp_path: Path, env: dict[str, str]) -> None:
    config = payments_config(tmp_path)
    config.write_text(config.read_text() + 'amount_tolerance = "0.01"\n')  # half the 0.02 step
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env)
    assert "amount_tolerance" in refused.value.problems[0]
    ok = load_settings(payments_config(tmp_path), env)
    loose = replace(ok, payments=replace(ok.payments, amount_tolerance_micro=10_000))
    with pytest.raises(ConfigError):  # settings made in code are refused at start-up too
        await build_services(loose, FakeClock())


# --- Over- and under-payment ----------------------------------------------------------------


async def test_over_payment_is_approved_and_the_excess_credited(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '30500000')}")
    told = await said(bot, user, "Payment #1 confirmed: 30.50 USDT")
    assert "1.50 USDT more than the invoice: it is credited to your /wallet" in told
    assert await db_rows(bot, "SELECT amount_micro, kind, payment_id FROM wallet_entries") == [
        (1_500_000, "overpayment_credit", 1)
    ]
    (approved,) = [e for e in await events(bot) if e.event_type == "PAYMENT_APPROVED"]
    assert approved.details["excess_credited_micro"] == 1_500_000
    (wallet,) = await bot.send(user, "/wallet")
    assert "1.50" in wallet.plain
    notice = await admin_chat(bot, "Payment #1 approved by the chain check")
    assert "1.50 USDT beyond the invoice went to the payer's wallet" in notice.plain


async def test_under_payment_is_partial_and_the_sum_counts(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '20000000')}")
    told = await said(bot, user, "Payment #1: 20.00 USDT arrived")
    assert "Send the missing 9.00 USDT" in told
    await bot.send(user, f"/pay 1 {sent(fake, 2, '9000000')}")
    await said(bot, user, "Payment #2 confirmed: 9.00 USDT")
    assert await db_rows(bot, "SELECT id, status FROM payments ORDER BY id") == [
        (1, "partial"),
        (2, "approved"),
    ]
    assert await db_rows(bot, "SELECT account_id, payment_id FROM licenses") == [(1, 2)]


async def test_an_admin_credits_a_partial_payment_to_the_wallet(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '20000000')}")
    await said(bot, user, "missing 9.00 USDT")
    done = await decide(bot, clock, "/credit 1")
    assert "20.00 USDT credited to the payer's wallet" in done
    await said(bot, user, "20.00 USDT credited to your wallet")
    assert await db_rows(bot, "SELECT amount_micro, kind FROM wallet_entries") == [
        (20_000_000, "payment_credit")
    ]


# --- Paid late ------------------------------------------------------------------------------


async def test_paid_late_in_time_is_taken_and_after_expiry_goes_to_an_admin(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await invoice_for(bot, user, "pro")
    in_time = sent(fake, 1, "29000000")  # made before the basic invoice expired
    too_late = sent(fake, 2, "79000000", at_ms=epoch_ms(EXPIRES) + 1000)  # after pro's expiry
    clock.advance(days=7, hours=23)  # a week after both expired
    await login(bot, user, email=PAYER)
    await bot.send(user, f"/pay 1 {in_time}")
    await said(bot, user, "Payment #1 confirmed: 29.00 USDT")
    await bot.send(user, f"/pay 2 {too_late}")
    told = await said(bot, user, "Payment #2: your USDT arrived")
    assert "the transfer was made after the invoice expired" in told
    alert = await admin_chat(bot, "A payment waits for an admin")
    assert "/approve ID for the plan, /credit ID for the wallet" in alert.plain
    assert "Payment #2 approved" not in " ".join(bot.texts(ADMIN_CHAT_ID))
    assert "approved" in await decide(bot, clock, "/approve 2")
    assert await db_rows(bot, "SELECT payment_id FROM licenses ORDER BY id") == [(1,), (2,)]


# --- Detection without a hash ---------------------------------------------------------------


async def test_detection_without_a_hash(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    fake.incoming += [incoming(), incoming(tx_hash=tx_hash(7), amount="31000000")]
    fake.add(success(confirmations=5))
    clock.advance(minutes=30)
    await watch_round(bot)
    await said(bot, user, "seen on the TRON chain: 29.00 USDT, 5/19")
    status = message_with(bot, user, "seen on the TRON chain")
    fake.add(success(confirmations=12))
    await recheck_round(bot)
    assert "12/19" in status.plain  # edited in place
    fake.add(success(confirmations=19))
    await recheck_round(bot)
    await said(bot, user, "Payment #1 confirmed: 29.00 USDT")
    assert "Payment #1 for invoice #1: ✅ approved" in status.plain  # not stuck at 12/19
    notice = await admin_chat(bot, "Payment #1 approved by the chain check")
    assert notice.disable_notification  # a silent notice
    # The 31.00 transfer fits no invoice: in the digest, with what the admins can do.
    assert (tx_hash(7)[:8], "unmatched", "unknown_amount", None) in await watched(bot)
    assert '"unknown_amount 1"' in (await unmatched_alerts(bot))[0]
    digest = await admin_chat(bot, "Transfers to the receive address that pay no invoice")
    assert "Nothing was credited for these" in digest.plain
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(1,)]


async def test_a_watched_partial_already_claimed_is_not_listed_again(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    part = sent(fake, 1, "20000000")
    await bot.send(user, f"/pay 1 {part}")
    await said(bot, user, "missing 9.00 USDT")
    fake.incoming += [
        incoming(tx_hash=part, amount="20000000"),
        incoming(tx_hash=tx_hash(2), amount="12000000", block_ms=TX_TIME_MS + 1),
    ]
    clock.advance(minutes=30)
    await watch_round(bot)
    assert await watched(bot) == [
        (part[:8], "known", "", 1),
        (tx_hash(2)[:8], "unmatched", "unknown_amount", None),
    ]
    assert '"transfers":1' in (await unmatched_alerts(bot))[0]  # the unclaimed one only
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(1,)]  # never submitted


# --- Strict reading of TronScan -------------------------------------------------------------


async def test_strict_reading_of_tronscan(bot: BotHarness, fake: FakeTronscan) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await invoice_for(bot, user, "pro")
    not_final = success()
    not_final["confirmed"] = False
    fake.add(not_final)
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "⏳ Payment #1")
    odd = success(tx_hash=tx_hash(2), amount_str="79000000")
    del odd["contractRet"]
    fake.add(odd)
    await bot.send(user, f"/pay 2 {tx_hash(2)}")
    await said(bot, user, "⏳ Payment #2")
    await recheck_round(bot)
    await recheck_round(bot)
    assert await db_rows(bot, "SELECT status, note FROM payments ORDER BY id") == [
        ("pending", "confirmations"),
        ("pending", "unexpected_answer"),
    ]
    assert await db_rows(bot, "SELECT rule FROM alerts") == [("payment_unexpected_answer",)]
    assert await db_rows(bot, "SELECT COUNT(*) FROM licenses") == [(0,)]


# --- A second opinion -----------------------------------------------------------------------


@pytest.fixture
def grid() -> FakeTrongrid:
    return FakeTrongrid()


@pytest.fixture
async def cross_bot(
    tmp_path: Path, env: dict[str, str], clock: FakeClock, fake: FakeTronscan, grid: FakeTrongrid
) -> AsyncIterator[BotHarness]:
    config = payments_config(tmp_path)
    config.write_text(config.read_text() + 'second_source = "trongrid"\n')
    settings: Settings = load_settings(config, env | {"TRONGRID_API_KEY": API_KEY})
    assert settings.payments.second_source == "trongrid"
    assert API_KEY not in repr(settings)
    services: Services = await build_services(
        settings, clock, chain=fake.client(settings.tronscan), second_chain=grid.client()
    )
    bot = BotHarness(settings, services)
    await bot.start()
    yield bot
    await bot.stop()
    await services.aclose()


async def test_a_second_opinion_must_agree(
    cross_bot: BotHarness, fake: FakeTronscan, grid: FakeTrongrid
) -> None:
    user = await payer(cross_bot, 2, PAYER)
    await invoice_for(cross_bot, user)
    await invoice_for(cross_bot, user, "pro")
    fake.add(success())
    grid.add(solid_info())
    await cross_bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(cross_bot, user, "Payment #1 confirmed")
    lie = sent(fake, 2, "79000000")
    grid.add(solid_info(tx_hash=lie, amount=1_000_000))  # the solid chain says 1.00
    await cross_bot.send(user, f"/pay 2 {lie}")
    await said(cross_bot, user, "Payment #2: TronScan and TronGrid tell different stories")
    assert await db_rows(cross_bot, "SELECT status, note FROM payments ORDER BY id") == [
        ("approved", "ok"),
        ("review", "sources_disagree"),
    ]
    assert await admin_chat(cross_bot, "A payment waits for an admin")
    assert await db_rows(cross_bot, "SELECT COUNT(*) FROM licenses") == [(1,)]


async def test_the_watcher_sends_a_disagreement_to_review_too(
    cross_bot: BotHarness, fake: FakeTronscan, grid: FakeTrongrid, clock: FakeClock
) -> None:
    user = await payer(cross_bot, 2, PAYER)
    await invoice_for(cross_bot, user)
    fake.add(success())
    fake.incoming.append(incoming())
    grid.add(solid_info(timestamp=TX_TIME_MS + 3000))
    clock.advance(minutes=30)
    await watch_round(cross_bot)
    await said(cross_bot, user, "Payment #1: TronScan and TronGrid tell different stories")
    assert await db_rows(cross_bot, "SELECT status, note FROM payments") == [
        ("review", "sources_disagree")
    ]
    assert await watched(cross_bot) == [(SUCCESS_HASH[:8], "matched", "", 1)]


async def test_the_second_source_comes_from_the_config_alone(
    tmp_path: Path, env: dict[str, str], clock: FakeClock, fake: FakeTronscan
) -> None:
    config = payments_config(tmp_path)
    unreachable = 'second_source = "trongrid"\ntrongrid_url = "http://127.0.0.1:9"\n'
    config.write_text(config.read_text() + unreachable)
    settings = load_settings(config, env)
    services = await build_services(
        settings, clock, chain=fake.client(settings.tronscan), second_chain=None
    )
    bot = BotHarness(settings, services)
    await bot.start()
    try:
        user = await payer(bot, 2, PAYER)
        await invoice_for(bot, user)
        fake.add(success())  # TronScan alone says final: not enough while TronGrid is silent
        await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
        await said(bot, user, "⏳ Payment #1")
        assert await db_rows(bot, "SELECT status FROM payments") == [("pending",)]
    finally:
        await bot.stop()
        await services.aclose()


async def test_the_second_source_sends_our_key_or_none(grid: FakeTrongrid) -> None:
    grid.add(solid_info())
    keyless = grid.client(TrongridSettings(base_url="https://api.trongrid.io"))
    assert await keyless.transaction(SUCCESS_HASH) is not None
    assert "tron-pro-api-key" not in grid.requests[-1].headers  # never tronpy's shared keys
    daily = {"Error": "Exceed the user daily usage (100000), the maximum query frequency is 1s"}
    answers = [httpx.Response(403, json=daily)]
    seen: list[httpx.Request] = []

    def exceeded_once(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop() if answers else grid(request)

    keyed = TrongridSource(
        httpx.AsyncClient(transport=httpx.MockTransport(exceeded_once)),
        TrongridSettings(base_url="https://api.trongrid.io", api_key=Secret(API_KEY)),
        backoff=(0.001,) * 3,
    )
    assert await keyed.transaction(SUCCESS_HASH) is not None  # retried, with our key kept
    assert await keyed.transaction(SUCCESS_HASH) is not None  # and still there afterwards
    assert [r.headers.get("tron-pro-api-key") for r in seen] == [API_KEY] * 3
    assert json.loads(seen[-1].content)["value"] == SUCCESS_HASH


# --- Invoices cannot be hoarded -------------------------------------------------------------


async def test_invoices_cannot_be_hoarded(bot: BotHarness) -> None:
    user = await payer(bot, 2, PAYER)
    first = await invoice_for(bot, user)
    assert await invoice_for(bot, user) == first  # the same open invoice, not a new amount
    await bot.send(user, "/logout")
    await register(bot, user, email="second@example.com")
    assert "already have an open invoice for this plan" in await invoice_for(bot, user)
    await bot.send(user, "/logout")
    await register(bot, user, email="third@example.com")
    await bot.send(user, "/logout")
    fourth = await register(bot, user, email="fourth@example.com")
    assert "can't register another account from this Telegram account" in fourth
    assert await db_rows(bot, "SELECT COUNT(*) FROM invoices") == [(1,)]


# --- A payment screen people can use --------------------------------------------------------


async def test_a_payment_screen_people_can_use(bot: BotHarness, fake: FakeTronscan) -> None:
    user = await payer(bot, 2, PAYER)
    (pick,) = await bot.send(user, "/subscribe")
    (invoice,) = await bot.press(user, pick, "sub:basic")
    assert scan_qr(invoice.photo) == f"tron:{RECEIVE_ADDRESS}?amount=29.00"
    assert [b.copy_text for b in invoice.buttons] == [RECEIVE_ADDRESS, "29.00"]
    assert "Pay by 2025-11-29 03:00 UTC" in invoice.plain
    (ask,) = await bot.send(user, "/pay")
    await bot.press(user, ask, "#1 basic — 29.00 USDT")
    fake.add(success(confirmations=5))
    await bot.send(user, f"https://tronscan.org/#/transaction/{SUCCESS_HASH}")
    await said(bot, user, "5/19")
    status = message_with(bot, user, "5/19")
    fake.add(success(confirmations=12))
    await recheck_round(bot)
    assert "12/19" in status.plain and status.edits == 1
    fake.add(success(confirmations=19))
    await recheck_round(bot)
    receipt = message_with(bot, user, "Payment #1 confirmed")
    assert f"https://tronscan.org/#/transaction/{SUCCESS_HASH}" in (receipt.text or "")
    assert "✅ approved" in status.plain and status.edits == 2


# --- Renewal --------------------------------------------------------------------------------


async def test_renewal_reminders_with_a_renew_button(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    fake.add(success())
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "until 2025-12-28 03:00")
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("renewal-reminders")
    for day in (25, 25, 27, 27):  # 3 days and 1 day before, each round twice
        clock.set(datetime(2025, 12, day, 3, 30, tzinfo=UTC))
        await job.run(bot.app)
    reminders = [m for m in bot.api.sent_to(user.id) if "plan ends on" in m.plain]
    assert ["about 3 days left" in r.plain for r in reminders] == [True, False]
    await login(bot, user, email=PAYER)
    (renewed,) = await bot.press(user, reminders[1], "🔄 Renew basic")
    assert "Invoice #2" in renewed.plain and "basic plan" in renewed.plain
