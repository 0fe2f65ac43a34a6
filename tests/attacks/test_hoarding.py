"""Hoarding: one person with many accounts, or many Telegram accounts, takes every unique invoice
amount of a plan (or piles up accounts to do so), so nobody else can be sold that plan.

Defence: one open invoice per plan per account (asking again shows the open one) and per
Telegram user across every account it uses or registered; at most
``security.accounts_per_telegram_user`` accounts registered from one Telegram user, counted
and inserted in one write transaction so concurrent /register cannot pass it. When every amount
of a plan is taken anyway, the user is told plainly and the admins alerted (once an hour).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from core.accounts.refusals import TooManyAccounts
from core.clock import FakeClock
from core.config import load_settings
from core.errors import ConfigError, Refusal
from core.payments.rules import AMOUNT_SLOTS, AMOUNT_STEP
from core.services import Services
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer
from tests.support.steps import db_rows, login, register

pytestmark = pytest.mark.payments

FIRST, SECOND = "hoarder@example.com", "hoarder2@example.com"


async def invoices(bot: BotHarness) -> list[tuple]:
    return await db_rows(bot, "SELECT id, account_id, plan, amount_micro, status FROM invoices")


async def test_asking_again_for_the_same_plan_shows_the_open_invoice(bot: BotHarness) -> None:
    user = await payer(bot, 2, FIRST)
    first = await invoice_for(bot, user)
    again = await invoice_for(bot, user)
    assert "exactly 29.00 USDT" in first
    assert again == first  # the same invoice, not a second amount taken
    assert await invoices(bot) == [(1, 1, "basic", 29_000_000, "open")]


async def test_another_plan_is_one_more_invoice_and_no_more(bot: BotHarness) -> None:
    user = await payer(bot, 2, FIRST)
    await invoice_for(bot, user)
    await invoice_for(bot, user, "pro")
    await invoice_for(bot, user, "pro")
    assert await invoices(bot) == [
        (1, 1, "basic", 29_000_000, "open"),
        (2, 1, "pro", 79_000_000, "open"),
    ]


async def test_a_second_account_of_the_same_telegram_user_gets_no_second_invoice(
    bot: BotHarness,
) -> None:
    user = await payer(bot, 2, FIRST)
    await invoice_for(bot, user)
    await bot.send(user, "/logout")
    await register(bot, user, email=SECOND)  # signs the second account in
    refused = await invoice_for(bot, user)
    assert "already have an open invoice for this plan on another account" in refused
    assert "29.00" not in refused
    assert await invoices(bot) == [(1, 1, "basic", 29_000_000, "open")]
    # Another plan on the second account is still fine: the limit is per plan.
    assert "exactly 79.00 USDT" in await invoice_for(bot, user, "pro")
    assert await invoices(bot) == [
        (1, 1, "basic", 29_000_000, "open"),
        (2, 2, "pro", 79_000_000, "open"),
    ]


async def test_a_fourth_account_from_one_telegram_user_is_refused(bot: BotHarness) -> None:
    user = bot.user(2)
    for n in range(3):
        await register(bot, user, email=f"many{n}@example.com")
        await bot.send(user, "/logout")
    fourth = await register(bot, user, email="many3@example.com")
    assert "can't register another account from this Telegram account" in fourth
    assert "registered 3" in fourth
    assert await db_rows(
        bot, "SELECT email, registered_telegram_user_id FROM users ORDER BY id"
    ) == [(f"many{n}@example.com", 2) for n in range(3)]
    assert [
        row[0]
        for row in await db_rows(bot, "SELECT event_type FROM audit_events")
        if row[0] == "REGISTERED"
    ] == ["REGISTERED"] * 3
    # Another Telegram user is not affected.
    assert "many3@example.com" not in fourth
    await register(bot, bot.user(3), email="many3@example.com")
    assert len(await db_rows(bot, "SELECT id FROM users")) == 4


async def test_concurrent_registrations_cannot_pass_the_limit(services: Services) -> None:
    async def attempt(n: int) -> str:
        try:
            await services.accounts.register(
                email=f"race{n}@example.com",
                password_hash="x",
                referral_code=None,
                telegram_user_id=42,
            )
        except Refusal as refusal:
            assert refusal.reason == TooManyAccounts(3)
            return "refused"
        return "created"

    results = await asyncio.gather(*(attempt(n) for n in range(8)))
    assert sorted(results) == ["created"] * 3 + ["refused"] * 5
    async with services.uow(read_only=True) as uow:
        assert await uow.accounts.registered_from(42) == 3


async def _fill_every_amount(services: Services, plan: str = "basic") -> None:
    """Open invoices on every unique amount of ``plan`` (as a hoarder would), in storage."""
    price = services.settings.plans[plan].price_micro
    now = services.clock.now()
    async with services.uow() as uow:
        owner = await uow.accounts.add(
            email="filler@example.com",
            password_hash="x",
            referral_code="FILL0001",
            referred_by=None,
            created_at=now,
        )
        for slot in range(AMOUNT_SLOTS):
            await uow.payments.add_invoice(
                account_id=owner,
                plan=plan,
                tier="basic",
                days=30,
                amount_micro=price + slot * AMOUNT_STEP,
                receive_address="T" + "x" * 33,
                created_at=now,
                expires_at=now + timedelta(hours=24),
            )
        await uow.commit()


async def alerts(bot: BotHarness) -> list[tuple]:
    return await db_rows(bot, "SELECT rule, subject, folded FROM alerts ORDER BY id")


async def test_no_free_amount_tells_the_user_and_alerts_the_admins_once_an_hour(
    bot: BotHarness, services: Services, clock: FakeClock
) -> None:
    await _fill_every_amount(services)
    user = await payer(bot, 2, FIRST)
    other = await payer(bot, 3, SECOND)
    refused = await invoice_for(bot, user)
    assert "All payment amounts for this plan are taken" in refused
    assert "try again in an hour" in refused
    assert "All payment amounts for this plan are taken" in await invoice_for(bot, other)
    assert await db_rows(bot, "SELECT COUNT(*) FROM invoices WHERE account_id != 1") == [(0,)]
    assert await alerts(bot) == [("invoice_slots_exhausted", "plan:basic", 0)]
    assert await db_rows(
        bot, "SELECT folded FROM alert_dedupe WHERE rule = 'invoice_slots_exhausted'"
    ) == [(1,)]  # the second refusal is folded into the next alert

    clock.advance(minutes=61)
    await login(bot, user, email=FIRST)  # the session went idle meanwhile
    assert "All payment amounts for this plan are taken" in await invoice_for(bot, user)
    assert await alerts(bot) == [
        ("invoice_slots_exhausted", "plan:basic", 0),
        ("invoice_slots_exhausted", "plan:basic", 1),
    ]
    # Other plans are unaffected.
    assert "exactly 79.00 USDT" in await invoice_for(bot, user, "pro")


def test_the_account_limit_is_validated(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "limit.toml"
    config.write_text("[security]\naccounts_per_telegram_user = 0\n")
    with pytest.raises(ConfigError, match="accounts_per_telegram_user"):
        load_settings(config, env)
    config.write_text("[security]\naccounts_per_telegram_user = 5\n")
    assert load_settings(config, env).security.accounts_per_telegram_user == 5
