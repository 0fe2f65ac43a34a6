"""Money kept: a transfer paid late, or one a rule cannot decide, goes to an admin, and only an
admin with a fresh 2FA code decides it, once (issue 17: late payments, admin review).

The attacker's notebook: submit a day too late, or a transfer made a second after the invoice
expired; leave a partial never topped up; claim a transfer that already bought a license; decide
a review or credit a wallet without being an admin (or without a fresh 2FA code), or credit one
payment twice at once.

Defence: a hash sent before expiry is not expired before the chain knows it, a transfer made in
time is taken for seven days after expiry, one made after expiry (or a partial whose time is
over) goes to review with an alert; every decision is a compare-and-set and each payment causes
each kind of ledger entry at most once (unique index), each entry signed; /credit and /approve
are admin-only and need a fresh 2FA code checked inside the transaction. Under- and
over-payments: tests/attacks/test_money_counted_once.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot import texts
from bot.fake_telegram import TelegramUser, html_to_plain
from core.clock import FakeClock
from core.errors import Refusal
from core.payments.ports import PaymentStatus
from core.payments.rules import epoch_ms
from core.services import Services
from tests.support.constants import ADMIN_ID
from tests.support.fake_tronscan import FakeTronscan, tx_hash
from tests.support.harness import BotHarness
from tests.support.money_steps import (
    INVOICE_EXPIRES,
    MALLORY,
    PAYER,
    account_id,
    alerts,
    ledger,
    licenses,
    sent,
)
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.steps import db_rows, enable_2fa, events, login

pytestmark = pytest.mark.payments


REFUSED = html_to_plain(texts.NOT_ALLOWED)


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
