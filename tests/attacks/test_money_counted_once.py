"""Money kept: every USDT transfer that reached the receive address is counted once, for the
right person, and never twice (issue 17: partial and over-payments).

The attacker's notebook: sum transfers of several accounts into one invoice; send one transfer
twice so it counts twice; claim a transfer that already counts for someone else's invoice; make
two checks race so an overpayment's excess is credited twice, or two top-ups complete an invoice
twice; raise a partial amount on disk; earn a referral commission on the excess.

Defence: only the invoice's own account can send transfers for it (anyone else meets "no such
invoice"); a hash is held while its payment counts (pending, partial, review, approved) by a
partial unique index, so the same transfer counts once; a second account claiming a counted
transfer freezes it for an admin (review) and alerts; every decision is a compare-and-set and
each payment causes each kind of ledger entry at most once (unique index), each entry signed.
Late payments and the admins' decisions: tests/attacks/test_late_money_and_admin_review.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.accounts.sessions import Session
from core.clock import FakeClock
from core.payments.ports import PaymentStatus
from core.payments.wallet import commission_micro
from core.services import Services
from tests.support import raw_db
from tests.support.fake_tronscan import FakeTronscan
from tests.support.harness import BotHarness
from tests.support.money_steps import MALLORY, PAYER, account_id, alerts, ledger, licenses, sent
from tests.support.payment_steps import core_account, invoice_for, payer, said
from tests.support.steps import db_rows, events, login

pytestmark = pytest.mark.payments


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


def _running(name: str) -> bool:
    """Whether a task called ``name`` is still running in this loop."""
    return any(task.get_name() == name and not task.done() for task in asyncio.all_tasks())


async def test_racing_checks_credit_an_overpayment_once(
    bot: BotHarness, fake: FakeTronscan, services: Services
) -> None:
    user = await payer(bot, 2, PAYER)
    await invoice_for(bot, user)
    await bot.send(user, f"/pay 1 {sent(fake, 1, '35000000')}")  # the bot checks it too
    reports = await asyncio.gather(*(services.payments.check(1) for _ in range(3)))
    await bot.wait_for(lambda: not _running("payment-check-1"))  # the bot's own check
    assert sum(report.decided for report in reports) <= 1
    me = await account_id(bot, PAYER)
    assert await licenses(bot) == [(me, 1)]
    assert await ledger(bot, services) == [(me, 6_000_000, "overpayment_credit", 1)]
    told = [t for t in bot.texts(user.id) if "confirmed" in t]
    if any(report.decided for report in reports):
        # One of the racing checks decided (which one wins depends on the engine's order):
        # its caller tells the payer; the bot's own check, which lost, says nothing.
        assert told == []
    else:  # the bot's check decided: it told the payer, once
        (approved,) = told
        assert "Payment #1 confirmed: 35.00 USDT" in approved
        assert "6.00 USDT more than the invoice" in approved
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
