"""Payments in core against the real database (either engine): amounts, unique hashes,
atomic approval, signatures."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.accounts.sessions import Session
from core.audit.log import EventType
from core.clock import FakeClock, to_iso
from core.config import Settings, load_settings
from core.errors import DuplicateError, Refusal
from core.payments.licenses import LicenseTierResolver
from core.payments.ports import PaymentStatus
from core.payments.refusals import (
    InvoiceExpired,
    InvoiceNotFound,
    InvoiceUnusable,
    PaymentsOff,
    PlanNotOnSale,
    TxAlreadySent,
    TxBeingChecked,
)
from core.payments.rules import CheckNote
from core.payments.wallet import REFERRAL_COMMISSION, WalletLedger
from core.services import Services
from storage.migrator import available_migrations
from tests.support import raw_db
from tests.support.fake_tronscan import FakeTronscan, load, payments_config, success, tx_hash
from tests.support.services import build_services

pytestmark = pytest.mark.payments


async def account(services: Services, n: int, referred_by: int | None = None) -> Session:
    """An account (no password hashing: cheap) and a session object for it."""
    async with services.uow() as uow:
        account_id = await uow.accounts.add(
            email=f"user{n}@example.com",
            password_hash="x",
            referral_code=f"CODE{n:04d}",
            referred_by=referred_by,
            created_at=services.clock.now(),
        )
        await uow.commit()
    now = services.clock.now()
    return Session(account_id * 100, account_id, 5000 + n, now, now + timedelta(hours=1))


async def rows(services: Services, sql: str, *params: object) -> list[tuple]:
    return await raw_db.rows(services.settings, sql, *params)


async def execute(services: Services, sql: str, *params: object) -> None:
    await raw_db.execute(services.settings, sql, *params)


async def suspicious(services: Services) -> list[dict]:
    return [
        row.details
        async for row in services.audit.export()
        if row.event_type == EventType.SUSPICIOUS_ACTIVITY
    ]


def test_the_payments_migration_follows_the_others() -> None:
    names = [(m.version, m.name) for m in available_migrations()]
    assert (6, "payments") in names


async def test_open_invoices_are_whole_steps_apart_and_reused_per_user(
    services: Services, clock: FakeClock
) -> None:
    users = [await account(services, n) for n in range(4)]
    amounts = [(await services.payments.create_invoice(u, "basic")).amount_micro for u in users[:3]]
    assert amounts == [29_000_000, 29_020_000, 29_040_000]
    again = await services.payments.create_invoice(users[0], "basic")
    assert again.amount_micro == 29_000_000 and again.id == 1  # the open one, not a new one
    pro = await services.payments.create_invoice(users[0], "pro")
    assert pro.amount_micro == 79_000_000

    clock.advance(hours=25)  # every invoice expires: their amounts are free again
    await services.payments.recheck_pending()
    assert await rows(services, "SELECT DISTINCT status FROM invoices") == [("expired",)]
    fresh = await services.payments.create_invoice(users[3], "basic")
    assert fresh.amount_micro == 29_000_000 and fresh.id == 5


async def test_unknown_plans_and_missing_address_are_refused(
    services: Services, settings: Settings, env: dict[str, str], tmp_path: Path
) -> None:
    user = await account(services, 1)
    with pytest.raises(Refusal) as refused:
        await services.payments.create_invoice(user, "platinum")
    assert refused.value.reason == PlanNotOnSale()
    unset = load_settings(payments_config(tmp_path, receive_address=None), env)
    assert unset.payments.receive_address is None
    other = await build_services(unset, services.clock, chain=FakeTronscan().client())
    try:
        assert not other.payments.enabled
        with pytest.raises(Refusal) as refused:
            await other.payments.create_invoice(user, "basic")
        assert refused.value.reason == PaymentsOff()
    finally:
        await other.aclose()


async def test_concurrent_submissions_of_one_hash_store_it_once(services: Services) -> None:
    alice, mallory = await account(services, 1), await account(services, 2)
    first = await services.payments.create_invoice(alice, "basic")
    second = await services.payments.create_invoice(mallory, "basic")
    results = await asyncio.gather(
        services.payments.submit(alice, first.id, tx_hash(7)),
        services.payments.submit(mallory, second.id, tx_hash(7)),
        return_exceptions=True,
    )
    stored = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Refusal)]
    assert len(stored) == 1 and len(refused) == 1
    # The chain does not know the transfer yet: either may be the payer, nobody is suspected.
    assert refused[0].reason == TxBeingChecked()
    assert await rows(services, "SELECT COUNT(*) FROM payments") == [(1,)]
    assert await suspicious(services) == []


async def test_the_database_refuses_a_reused_hash_by_itself(services: Services) -> None:
    alice = await account(services, 1)
    invoice = await services.payments.create_invoice(alice, "basic")
    async with services.uow() as uow:
        fields: dict[str, Any] = {
            "invoice_id": invoice.id,
            "account_id": alice.account_id,
            "telegram_user_id": alice.telegram_user_id,
            "expected_micro": invoice.amount_micro,
            "submitted_at": invoice.created_at,
        }
        await uow.payments.add_payment(tx_hash=tx_hash(1), **fields)
        with pytest.raises(DuplicateError):
            await uow.payments.add_payment(tx_hash=tx_hash(1), **fields)


async def test_resubmitting_ones_own_hash_is_friendly_not_suspicious(services: Services) -> None:
    alice = await account(services, 1)
    invoice = await services.payments.create_invoice(alice, "basic")
    payment = await services.payments.submit(alice, invoice.id, tx_hash(3))
    with pytest.raises(Refusal) as refused:
        await services.payments.submit(alice, invoice.id, tx_hash(3).upper())
    assert refused.value.reason == TxAlreadySent(payment.id)
    assert await suspicious(services) == []


async def test_invoices_of_others_expired_or_paid_cannot_be_paid(
    services: Services, clock: FakeClock
) -> None:
    alice, bob = await account(services, 1), await account(services, 2)
    invoice = await services.payments.create_invoice(alice, "basic")
    with pytest.raises(Refusal) as refused:
        await services.payments.submit(bob, invoice.id, tx_hash(1))
    assert refused.value.reason == InvoiceNotFound(invoice.id) == InvoiceNotFound(1)
    clock.advance(hours=24 + 7 * 24, seconds=1)  # a transfer made in time counts for 7 days
    with pytest.raises(Refusal) as refused:
        await services.payments.submit(alice, invoice.id, tx_hash(1))
    assert refused.value.reason == InvoiceExpired(invoice.id)


async def test_approval_is_atomic_and_rolled_back_on_error(
    services: Services, fake: FakeTronscan
) -> None:
    referrer = await account(services, 1)
    alice = await account(services, 2, referred_by=referrer.account_id)
    invoice = await services.payments.create_invoice(alice, "basic")
    payment = await services.payments.submit(alice, invoice.id, fake.add(success()))
    # Something already holds this payment's license slot: the approval must fail as a whole.
    await execute(
        services,
        "INSERT INTO licenses (account_id, payment_id, plan, tier, starts_at, ends_at,"
        " created_at) VALUES (?, ?, 'basic', 'basic', '2025-01-01', '2025-02-01', '2025-01-01')",
        alice.account_id,
        payment.id,
    )
    with pytest.raises(DuplicateError):
        await services.payments.check(payment.id)
    assert await rows(services, "SELECT status, signature FROM payments") == [("pending", None)]
    assert await rows(services, "SELECT status FROM invoices") == [("open",)]
    assert await rows(services, "SELECT COUNT(*) FROM wallet_entries") == [(0,)]
    kinds = [row.event_type async for row in services.audit.export()]
    assert "PAYMENT_APPROVED" not in kinds and "SUBSCRIPTION_STARTED" not in kinds

    await execute(services, "DELETE FROM licenses")
    report = await services.payments.check(payment.id)
    assert report.decided and report.payment.status == PaymentStatus.APPROVED
    [(amount, kind, payment_id)] = await rows(
        services, "SELECT amount_micro, kind, payment_id FROM wallet_entries"
    )
    assert (amount, kind, payment_id) == (2_900_000, REFERRAL_COMMISSION, payment.id)
    async with services.uow(read_only=True) as uow:
        balance = await WalletLedger(services.crypto).balance(uow, referrer.account_id)
        assert await uow.wallet.balance(referrer.account_id) == 2_900_000
    assert balance.micro == 2_900_000 and balance.untrusted_entry_ids == ()


async def test_concurrent_checks_decide_a_payment_once(
    services: Services, fake: FakeTronscan
) -> None:
    alice = await account(services, 1)
    invoice = await services.payments.create_invoice(alice, "basic")
    payment = await services.payments.submit(alice, invoice.id, fake.add(success()))
    reports = await asyncio.gather(*(services.payments.check(payment.id) for _ in range(5)))
    assert sum(r.decided for r in reports) == 1
    assert await rows(services, "SELECT COUNT(*) FROM licenses") == [(1,)]
    approvals = [r async for r in services.audit.export() if r.event_type == "PAYMENT_APPROVED"]
    assert len(approvals) == 1


async def test_repeated_failed_verifications_are_suspicious(
    services: Services, fake: FakeTronscan
) -> None:
    alice = await account(services, 1)
    invoice = await services.payments.create_invoice(alice, "basic")
    for n in range(3):
        failed = load("transaction-info.out-of-energy.json")
        failed["hash"] = tx_hash(100 + n)
        payment = await services.payments.submit(alice, invoice.id, fake.add(failed))
        report = await services.payments.check(payment.id)
        assert report.decided and report.reason is CheckNote.TX_FAILED
        assert report.payment.status == PaymentStatus.FAILED
    findings = await suspicious(services)
    assert [f["rule"] for f in findings] == ["payment_failed_verifications"]
    assert findings[0]["count"] == 3
    rejected = [r async for r in services.audit.export() if r.event_type == "PAYMENT_REJECTED"]
    assert [r.details["by"] for r in rejected] == ["verification"] * 3


async def test_tampered_rows_are_never_trusted(
    services: Services, fake: FakeTronscan, clock: FakeClock
) -> None:
    alice = await account(services, 1)
    invoice = await services.payments.create_invoice(alice, "basic")
    payment = await services.payments.submit(alice, invoice.id, fake.add(success()))
    assert (await services.payments.check(payment.id)).decided
    resolver = services.ratelimit.tiers
    assert isinstance(resolver, LicenseTierResolver)
    status = await services.licenses.status(alice.account_id)
    assert status is not None
    assert status.tier == "basic"

    await execute(services, "UPDATE payments SET amount_micro = 79000000")
    history = await services.payments.history(alice.account_id)
    assert history.untrusted == {payment.id}
    report = await services.payments.check(payment.id)
    assert report.reason is CheckNote.TAMPERED and report.signature_ok is False

    await execute(services, "UPDATE licenses SET tier = 'pro'")
    assert await services.licenses.status(alice.account_id) is None
    rows_seen = [(f["rule"], f["row"]) for f in await suspicious(services)]
    assert rows_seen == [
        ("signature_invalid", "payment"),
        ("signature_invalid", "payment"),
        ("signature_invalid", "license"),
    ]
    # One alert for the rule and account; the later hits are folded into it.
    assert await rows(services, "SELECT rule, folded FROM alerts") == [("signature_invalid", 0)]
    assert await rows(services, "SELECT folded FROM alert_dedupe") == [(2,)]

    # A tampered invoice (a cheaper amount) is refused and stops being checked.
    other = await services.payments.create_invoice(alice, "pro")
    await execute(services, "UPDATE invoices SET amount_micro = 1000000 WHERE id = ?", other.id)
    with pytest.raises(Refusal) as refused:
        await services.payments.submit(alice, other.id, tx_hash(9))
    assert refused.value.reason == InvoiceUnusable()


async def test_licenses_extend_and_higher_tiers_start_now(
    services: Services, fake: FakeTronscan, clock: FakeClock
) -> None:
    alice = await account(services, 1)
    start = clock.now()

    async def buy(plan: str, n: int) -> None:
        invoice = await services.payments.create_invoice(alice, plan)
        tx = success(tx_hash=tx_hash(n), timestamp=int(clock.now().timestamp()) * 1000)
        tx["trc20TransferInfo"][0]["amount_str"] = str(invoice.amount_micro)
        payment = await services.payments.submit(alice, invoice.id, fake.add(tx))
        assert (await services.payments.check(payment.id)).decided

    await buy("basic", 1)
    clock.advance(days=1)
    await buy("basic", 2)
    status = await services.licenses.status(alice.account_id)
    assert status is not None and status.tier == "basic"
    assert status.tier_ends_at == start + timedelta(days=60)
    await buy("pro", 3)  # an upgrade runs from now
    status = await services.licenses.status(alice.account_id)
    assert status is not None and status.tier == "pro"
    assert status.tier_ends_at == clock.now() + timedelta(days=30)
    assert status.paid_until == start + timedelta(days=60)
    await buy("basic", 4)  # a lower tier queues after everything at its tier or above
    [(starts, ends)] = await rows(
        services, "SELECT starts_at, ends_at FROM licenses WHERE payment_id = 4"
    )
    assert (starts, ends) == (
        to_iso(start + timedelta(days=60)),
        to_iso(start + timedelta(days=90)),
    )
