"""Hash burning: anyone who watches the public receive address sees a customer's transfer and
submits its hash to an invoice of their own first, hoping the hash is then "already used" and the
real payer is refused (and flagged as suspicious).

Defence: a hash is held only by a pending or approved payment (a partial unique index in the
database). A payment whose transfer does not fit its invoice fails and lets go of the hash, and
/pay fails such a holder on the spot before refusing anybody; refusing because another pending
payment still holds a hash suspects nobody. Open invoices' amounts are 0.02 apart and the
tolerance is under half of that, so a transfer fits one open invoice only: the front-runner
cannot make it fit theirs, and the same transfer never pays two invoices.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli import main
from core.adapters.tronscan import parse_transaction_info
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.errors import ConfigError, DuplicateError, Refusal
from core.payments.ports import PaymentStatus
from core.payments.refusals import TxAlreadyUsed, TxBeingChecked, TxHashMalformed
from core.payments.rules import Outcome, evaluate
from core.services import Services
from storage.sql import IntegrityError
from tests.support import raw_db
from tests.support.constants import ADMIN_ID
from tests.support.fake_tronscan import SUCCESS_HASH, FakeTronscan, payments_config, success
from tests.support.harness import BotHarness
from tests.support.payment_steps import core_account, invoice_for, payer, said
from tests.support.services import build_services
from tests.support.steps import db_rows, enable_2fa, events

pytestmark = pytest.mark.payments

VICTIM, MALLORY = "victim@example.com", "mallory@example.com"


async def findings(bot: BotHarness) -> list[tuple[int | None, str]]:
    """(account, rule) of every suspicious-activity event."""
    return [
        (e.account_id, e.details["rule"])
        for e in await events(bot)
        if e.event_type == "SUSPICIOUS_ACTIVITY"
    ]


@pytest.mark.parametrize(("plan", "amount"), [("basic", "29.02"), ("pro", "79.00")])
async def test_a_front_runner_with_a_wrong_amount_fails_and_the_payer_is_then_approved(
    bot: BotHarness, fake: FakeTronscan, plan: str, amount: str
) -> None:
    victim = await payer(bot, 2, VICTIM)
    mallory = await payer(bot, 3, MALLORY)
    assert "exactly 29.00 USDT" in await invoice_for(bot, victim)
    assert f"exactly {amount} USDT" in await invoice_for(bot, mallory, plan)
    fake.add(success())  # the victim's 29.00 USDT transfer, visible to everyone on the chain

    received, *_ = await bot.send(mallory, f"/pay 2 {SUCCESS_HASH}")
    assert "Payment #1 for invoice #2 received" in received.plain
    failed = await said(bot, mallory, "Payment #1 can't be accepted")
    assert "the amount doesn't match the invoice" in failed

    received, *_ = await bot.send(victim, f"/pay 1 {SUCCESS_HASH}")
    assert "Payment #2 for invoice #1 received" in received.plain
    assert "Payment #2 confirmed: 29.00 USDT" in await said(bot, victim, "confirmed")
    assert await db_rows(bot, "SELECT id, invoice_id, status, note FROM payments") == [
        (1, 2, "failed", "amount_mismatch"),
        (2, 1, "approved", "ok"),
    ]
    assert await db_rows(bot, "SELECT id, status FROM invoices ORDER BY id") == [
        (1, "paid"),
        (2, "open"),
    ]
    assert await findings(bot) == []  # the real payer is not suspected

    # The front-runner trying again now meets a hash that paid: refused, and now suspicious.
    (again,) = await bot.send(mallory, f"/pay 2 {SUCCESS_HASH}")
    assert "already used for a payment" in again.plain
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(2,)]
    [(mallory_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", MALLORY)
    assert await findings(bot) == [(mallory_id, "payment_hash_reuse")]


async def test_a_front_runner_cannot_get_an_invoice_the_transfer_fits(
    bot: BotHarness, fake: FakeTronscan, services: Services, settings: Settings
) -> None:
    victim = await payer(bot, 2, VICTIM)
    mallory = await payer(bot, 3, MALLORY)
    assert "exactly 29.00 USDT" in await invoice_for(bot, victim)
    # Asking again gives Mallory the same open invoice, never the victim's amount.
    assert "exactly 29.02 USDT" in await invoice_for(bot, mallory)
    assert "exactly 29.02 USDT" in await invoice_for(bot, mallory)
    helpers = [await core_account(services, n) for n in range(12)]
    for helper in helpers:  # accounts Mallory controls: each gets its own amount
        await services.payments.create_invoice(helper, "basic")
    async with services.uow(read_only=True) as uow:
        invoices = [await uow.payments.invoice(n) for n in range(1, 15)]
    open_invoices = [i for i in invoices if i is not None]
    assert len({i.amount_micro for i in open_invoices}) == len(open_invoices) == 14
    # Whatever amount a transfer carries, at most one open invoice accepts it.
    for micro in range(28_990_000, 29_300_000, 1_000):
        tx = parse_transaction_info(success(amount_str=str(micro)), SUCCESS_HASH)
        fits = [
            i.id
            for i in open_invoices
            if evaluate(tx, i, settings.payments).outcome is Outcome.APPROVE
        ]
        assert len(fits) <= 1, (micro, fits)
    fake.add(success())
    await bot.send(mallory, f"/pay 2 {SUCCESS_HASH}")
    await said(bot, mallory, "Payment #1 can't be accepted")
    await bot.send(victim, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, victim, "confirmed")


@pytest.mark.parametrize("victim_first", [True, False])
async def test_the_same_instant_race_through_the_bot_pays_the_payer_and_flags_nobody(
    bot: BotHarness, fake: FakeTronscan, victim_first: bool
) -> None:
    victim = await payer(bot, 2, VICTIM)
    mallory = await payer(bot, 3, MALLORY)
    await invoice_for(bot, victim)
    await invoice_for(bot, mallory)
    fake.add(success())
    sends = [
        bot.send(victim, f"/pay 1 {SUCCESS_HASH}"),
        bot.send(mallory, f"/pay 2 {SUCCESS_HASH}"),
    ]
    answers = await asyncio.gather(*(sends if victim_first else sends[::-1]))
    mine, theirs = answers if victim_first else answers[::-1]
    assert "received" in mine[0].plain
    assert "29.00 USDT" in await said(bot, victim, "confirmed")
    # Mallory is answered either way: received then failed, or "being checked".
    assert "can't be accepted" in " ".join(bot.texts(mallory.id)[-2:]) or (
        "being checked for another invoice" in theirs[0].plain
    )
    rows = await db_rows(bot, "SELECT invoice_id, status FROM payments WHERE status = 'approved'")
    assert rows == [(1, "approved")]
    if "already used for a payment" in theirs[-1].plain:
        # Her /pay was handled only after the payer's approval (on PostgreSQL the two users'
        # updates need not interleave as SQLite's one connection queues them): plain reuse of
        # a hash that paid, flagged as in the test above; the payer is never suspected.
        [(mallory_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", MALLORY)
        assert await findings(bot) == [(mallory_id, "payment_hash_reuse")]
        assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(1,)]
    else:
        assert await findings(bot) == []


async def test_an_admin_cannot_approve_the_failed_front_run_once_the_payer_is_paid(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID)
    totp, _ = await enable_2fa(bot, admin, clock)
    victim = await payer(bot, 2, VICTIM)
    mallory = await payer(bot, 3, MALLORY)
    await invoice_for(bot, victim)
    await invoice_for(bot, mallory)
    fake.add(success())
    await bot.send(mallory, f"/pay 2 {SUCCESS_HASH}")
    await said(bot, mallory, "Payment #1 can't be accepted")
    await bot.send(victim, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, victim, "confirmed")

    (ask,) = await bot.send(admin, "/approve 1")  # Mallory complains; an admin gives in
    assert "Send your 6-digit 2FA code" in ask.plain
    clock.advance(seconds=30)
    (refused,) = await bot.send(admin, totp.at(clock.now()))
    assert "already used for a payment" in refused.plain
    assert await db_rows(bot, "SELECT id, status FROM payments") == [(1, "failed"), (2, "approved")]
    assert await db_rows(bot, "SELECT COUNT(*) FROM licenses") == [(1,)]


async def test_a_hash_an_admin_rejected_cannot_be_sent_again_by_that_account(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    """A rejected payment lets go of its hash, so an admin rejecting a front-runner frees the
    payer's transfer; but the refused account cannot send the same hash again and have the chain
    rules approve what the admin refused, to the same invoice or to a new one."""
    admin = bot.user(ADMIN_ID)
    await enable_2fa(bot, admin, clock)
    victim = await payer(bot, 2, VICTIM)
    mallory = await payer(bot, 3, MALLORY)
    await invoice_for(bot, victim)
    await invoice_for(bot, mallory)
    await bot.send(mallory, f"/pay 2 {SUCCESS_HASH}")  # not on the chain yet: pending
    await said(bot, mallory, "isn't on the chain yet")
    (rejected,) = await bot.send(admin, "/reject 1 front-run of a watched transfer")
    assert "Payment #1 is rejected" in rejected.plain
    fake.add(success())  # the transfer reaches the chain (it fits the victim's invoice only)

    for again in (f"/pay 2 {SUCCESS_HASH}", f"/pay 2 {SUCCESS_HASH.upper()}"):
        (refused,) = await bot.send(mallory, again)
        assert "An admin rejected this transaction for your payment #1" in refused.plain
    await invoice_for(bot, mallory, "pro")
    (refused,) = await bot.send(mallory, f"/pay 3 {SUCCESS_HASH}")
    assert "An admin rejected this transaction" in refused.plain
    assert await db_rows(bot, "SELECT id, status FROM payments") == [(1, "rejected")]

    await bot.send(victim, f"/pay 1 {SUCCESS_HASH}")  # the real payer is not blocked
    await said(bot, victim, "confirmed")
    assert await db_rows(bot, "SELECT id, account_id, status FROM payments") == [
        (1, 3, "rejected"),
        (2, 2, "approved"),
    ]
    assert await findings(bot) == []


async def test_the_same_instant_race_in_core_stores_one_holder_and_pays_one_invoice(
    services: Services, fake: FakeTronscan
) -> None:
    victim, mallory = await core_account(services, 1), await core_account(services, 2)
    first = await services.payments.create_invoice(victim, "basic")
    second = await services.payments.create_invoice(mallory, "basic")
    fake.add(success())
    results = await asyncio.gather(
        services.payments.submit(mallory, second.id, SUCCESS_HASH),
        services.payments.submit(victim, first.id, SUCCESS_HASH),
        return_exceptions=True,
    )
    assert not isinstance(results[1], BaseException)  # the payer always gets in
    await asyncio.gather(
        *(services.payments.check(r.id) for r in results if not isinstance(r, BaseException))
    )
    async with services.uow(read_only=True) as uow:
        paid = await uow.payments.payment_by_tx(SUCCESS_HASH)
    assert paid is not None and paid.status is PaymentStatus.APPROVED
    assert paid.invoice_id == first.id


async def test_two_services_on_one_file_store_one_holder(
    services: Services, settings: Settings, clock: FakeClock, fake: FakeTronscan
) -> None:
    other = await build_services(settings, clock, chain=fake.client(settings.tronscan))
    try:
        alice, bob = await core_account(services, 1), await core_account(services, 2)
        first = await services.payments.create_invoice(alice, "basic")
        second = await other.payments.create_invoice(bob, "basic")
        assert first.amount_micro != second.amount_micro
        unknown = "ab" * 32  # not on the chain yet: neither can be told apart
        results = await asyncio.gather(
            services.payments.submit(alice, first.id, unknown),
            other.payments.submit(bob, second.id, unknown),
            return_exceptions=True,
        )
        stored = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, Refusal)]
        assert len(stored) == 1 and [r.reason for r in refused] == [TxBeingChecked()]
        assert await raw_db.rows(settings, "SELECT COUNT(*) FROM payments") == [(1,)]
    finally:
        await other.aclose()


async def test_the_database_lets_one_payment_hold_a_hash_and_frees_it_on_failure(
    services: Services, fake: FakeTronscan
) -> None:
    victim, mallory = await core_account(services, 1), await core_account(services, 2)
    first = await services.payments.create_invoice(victim, "basic")
    second = await services.payments.create_invoice(mallory, "basic")
    fake.add(success())
    burnt = await services.payments.submit(mallory, second.id, SUCCESS_HASH)
    assert (await services.payments.check(burnt.id)).payment.status is PaymentStatus.FAILED
    paid = await services.payments.submit(victim, first.id, SUCCESS_HASH)
    assert (await services.payments.check(paid.id)).payment.status is PaymentStatus.APPROVED
    # An admin approving the failed front-run later would pay the transfer twice: refused
    # by the repository and by the index itself.
    async with services.uow() as uow:
        with pytest.raises(DuplicateError):
            await uow.payments.approve(
                burnt.id,
                amount_micro=29_000_000,
                approved_at=services.clock.now(),
                approved_by_account_id=None,
                signature="0" * 64,
                note="x",
                was=(PaymentStatus.FAILED,),
            )
    with pytest.raises((sqlite3.IntegrityError, IntegrityError)):
        await raw_db.execute(
            services.settings, "UPDATE payments SET status = 'pending' WHERE id = ?", burnt.id
        )
    with pytest.raises(Refusal) as refused:
        await services.payments.submit(mallory, second.id, SUCCESS_HASH)
    assert refused.value.reason == TxAlreadyUsed()


@pytest.mark.parametrize(
    "written",
    [
        SUCCESS_HASH.upper(),
        f"  {SUCCESS_HASH[:32].upper()}{SUCCESS_HASH[32:]}  ",
        f"0x{SUCCESS_HASH}",
        f"https://tronscan.org/#/transaction/{SUCCESS_HASH}",
    ],
)
async def test_another_spelling_of_the_hash_is_the_same_hash_or_refused(
    services: Services, fake: FakeTronscan, written: str
) -> None:
    victim, mallory = await core_account(services, 1), await core_account(services, 2)
    first = await services.payments.create_invoice(victim, "basic")
    second = await services.payments.create_invoice(mallory, "basic")
    fake.add(success())
    try:
        burnt = await services.payments.submit(mallory, second.id, written)
    except Refusal as refused:  # not accepted today: nothing stored
        assert refused.reason == TxHashMalformed()
        assert await _payments(services) == []
    else:  # accepted: stored as the one canonical hash, so it holds (and frees) that hash
        assert burnt.tx_hash == SUCCESS_HASH
        await services.payments.check(burnt.id)
    paid = await services.payments.submit(victim, first.id, SUCCESS_HASH)
    assert (await services.payments.check(paid.id)).payment.status is PaymentStatus.APPROVED
    assert all(
        status != "approved" or invoice == first.id for invoice, status in await _payments(services)
    )


async def _payments(services: Services) -> list[tuple[int, str]]:
    found = await raw_db.rows(
        services.settings, "SELECT invoice_id, status FROM payments ORDER BY id"
    )
    return [(int(r[0]), str(r[1])) for r in found]


# --- one transfer, one invoice: the tolerance stays under half the step between amounts ------

TOO_LARGE = (
    "payments.amount_tolerance {given} USDT is too large: it must be less than 0.01 USDT (half"
    " the 0.02 USDT step between open invoices' amounts), or one transfer could pay two invoices"
)


def _tolerance(tmp_path: Path, value: str) -> Path:
    path = payments_config(tmp_path)
    path.write_text(path.read_text() + f'amount_tolerance = "{value}"\n')
    return path


@pytest.mark.parametrize("given", ["0.01", "0.02", "5"])
def test_a_tolerance_that_lets_one_transfer_fit_two_invoices_is_refused_at_start_up(
    tmp_path: Path, env: dict[str, str], given: str
) -> None:
    path = _tolerance(tmp_path, given)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env)
    assert info.value.problems == [f"{path}: {TOO_LARGE.format(given=given)}"]
    assert load_settings(_tolerance(tmp_path, "0.009999"), env).payments.amount_tolerance_micro == (
        9_999
    )


async def test_settings_made_in_code_with_such_a_tolerance_build_no_payment_service(
    settings: Settings, clock: FakeClock
) -> None:
    loose = replace(settings, payments=replace(settings.payments, amount_tolerance_micro=10_000))
    with pytest.raises(ConfigError) as info:
        await build_services(loose, clock)
    assert info.value.problems == [TOO_LARGE.format(given="0.01")]


def test_verzek_run_refuses_such_a_tolerance_in_one_line(
    tmp_path: Path,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = _tolerance(tmp_path, "0.01")
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"verzek: config: {path}: {TOO_LARGE.format(given='0.01')}"]
    assert not (tmp_path / "data").exists()  # nothing was started nor written
