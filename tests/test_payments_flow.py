"""Payments through the real bot against a fake TronScan serving the recorded fixtures."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.fake_telegram import TelegramUser
from core.adapters.tronscan import API_KEY_HEADER
from core.clock import FakeClock
from core.config import PaymentSettings, Settings
from tests.support import raw_db
from tests.support.constants import ADMIN_ID
from tests.support.fake_tronscan import (
    API_KEY,
    FAKE_USDT,
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    FakeTronscan,
    success,
    tx_hash,
)
from tests.support.harness import BotHarness
from tests.support.services import build_services
from tests.support.steps import EMAIL, PASSWORD, db_rows, enable_2fa, events, login, register

pytestmark = pytest.mark.payments

TRADER = "trader2@example.com"


async def trader(bot: BotHarness, user_id: int = 2, referral: str | None = None) -> TelegramUser:
    user = bot.user(user_id)
    await register(bot, user, email=TRADER, referral=referral)
    await login(bot, user, email=TRADER)
    return user


async def invoice_for(bot: BotHarness, user: TelegramUser, plan: str = "basic") -> str:
    (pick,) = await bot.send(user, "/subscribe")
    (invoice,) = await bot.press(user, pick, f"sub:{plan}")
    return invoice.plain


async def said(bot: BotHarness, user: TelegramUser, words: str) -> str:
    """Wait for the bot to tell ``user`` something containing ``words`` (background work)."""
    text: str = await bot.wait_for(
        lambda: next((text for text in bot.texts(user.id) if words in text), None)
    )
    return text


async def run_recheck_job(bot: BotHarness) -> None:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("payments-recheck")
    await job.run(bot.app)


async def test_subscribe_pay_auto_approve_license_and_referral_commission(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    referrer = bot.user(1)
    await register(bot, referrer)
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users")
    alice = await trader(bot, referral=code)

    (plans,) = await bot.send(alice, "/plans")
    assert "basic: 29.00 USDT for 30 days" in plans.plain and "pro: 79.00 USDT" in plans.plain
    (pick,) = await bot.send(alice, "/subscribe")
    assert [b.callback_data for b in pick.buttons] == [
        "sub:basic",
        "sub:pro",
        "stars:basic",
        "stars:pro",
    ]
    (invoice,) = await bot.press(alice, pick, "sub:basic")
    assert "Invoice #1" in invoice.plain and "exactly 29.00 USDT" in invoice.plain
    assert RECEIVE_ADDRESS in invoice.plain and "2025-11-29 03:00 UTC" in invoice.plain

    fake.add(success())
    received, *_ = await bot.send(alice, f"/pay 1 {SUCCESS_HASH}")  # the check runs apart
    assert "Payment #1 for invoice #1 received" in received.plain
    done = await said(bot, alice, "confirmed")
    assert "Payment #1 confirmed: 29.00 USDT" in done and "until 2025-12-28 03:00" in done
    assert fake.requests[0].headers[API_KEY_HEADER] == API_KEY

    (me,) = await bot.send(alice, "/me")
    assert "Tier: basic" in me.plain and "License: basic until 2025-12-28 03:00 UTC" in me.plain
    assert await bot.services.ratelimit.tiers.tier_for(alice.id) == "basic"
    assert await bot.services.ratelimit.tiers.tier_for(referrer.id) == "free"

    (listing,) = await bot.send(alice, "/payments")
    assert "#1 basic — 29.00 USDT — ✅ paid" in listing.plain
    assert "#1 for invoice #1 — ✅ approved" in listing.plain

    assert await db_rows(bot, "SELECT account_id, amount_micro, kind FROM wallet_entries") == [
        (1, 2_900_000, "referral_commission")
    ]
    kinds = [e.event_type for e in await events(bot)]
    assert kinds[-3:] == ["PAYMENT_SUBMITTED", "PAYMENT_APPROVED", "SUBSCRIPTION_STARTED"]
    approved = next(e for e in await events(bot) if e.event_type == "PAYMENT_APPROVED")
    assert approved.details["by"] == "verification"
    assert approved.details["referral_commission_micro"] == 2_900_000
    [(signature,)] = await db_rows(bot, "SELECT signature FROM payments")
    assert len(signature) == 64

    # Paying again while the license runs extends it from its end.
    clock.advance(days=2)
    await login(bot, alice, email=TRADER)
    assert "Invoice #2" in (second := await invoice_for(bot, alice)) and "29.00" in second
    now_ms = int(clock.now().timestamp()) * 1000
    fake.add(success(tx_hash=tx_hash(2), timestamp=now_ms))
    await bot.send(alice, f"/pay 2 {tx_hash(2)}")
    extended = await said(bot, alice, "Payment #2 confirmed")
    assert "from 2025-12-28 03:00 until 2026-01-27 03:00 UTC" in extended
    (me,) = await bot.send(alice, "/me")
    assert "License: basic until 2026-01-27 03:00 UTC" in me.plain
    started = [e for e in await events(bot) if e.event_type == "SUBSCRIPTION_STARTED"]
    assert [e.details["extended"] for e in started] == [False, True]
    assert await db_rows(bot, "SELECT SUM(amount_micro) FROM wallet_entries") == [(5_800_000,)]


async def test_second_open_invoice_gets_the_next_amount_and_a_used_hash_is_refused(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    alice = await trader(bot)
    bob = bot.user(3)
    await register(bot, bob, email="bob@example.com")
    await login(bot, bob, email="bob@example.com")
    assert "exactly 29.00 USDT" in await invoice_for(bot, alice)
    assert "exactly 29.02 USDT" in await invoice_for(bot, bob)

    fake.add(success())
    await bot.send(alice, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, alice, "confirmed")
    (refused,) = await bot.send(bob, f"/pay 2 {SUCCESS_HASH}")
    assert "already used for a payment" in refused.plain
    (bad,) = await bot.send(bob, "/pay 2 not-a-hash")
    assert "64 characters" in bad.plain
    (usage,) = await bot.send(bob, "/pay 2")  # bare /pay asks with buttons instead
    assert "/pay INVOICE_ID TRANSACTION_HASH" in usage.plain
    findings = [e for e in await events(bot) if e.event_type == "SUSPICIOUS_ACTIVITY"]
    assert [f.details["rule"] for f in findings] == ["payment_hash_reuse"]


async def test_tronscan_outage_keeps_it_pending_then_the_job_approves(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    alice = await trader(bot)
    await invoice_for(bot, alice)
    fake.add(success())
    fake.always = 503
    await bot.send(alice, f"/pay 1 {SUCCESS_HASH}")
    waiting = await said(bot, alice, "TronScan isn't answering right now")
    assert "check again every minute" in waiting
    assert len(fake.requests) == 4  # retried with backoff, then left pending
    assert await db_rows(bot, "SELECT status, note FROM payments") == [
        ("pending", "chain_unavailable")
    ]

    fake.always = None
    fake.failures = [403, "timeout", "bad_json"]  # throttled, slow, garbled: still retried
    await run_recheck_job(bot)
    await said(bot, alice, "confirmed")
    assert await db_rows(bot, "SELECT status FROM payments") == [("approved",)]


@pytest.mark.parametrize("failure", [403, 429, 500, "timeout", "bad_json", "connect"])
async def test_every_kind_of_chain_failure_leaves_the_payment_pending(
    bot: BotHarness, fake: FakeTronscan, failure: str | int
) -> None:
    alice = await trader(bot)
    await invoice_for(bot, alice)
    fake.add(success())
    fake.always = failure
    await bot.send(alice, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, alice, "TronScan isn't answering")
    assert await db_rows(bot, "SELECT status, amount_micro, signature FROM payments") == [
        ("pending", None, None)
    ]
    assert await db_rows(bot, "SELECT COUNT(*) FROM licenses") == [(0,)]


async def test_unknown_hash_stays_pending_until_the_invoice_expires(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    alice = await trader(bot)
    await invoice_for(bot, alice)
    await bot.send(alice, f"/pay 1 {tx_hash(1)}")
    await said(bot, alice, "isn't on the chain yet")
    clock.advance(hours=23)
    await run_recheck_job(bot)
    assert await db_rows(bot, "SELECT status, checks FROM payments") == [("pending", 2)]
    clock.advance(hours=1)
    await run_recheck_job(bot)
    expired = await said(bot, alice, "expired before the transaction")
    assert "Invoice #1" in expired and "payment #1" in expired
    assert await db_rows(bot, "SELECT status FROM payments") == [("expired",)]
    assert await db_rows(bot, "SELECT status FROM invoices") == [("expired",)]
    await login(bot, alice, email=TRADER)  # a day later, the session has ended
    (listing,) = await bot.send(alice, "/payments")
    assert "⌛ expired" in listing.plain


async def test_too_few_confirmations_wait_for_the_job(bot: BotHarness, fake: FakeTronscan) -> None:
    alice = await trader(bot)
    await invoice_for(bot, alice)
    fake.add(success(confirmations=5))
    await bot.send(alice, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, alice, "waiting for enough confirmations")
    (listing,) = await bot.send(alice, "/payments")
    assert "⏳ pending (the transfer is waiting for enough confirmations)" in listing.plain
    fake.add(success(confirmations=19))
    await run_recheck_job(bot)
    await said(bot, alice, "confirmed")


async def test_a_fake_usdt_token_is_refused_and_raised(bot: BotHarness, fake: FakeTronscan) -> None:
    alice = await trader(bot)
    await invoice_for(bot, alice)
    tx = success()
    tx["trc20TransferInfo"][0]["contract_address"] = FAKE_USDT
    fake.add(tx)
    await bot.send(alice, f"/pay 1 {SUCCESS_HASH}")
    failed = await said(bot, alice, "Payment #1 can't be accepted")
    assert "isn't real USDT" in failed
    assert await db_rows(bot, "SELECT status, note FROM payments") == [("failed", "wrong_token")]
    (finding,) = [e for e in await events(bot) if e.event_type == "SUSPICIOUS_ACTIVITY"]
    assert finding.details["rule"] == "payment_wrong_token" and finding.account_id == 1
    assert await db_rows(bot, "SELECT rule FROM alerts") == [("payment_wrong_token",)]


async def test_admin_sees_verifies_approves_with_2fa_and_rejects(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID)
    totp, _ = await enable_2fa(bot, admin, clock)
    alice = await trader(bot)
    await invoice_for(bot, alice)
    await bot.send(alice, f"/pay 1 {tx_hash(1)}")
    await said(bot, alice, "isn't on the chain yet")

    (pending,) = await bot.send(admin, "/pending")
    assert "#1 — trader2@example.com — invoice #1 basic 29.00 USDT" in pending.plain
    (verified,) = await bot.send(admin, "/verify 1")
    assert "Payment #1 — ⏳ pending" in verified.plain
    assert "⏳ On chain: unknown hash" in verified.plain
    assert "Result: the transaction isn't on the chain yet" in verified.plain

    (ask,) = await bot.send(admin, "/approve 1")
    assert "Send your 6-digit 2FA code" in ask.plain and "trader2@example.com" in ask.plain
    (wrong,) = await bot.send(admin, "000000")
    assert bot.last_user_message.deleted and "didn't work" in wrong.plain
    clock.advance(seconds=30)
    (approved,) = await bot.send(admin, totp.at(clock.now()))
    assert bot.last_user_message.deleted
    assert "Payment #1 approved by you" in approved.plain
    await said(bot, alice, "Payment #1 confirmed: 29.00 USDT")
    event = next(e for e in await events(bot) if e.event_type == "PAYMENT_APPROVED")
    assert event.details["by"] == "admin" and event.details["admin_account_id"] == 1
    assert event.account_id == 2 and event.telegram_user_id == ADMIN_ID

    (again,) = await bot.send(admin, "/verify 1")
    assert "Signature: ✅ valid" in again.plain

    await invoice_for(bot, alice, "pro")
    await bot.send(alice, f"/pay 2 {tx_hash(2)}")
    await said(bot, alice, "Payment #2: the transaction isn't on the chain yet")
    (usage,) = await bot.send(admin, "/reject 2")
    assert "/reject PAYMENT_ID REASON" in usage.plain
    (rejected,) = await bot.send(admin, "/reject 2 no such transfer <b>")
    assert "Payment #2 is rejected" in rejected.plain
    told = await said(bot, alice, "rejected by an admin")
    assert "no such transfer <b>" in told
    event = [e for e in await events(bot) if e.event_type == "PAYMENT_REJECTED"][-1]
    assert event.details == {
        "payment_id": 2,
        "by": "admin",
        "admin_account_id": 1,
        "reason": "no such transfer <b>",
    }
    (ask_again,) = await bot.send(admin, "/approve 2")
    assert "status ❌ rejected" in ask_again.plain
    clock.advance(seconds=30)
    (refused,) = await bot.send(admin, totp.at(clock.now()))
    assert "Payment #2 is rejected; nothing to approve" in refused.plain


async def test_admin_decisions_need_the_admins_session_with_2fa(bot: BotHarness) -> None:
    admin = bot.user(ADMIN_ID)
    (no_session,) = await bot.send(admin, "/approve 1")
    assert "Admin actions need your own account with 2FA" in no_session.plain
    await register(bot, admin, email=EMAIL, password=PASSWORD)
    await login(bot, admin)
    for command in ("/approve 1", "/reject 1 nope"):
        (reply,) = await bot.send(admin, command)
        assert "two-factor authentication on" in reply.plain, command
    alice = await trader(bot, user_id=5)
    (denied,) = await bot.send(alice, "/approve 1")
    assert denied.plain == "Sorry, that command is not available."


async def test_a_tampered_approval_shows_under_review_and_gives_no_tier(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    alice = await trader(bot)
    await invoice_for(bot, alice)
    fake.add(success())
    await bot.send(alice, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, alice, "confirmed")
    await _tamper(bot, "UPDATE payments SET amount_micro = amount_micro * 10")
    await _tamper(bot, "UPDATE licenses SET ends_at = '2030-01-01T00:00:00.000000Z'")
    (listing,) = await bot.send(alice, "/payments")
    assert "⚠️ under review" in listing.plain and "✅ approved" not in listing.plain
    (me,) = await bot.send(alice, "/me")
    assert "Tier: free" in me.plain and "none — see /plans" in me.plain
    assert await bot.services.ratelimit.tiers.tier_for(alice.id) == "free"
    findings = [e.details for e in await events(bot) if e.event_type == "SUSPICIOUS_ACTIVITY"]
    assert {(f["rule"], f["row"]) for f in findings} == {
        ("signature_invalid", "payment"),
        ("signature_invalid", "license"),
    }
    assert await db_rows(bot, "SELECT rule, severity FROM alerts") == [
        ("signature_invalid", "critical")
    ]


async def _tamper(bot: BotHarness, sql: str) -> None:
    await raw_db.execute(bot.settings, sql)


async def test_without_a_receive_address_payments_say_so_politely(
    settings: Settings, clock: FakeClock
) -> None:
    unset = replace(settings, payments=PaymentSettings())
    services = await build_services(unset, clock, chain=FakeTronscan().client())
    harness = BotHarness(unset, services)
    await harness.start()
    try:
        user = harness.user(7)
        (reply,) = await harness.send(user, f"/pay 1 {SUCCESS_HASH}")
        assert reply.plain == "Payments are not set up yet. Please try again later."
        (reply,) = await harness.send(user, "/subscribe")  # Stars need no address (§12)
        assert reply.plain == "Please /login first."
        (plans,) = await harness.send(user, "/plans")
        assert "basic: 29.00 USDT" in plans.plain and "not set up yet" in plans.plain
    finally:
        await harness.stop()
        await services.aclose()


async def test_payment_commands_are_in_the_menus(bot: BotHarness) -> None:
    menus = bot.api.commands
    everyone = next(iter(v for k, v in menus.items() if "all_private_chats" in k))
    names = [c["command"] for c in everyone]
    assert {"plans", "subscribe", "pay", "payments"} <= set(names)
    assert not {"pending", "verify", "approve", "reject"} & set(names)
    admin_menus = [v for k, v in menus.items() if str(ADMIN_ID) in k]
    assert admin_menus and {"pending", "verify", "approve", "reject"} <= {
        c["command"] for c in admin_menus[0]
    }
