"""Money kept: every USDT transfer that reached the receive address is counted once, for the
right person, and never twice (issue 17: partial, over- and late payments, admin review).

The attacker's notebook: sum transfers of several accounts into one invoice; send one transfer
twice so it counts twice; claim a transfer that already counts for someone else's invoice; make
two checks race so an overpayment's excess is credited twice; submit a day too late, or a
transfer made a second after the invoice expired; decide a review or credit a wallet without
being an admin (or without a fresh 2FA code).

Defence: only the invoice's own account can send transfers for it (anyone else meets "no such
invoice"); a hash is held while its payment counts (pending, partial, review, approved) by a
partial unique index, so the same transfer counts once; a second account claiming a counted
transfer freezes it for an admin (review) and alerts; every decision is a compare-and-set and
each payment causes each kind of ledger entry at most once (unique index), each entry signed;
/credit and /approve are admin-only and need a fresh 2FA code checked inside the transaction.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot import texts
from bot.fake_telegram import TelegramUser, html_to_plain
from core.accounts.sessions import Session
from core.clock import FakeClock
from core.errors import Refusal
from core.payments.ports import PaymentStatus
from core.payments.rules import epoch_ms
from core.payments.wallet import WalletLedger, commission_micro
from core.services import Services
from tests.support import raw_db
from tests.support.constants import ADMIN_ID
from tests.support.fake_tronscan import TX_TIME_MS, FakeTronscan, success, tx_hash
from tests.support.harness import BotHarness
from tests.support.payment_steps import core_account, invoice_for, payer, said
from tests.support.steps import db_rows, enable_2fa, events, login

pytestmark = pytest.mark.payments

PAYER, MALLORY = "payer@example.com", "mallory@example.com"
REFUSED = html_to_plain(texts.NOT_ALLOWED)
INVOICE_EXPIRES = datetime(2025, 11, 29, 3, 0, tzinfo=UTC)  # invoices made at the test's start


def sent(fake: FakeTronscan, n: int, amount: str, *, at_ms: int = TX_TIME_MS) -> str:
    """A confirmed USDT transfer to our address of ``amount`` (micro-USDT text), made at_ms."""
    return fake.add(success(tx_hash=tx_hash(n), amount_str=amount, timestamp=at_ms))


async def ledger(bot: BotHarness, services: Services) -> list[tuple[int, int, str, int | None]]:
    """Every wallet entry as (account, amount, kind, payment); each must verify its signature."""
    wallet = WalletLedger(services.crypto)
    async with services.uow(read_only=True) as uow:
        accounts = [row[0] for row in await db_rows(bot, "SELECT id FROM users ORDER BY id")]
        entries = [e for a in accounts for e in await uow.wallet.entries(a, 100)]
    assert all(wallet.is_authentic(entry) for entry in entries)
    return sorted((e.account_id, e.amount_micro, e.kind, e.payment_id) for e in entries)


async def alerts(bot: BotHarness) -> list[tuple[str, str]]:
    return [tuple(r) for r in await db_rows(bot, "SELECT rule, subject FROM alerts ORDER BY id")]


async def account_id(bot: BotHarness, email: str) -> int:
    [(found,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", email)
    return int(found)


async def licenses(bot: BotHarness) -> list[tuple]:
    return await db_rows(bot, "SELECT account_id, payment_id FROM licenses ORDER BY id")


# --- under- and over-payment ----------------------------------------------------------------


async def test_an_underpayment_waits_for_its_top_up_and_the_sum_pays_once(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    user = await payer(bot, 2, PAYER)
    assert "exactly 29.00 USDT" in await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '20000000')}")
    partial = await said(bot, user, "Payment #1: 20.00 USDT arrived")
    assert "20.00 of 29.00 USDT so far" in partial and "missing 9.00 USDT" in partial
    assert await db_rows(bot, "SELECT status, amount_micro FROM payments") == [
        ("partial", 20_000_000)
    ]
    assert await licenses(bot) == []

    await bot.send(user, f"/pay 1 {sent(fake, 2, '10000000')}")  # one USDT more than missing
    approved = await said(bot, user, "Payment #2 confirmed: 10.00 USDT")
    assert "1.00 USDT more than the invoice: it is credited to your /wallet" in approved
    me = await account_id(bot, PAYER)
    assert await db_rows(bot, "SELECT id, status FROM payments ORDER BY id") == [
        (1, "partial"),  # counted toward the paid invoice
        (2, "approved"),
    ]
    assert await db_rows(bot, "SELECT status FROM invoices") == [("paid",)]
    assert await licenses(bot) == [(me, 2)]
    assert await ledger(bot, services) == [(me, 1_000_000, "overpayment_credit", 2)]

    # One more transfer for the paid invoice (the customer paid twice): kept for an admin.
    await bot.send(user, f"/pay 1 {sent(fake, 3, '9000000')}")
    told = await said(bot, user, "Payment #3: your USDT arrived")
    assert "the invoice was already paid by another payment" in told
    assert await db_rows(bot, "SELECT id, status, note FROM payments WHERE id = 3") == [
        (3, "review", "invoice_paid")
    ]
    assert await licenses(bot) == [(me, 2)] and len(await ledger(bot, services)) == 1


async def test_transfers_of_other_accounts_never_count_toward_an_invoice(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    """Helpers' transfers summed into one invoice: only its own account may send for it."""
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '20000000')}")
    await said(bot, user, "missing 9.00 USDT")
    for n, helper_id in enumerate((3, 4), start=2):
        helper = await payer(bot, helper_id, f"helper{helper_id}@example.com")
        (refused,) = await bot.send(helper, f"/pay 1 {sent(fake, n, '9000000')}")
        assert "You have no invoice #1" in refused.plain
    assert await db_rows(bot, "SELECT id, status FROM payments") == [(1, "partial")]
    assert await licenses(bot) == [] and await ledger(bot, services) == []


async def test_the_same_transfer_sent_twice_counts_once(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await invoice_for(bot, user, "pro")
    first = sent(fake, 1, "20000000")
    await bot.send(user, f"/pay 1 {first}")
    await said(bot, user, "missing 9.00 USDT")
    for again in (f"/pay 1 {first}", f"/pay 1 {first.upper()}", f"/pay 2 {first}"):
        (refused,) = await bot.send(user, again)
        assert "You already sent this transaction as payment #1" in refused.plain, again
    assert await db_rows(bot, "SELECT id, invoice_id, status FROM payments") == [(1, 1, "partial")]
    assert await licenses(bot) == [] and await ledger(bot, services) == []


async def test_a_counted_transfer_claimed_for_another_invoice_is_frozen_for_an_admin(
    bot: BotHarness, fake: FakeTronscan, services: Services, clock: FakeClock
) -> None:
    user = await payer(bot, 2, PAYER)
    mallory = await payer(bot, 3, MALLORY)
    await invoice_for(bot, user)
    watched = sent(fake, 1, "20000000")  # made at 03:20, when only the payer's invoice was open
    await bot.send(user, f"/pay 1 {watched}")
    await said(bot, user, "missing 9.00 USDT")
    clock.advance(minutes=30)
    await login(bot, mallory, email=MALLORY)
    assert "exactly 29.02 USDT" in await invoice_for(bot, mallory)

    (refused,) = await bot.send(mallory, f"/pay 2 {watched}")
    assert "already counts for another invoice. The admins have been told" in refused.plain
    assert await db_rows(bot, "SELECT id, invoice_id, status, note FROM payments") == [
        (1, 1, "review", "disputed")  # it no longer counts toward anything by itself
    ]
    assert ("payment_hash_disputed", f"account:{await account_id(bot, PAYER)}") in await alerts(bot)
    # The top-up alone does not complete the invoice with the frozen transfer.
    await login(bot, user, email=PAYER)
    await bot.send(user, f"/pay 1 {sent(fake, 2, '9000000')}")
    assert "9.00 of 29.00 USDT so far" in await said(bot, user, "Payment #2: 9.00 USDT arrived")
    assert await licenses(bot) == [] and await ledger(bot, services) == []


async def test_a_front_runner_gets_nothing_for_a_watched_round_sum(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    """Mallory claims a payer's 40.00 (no invoice's exact amount) for her own 29.02 invoice
    first: while the payer's invoice awaited payment too, no rule decides whose it is."""
    user = await payer(bot, 2, PAYER)
    mallory = await payer(bot, 3, MALLORY)
    await invoice_for(bot, user)
    await invoice_for(bot, mallory)
    watched = sent(fake, 1, "40000000")
    await bot.send(mallory, f"/pay 2 {watched}")
    review = await said(bot, mallory, "Payment #1: your USDT arrived")
    assert "other invoices were open" in review and "an admin decides" in review
    (refused,) = await bot.send(user, f"/pay 1 {watched}")
    assert "already counts for another invoice" in refused.plain
    assert await db_rows(bot, "SELECT id, account_id, status, note FROM payments") == [
        (1, await account_id(bot, MALLORY), "review", "ambiguous")
    ]
    assert await licenses(bot) == [] and await ledger(bot, services) == []
    rules = [rule for rule, _subject in await alerts(bot)]
    assert "payment_needs_review" in rules and "payment_hash_disputed" in rules


async def test_racing_checks_credit_an_overpayment_once(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '35000000')}")  # the bot checks it too
    reports = await asyncio.gather(*(services.payments.check(1) for _ in range(3)))
    approved = await said(bot, user, "Payment #1 confirmed: 35.00 USDT")
    assert "6.00 USDT more than the invoice" in approved
    assert sum(report.decided for report in reports) <= 1
    me = await account_id(bot, PAYER)
    assert await licenses(bot) == [(me, 1)]
    assert await ledger(bot, services) == [(me, 6_000_000, "overpayment_credit", 1)]
    assert len([t for t in bot.texts(user.id) if "confirmed" in t]) == 1
    kinds = [e.event_type for e in await events(bot)]
    assert kinds.count("PAYMENT_APPROVED") == 1 and kinds.count("SUBSCRIPTION_STARTED") == 1


async def test_far_more_than_the_invoice_is_never_credited_by_a_rule(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '29000000000000000000000000')}")
    await said(bot, user, "Payment #1: your USDT arrived")
    assert await db_rows(bot, "SELECT status, note, amount_micro FROM payments") == [
        ("review", "amount_unreadable", None)
    ]
    assert await licenses(bot) == [] and await ledger(bot, services) == []


# --- paid late ------------------------------------------------------------------------------


async def test_a_hash_sent_just_before_expiry_is_not_expired_before_the_chain_knows_it(
    bot: BotHarness, fake: FakeTronscan, services: Services, clock: FakeClock
) -> None:
    """TronScan indexes a transfer a little late: a /pay a minute before expiry must not
    expire at expiry (issue 17), only an hour after the /pay when the chain still knows it not."""
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    clock.advance(hours=23, minutes=59)
    await login(bot, user, email=PAYER)
    await bot.send(user, f"/pay 1 {tx_hash(1)}")  # not on the chain yet
    await said(bot, user, "isn't on the chain yet")
    clock.advance(minutes=30)  # the invoice has expired
    assert await services.payments.recheck_pending() == []
    assert await db_rows(bot, "SELECT status FROM payments") == [("pending",)]
    sent(fake, 1, "29000000", at_ms=epoch_ms(INVOICE_EXPIRES) - 30_000)  # made in time
    (report,) = await services.payments.recheck_pending()
    assert report.payment.status is PaymentStatus.APPROVED
    assert len(await licenses(bot)) == 1


@pytest.mark.parametrize(("offset", "taken"), [(-1, True), (0, True), (1, False)])
async def test_a_transfer_made_in_time_is_taken_for_seven_days_after_expiry(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock, offset: int, taken: bool
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    paid = sent(fake, 1, "29000000")  # made at 03:20 on the invoice's first day
    clock.advance(days=8, seconds=offset)  # expiry (one day) + 7 days, ± 1 s
    assert clock.now() - INVOICE_EXPIRES == timedelta(days=7, seconds=offset)
    await login(bot, user, email=PAYER)
    # The check runs apart: its word may already be there when the reply is collected.
    reply, *_ = await bot.send(user, f"/pay 1 {paid}")
    if taken:
        assert "Payment #1 for invoice #1 received" in reply.plain
        assert "Payment #1 confirmed: 29.00 USDT" in await said(bot, user, "confirmed")
        assert await db_rows(bot, "SELECT status FROM payments") == [("approved",)]
        assert await db_rows(bot, "SELECT status FROM invoices") == [("paid",)]
        assert len(await licenses(bot)) == 1
    else:
        assert "Invoice #1 has expired" in reply.plain
        assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(0,)]
        assert await licenses(bot) == []


@pytest.mark.parametrize(("after_ms", "review"), [(-1, False), (0, True), (1000, True)])
async def test_a_transfer_made_after_expiry_goes_to_an_admin(
    bot: BotHarness, fake: FakeTronscan, services: Services, after_ms: int, review: bool
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    made = epoch_ms(INVOICE_EXPIRES) + after_ms
    await bot.send(user, f"/pay 1 {sent(fake, 1, '29000000', at_ms=made)}")
    if not review:
        await said(bot, user, "Payment #1 confirmed")
        return
    told = await said(bot, user, "Payment #1: your USDT arrived")
    assert "the transfer was made after the invoice expired" in told and "Nothing is lost" in told
    assert await db_rows(bot, "SELECT status, note, amount_micro FROM payments") == [
        ("review", "paid_late", 29_000_000)
    ]
    assert ("payment_needs_review", "payment:1") in await alerts(bot)
    assert await licenses(bot) == [] and await ledger(bot, services) == []


# --- the admins' decisions ------------------------------------------------------------------


async def admin_with_2fa(bot: BotHarness, clock: FakeClock):
    admin = bot.user(ADMIN_ID)
    totp, _ = await enable_2fa(bot, admin, clock)
    return admin, totp


async def decide(bot: BotHarness, clock: FakeClock, admin: TelegramUser, totp, command: str) -> str:
    (ask,) = await bot.send(admin, command)
    assert "Send your 6-digit 2FA code" in ask.plain, ask.plain
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    return done.plain


async def test_an_admin_credits_a_partial_invoice_to_the_wallet_once(
    bot: BotHarness, fake: FakeTronscan, services: Services, clock: FakeClock
) -> None:
    admin, totp = await admin_with_2fa(bot, clock)
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '20000000')}")
    await said(bot, user, "missing 9.00 USDT")
    await bot.send(user, f"/pay 1 {sent(fake, 2, '5000000')}")
    await said(bot, user, "25.00 of 29.00 USDT so far")

    (ask,) = await bot.send(admin, "/credit 2")
    assert "Credit payment #2 (5.00 USDT arrived)" in ask.plain
    (wrong,) = await bot.send(admin, "000000")
    assert "wrong" in wrong.plain.lower() or "code" in wrong.plain.lower()
    assert await ledger(bot, services) == []
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    assert "25.00 USDT credited to the payer's wallet; invoice #1 is closed" in done.plain
    assert "25.00 USDT credited to your wallet" in await said(bot, user, "credited to your")
    me = await account_id(bot, PAYER)
    assert await ledger(bot, services) == [
        (me, 5_000_000, "payment_credit", 2),
        (me, 20_000_000, "payment_credit", 1),
    ]
    assert await db_rows(bot, "SELECT id, status, note FROM payments ORDER BY id") == [
        (1, "approved", "credited"),
        (2, "approved", "credited"),
    ]
    assert await db_rows(bot, "SELECT status FROM invoices") == [("paid",)]
    assert await licenses(bot) == []
    audited = [e for e in await events(bot) if e.details.get("action") == "payment_credited"]
    assert [e.details["amount_micro"] for e in audited] == [25_000_000]

    again = await decide(bot, clock, admin, totp, "/credit 1")
    assert "only partly paid payments of an unpaid invoice" in again
    assert len(await ledger(bot, services)) == 2


async def test_an_admin_approves_a_late_transfer_and_cannot_credit_it_too(
    bot: BotHarness, fake: FakeTronscan, services: Services, clock: FakeClock
) -> None:
    admin, totp = await admin_with_2fa(bot, clock)
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    late = epoch_ms(INVOICE_EXPIRES) + 1000
    await bot.send(user, f"/pay 1 {sent(fake, 1, '29000000', at_ms=late)}")
    await said(bot, user, "your USDT arrived")
    (pending,) = await bot.send(admin, "/pending")
    assert "Waiting for an admin" in pending.plain and "#1" in pending.plain

    approved = await decide(bot, clock, admin, totp, "/approve 1")
    assert "Payment #1 approved by you" in approved
    await said(bot, user, "Payment #1 confirmed: 29.00 USDT")
    assert len(await licenses(bot)) == 1
    credit = await decide(bot, clock, admin, totp, "/credit 1")
    assert "Payment #1 is approved" in credit
    assert await ledger(bot, services) == [] and len(await licenses(bot)) == 1


async def test_two_credits_of_one_payment_at_once_credit_it_once(
    bot: BotHarness, fake: FakeTronscan, services: Services, clock: FakeClock
) -> None:
    """Core level, the same admin twice at the same instant (two devices, a double tap): the
    decision is a compare-and-set inside the transaction, the ledger's index the backstop."""
    admin, totp = await admin_with_2fa(bot, clock)
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '20000000')}")
    await said(bot, user, "missing 9.00 USDT")
    session = await services.sessions.current(admin.id)
    assert session is not None
    clock.advance(seconds=30)
    proof = await services.twofactor.proof_for_action(
        session, totp.at(clock.now()), "credit_payment"
    )
    results = await asyncio.gather(
        *(services.payments.credit_to_wallet(session, proof, 1) for _ in range(2)),
        return_exceptions=True,
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Refusal)]
    assert len(done) == 1 and len(refused) == 1, results
    assert done[0].credited_micro == 20_000_000
    me = await account_id(bot, PAYER)
    assert await ledger(bot, services) == [(me, 20_000_000, "payment_credit", 1)]
    audited = [e for e in await events(bot) if e.details.get("action") == "payment_credited"]
    assert len(audited) == 1


async def test_non_admins_cannot_approve_credit_or_list_reviews(
    bot: BotHarness, fake: FakeTronscan, services: Services, clock: FakeClock
) -> None:
    user = await payer(bot, 2, PAYER)
    mallory = await payer(bot, 3, MALLORY)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '20000000')}")
    await said(bot, user, "missing 9.00 USDT")
    before = await db_rows(bot, "SELECT id, status, note FROM payments")
    for who in (user, mallory):
        for command in ("/credit 1", "/approve 1", "/pending", "/credit. 1"):
            replies = await bot.send(who, command)
            assert [r.plain for r in replies] == [REFUSED], command
        (after_code,) = await bot.send(who, "123456")
        assert "credited" not in after_code.plain
    assert await db_rows(bot, "SELECT id, status, note FROM payments") == before
    assert await licenses(bot) == [] and await ledger(bot, services) == []


async def test_a_partial_never_topped_up_goes_to_an_admin_when_its_time_is_over(
    bot: BotHarness, fake: FakeTronscan, services: Services, clock: FakeClock
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '20000000')}")
    await said(bot, user, "missing 9.00 USDT")
    clock.advance(days=8)
    assert await services.payments.recheck_pending() == []
    clock.advance(seconds=1)
    (report,) = await services.payments.recheck_pending()
    assert report.payment.status is PaymentStatus.REVIEW and report.decided
    assert await db_rows(bot, "SELECT status, note FROM payments") == [
        ("review", "partial_expired")
    ]
    assert ("payment_needs_review", "payment:1") in await alerts(bot)
    assert await services.payments.recheck_pending() == []  # once


async def test_the_referrer_earns_on_the_plan_never_on_the_excess_or_one_top_up(
    services: Services, fake: FakeTronscan, bot: BotHarness
) -> None:
    """An overpayment must not inflate the referrer's commission, and a top-up that completes
    a partial invoice pays commission on the whole plan, not on the top-up alone."""
    referrer = await core_account(services, 1)
    payers = []
    for n in (2, 3):
        async with services.uow() as uow:
            payer_id = await uow.accounts.add(
                email=f"referred{n}@example.com",
                password_hash="x",
                referral_code=f"REF{n:04d}",
                referred_by=referrer.account_id,
                created_at=services.clock.now(),
            )
            await uow.commit()
        now = services.clock.now()
        payers.append(Session(payer_id * 100, payer_id, 8000 + n, now, now + timedelta(hours=1)))
    over, topped = payers
    first = await services.payments.create_invoice(over, "basic")
    paid = await services.payments.submit(over, first.id, sent(fake, 1, "35000000"))
    assert (await services.payments.check(paid.id)).credited_micro == 6_000_000
    # The second payer's partial is made before the second invoice: no rival awaited it.
    second = await services.payments.create_invoice(topped, "basic")
    assert second.amount_micro == 29_000_000  # the first invoice is paid: its amount is free
    part = await services.payments.submit(topped, second.id, sent(fake, 2, "20000000"))
    assert (await services.payments.check(part.id)).payment.status is PaymentStatus.PARTIAL
    rest = await services.payments.submit(topped, second.id, sent(fake, 3, "9000000"))
    assert (await services.payments.check(rest.id)).payment.status is PaymentStatus.APPROVED
    percent = services.settings.referrals.commission_percent
    plan_commission = commission_micro(29_000_000, percent)
    assert plan_commission > 0
    assert await ledger(bot, services) == sorted(
        [
            (referrer.account_id, plan_commission, "referral_commission", paid.id),
            (over.account_id, 6_000_000, "overpayment_credit", paid.id),
            (referrer.account_id, plan_commission, "referral_commission", rest.id),
        ]
    )


async def test_two_top_ups_checked_at_once_complete_the_invoice_once(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '15000000')}")
    await said(bot, user, "missing 14.00 USDT")
    fake.always = 503  # the two top-ups stay pending until both are checked together
    for n in (2, 3):
        await bot.send(user, f"/pay 1 {sent(fake, n, '10000000')}")
    await bot.wait_for(lambda: len([t for t in bot.texts(user.id) if "received" in t]) == 3)
    fake.always = None
    reports = await asyncio.gather(services.payments.check(2), services.payments.check(3))
    statuses = sorted(str(r.payment.status) for r in reports)
    assert statuses == ["approved", "partial"]  # 15 + 10 = 25, then 35: the second approves
    me = await account_id(bot, PAYER)
    [(license_payment,)] = await db_rows(bot, "SELECT payment_id FROM licenses")
    assert await ledger(bot, services) == [(me, 6_000_000, "overpayment_credit", license_payment)]


async def test_a_partial_amount_raised_on_disk_counts_for_nothing(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    """Write access to the database: Mallory raises her 1.00 partial to 28.99 and tops up
    0.01. The partial's signature no longer verifies, so it counts for nothing (and alerts)."""
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '1000000')}")
    await said(bot, user, "missing 28.00 USDT")
    await raw_db.execute(
        services.settings, "UPDATE payments SET amount_micro = 28990000 WHERE id = 1"
    )
    await bot.send(user, f"/pay 1 {sent(fake, 2, '10000')}")
    told = await said(bot, user, "Payment #2: 0.01 USDT arrived")
    assert "0.01 of 29.00 USDT so far" in told
    assert await licenses(bot) == [] and await ledger(bot, services) == []
    assert "signature_invalid" in [rule for rule, _subject in await alerts(bot)]


async def test_claiming_a_transfer_that_already_bought_a_license_unpays_nothing(
    bot: BotHarness, fake: FakeTronscan, services: Services, clock: FakeClock
) -> None:
    """Mallory claims the payer's settled partial: it stays counted (no review, so no admin
    can credit it a second time); the admins still hear of the claim."""
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    first = sent(fake, 1, "20000000")
    await bot.send(user, f"/pay 1 {first}")
    await said(bot, user, "missing 9.00 USDT")
    await bot.send(user, f"/pay 1 {sent(fake, 2, '9000000')}")
    await said(bot, user, "Payment #2 confirmed")
    mallory = await payer(bot, 3, MALLORY)
    await invoice_for(bot, mallory)
    (refused,) = await bot.send(mallory, f"/pay 2 {first}")
    assert "already counts for another invoice" in refused.plain
    assert await db_rows(bot, "SELECT id, status FROM payments ORDER BY id") == [
        (1, "partial"),
        (2, "approved"),
    ]
    assert "payment_hash_disputed" in [rule for rule, _subject in await alerts(bot)]
    admin, totp = await admin_with_2fa(bot, clock)
    credit = await decide(bot, clock, admin, totp, "/credit 1")
    assert "only partly paid payments of an unpaid invoice" in credit
    # Nor can a rejection free its hash to count a second time.
    (rejected,) = await bot.send(admin, "/reject 1 claimed by another account")
    assert "Payment #1 is partial; nothing to reject" in rejected.plain
    assert await db_rows(bot, "SELECT status FROM payments WHERE id = 1") == [("partial",)]
    assert await ledger(bot, services) == []
