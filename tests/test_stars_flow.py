"""Telegram Stars through the real bot against the fake Bot API (issue 20, SPEC §12): the
subscription link, checkout, first payment and renewal, cancelling and re-enabling the
renewal, the admin's refund, referral commission in USDT terms, and the fake's own rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.fake_telegram.profile import BadRequest
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.errors import ConfigError
from core.payments.wallet import Balance, WalletLedger
from tests.support import raw_db
from tests.support.constants import ADMIN_ID
from tests.support.fake_tronscan import payments_config
from tests.support.harness import BotHarness
from tests.support.payment_steps import payer
from tests.support.stars_steps import checkout, pay_stars, stars_link
from tests.support.steps import db_rows, enable_2fa, events, login, register

pytestmark = pytest.mark.payments


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    """The payments config plus a Stars rate: 1 Star counts for 0.02 USDT."""
    config = payments_config(tmp_path)
    config.write_text(config.read_text() + '\n[plans]\nstars_usdt_rate = "0.02"\n')
    return load_settings(config, env)


async def test_purchase_renewal_cancel_and_refund(bot: BotHarness, clock: FakeClock) -> None:
    referrer = bot.user(1)
    await register(bot, referrer)
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users")
    alice = bot.user(2)
    await register(bot, alice, email="alice@example.com", referral=code)
    await login(bot, alice, email="alice@example.com")
    (pick,) = await bot.send(alice, "/subscribe")
    assert "Telegram Stars" in pick.plain
    url = await stars_link(bot, alice, "basic")
    ((_, created),) = [c for c in bot.api.calls if c[0] == "createInvoiceLink"]
    assert created["currency"] == "XTR" and "provider_token" not in created
    assert int(created["subscription_period"]) == 2592000
    assert created["prices"] == [{"amount": 1500, "label": "basic"}]
    assert "alice" not in created["payload"] and len(created["payload"].encode()) <= 128

    charge = await pay_stars(bot, alice, url)
    assert "Stars payment #1 received: basic" in bot.texts(alice.id)[-1]
    (me,) = await bot.send(alice, "/me")
    assert "basic" in me.plain
    kinds = [e.event_type for e in await events(bot)]
    assert "PAYMENT_APPROVED" in kinds and "SUBSCRIPTION_STARTED" in kinds
    approved = next(e for e in await events(bot) if e.event_type == "PAYMENT_APPROVED")
    assert approved.details["by"] == "telegram_stars"
    # 1500 Stars x 0.02 USDT = 30 USDT; 10 % commission = 3 USDT to the referrer.
    assert approved.details["referral_commission_micro"] == 3_000_000
    [(balance,)] = await db_rows(bot, "SELECT sum(amount_micro) FROM wallet_entries")
    assert balance == 3_000_000

    # Thirty days later Telegram renews: the license is extended.
    renewal = bot.api.renew(charge)
    assert renewal is not None
    await bot.settle()
    assert "renewed with Stars (payment #2)" in bot.texts(alice.id)[-1]
    [(first_end, second_start)] = await db_rows(
        bot,
        "SELECT a.ends_at, b.starts_at FROM licenses a, licenses b"
        " WHERE a.stars_payment_id = 1 AND b.stars_payment_id = 2",
    )
    assert first_end == second_start

    # /subscription: cancel the renewal (editUserStarSubscription), then re-enable it.
    (shown,) = await bot.send(alice, "/subscription")
    assert "payment #2, 1500 Stars" in shown.plain
    (cancelled,) = await bot.press(alice, shown, "Cancel renewal")
    assert "Renewal cancelled" in cancelled.plain
    edit = [p for m, p in bot.api.calls if m == "editUserStarSubscription"][-1]
    assert edit["is_canceled"] in (True, "true", "True")
    assert bot.api.stars.charges[renewal].cancelled
    assert any(e.event_type == "SUBSCRIPTION_CANCELLED" for e in await events(bot))
    (shown,) = await bot.send(alice, "/subscription")
    assert "cancelled" in shown.plain
    (resumed,) = await bot.press(alice, shown, "Re-enable renewal")
    assert "re-enabled" in resumed.plain and not bot.api.stars.charges[renewal].cancelled
    (resumed_event,) = [e for e in await events(bot) if e.event_type == "SETTINGS_CHANGED"]
    assert resumed_event.details == {
        "setting": "stars_renewal",
        "renewal": "re-enabled",
        "stars_payment_id": 2,
    }

    # The admin refunds the renewal: its license never starts, the user is told.
    admin = bot.user(ADMIN_ID)
    totp, _ = await enable_2fa(bot, admin, clock)
    (confirm,) = await bot.send(admin, "/refund 2")
    assert "1500 ⭐" in confirm.plain
    await bot.press(admin, confirm, "adm:stref:2")
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    assert "Stars payment #2 refunded" in done.plain
    assert "was refunded by the operator" in bot.texts(alice.id)[-1]
    [(starts, ends)] = await db_rows(
        bot, "SELECT starts_at, ends_at FROM licenses WHERE stars_payment_id = 2"
    )
    assert starts == ends
    rejected = [e for e in await events(bot) if e.event_type == "PAYMENT_REJECTED"][-1]
    assert rejected.details["reason"] == "refunded" and rejected.details["stars_payment_id"] == 2
    (me,) = await bot.send(alice, "/me")
    assert "basic" in me.plain  # the first period still runs, with a valid signature


async def test_the_fake_refuses_what_telegram_refuses(bot: BotHarness) -> None:
    api = bot.api
    good = {
        "title": "Plan",
        "description": "30 days",
        "payload": "p",
        "currency": "XTR",
        "prices": json.dumps([{"label": "x", "amount": 10}]),
        "subscription_period": 2592000,
    }
    await api._api_createInvoiceLink(good, {})
    for bad in (
        {"provider_token": "123:TEST"},
        {"subscription_period": 86400},
        {"payload": "x" * 129},
        {"currency": "USD", "provider_token": "123:TEST"},
        {"prices": json.dumps([{"label": "x", "amount": 10001}])},
    ):
        with pytest.raises(BadRequest):
            await api._api_createInvoiceLink({**good, **bad}, {})
    with pytest.raises(BadRequest, match="CHARGE_NOT_FOUND"):
        await api._api_refundStarPayment({"user_id": 1, "telegram_payment_charge_id": "no"}, {})
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    query_id, answer = await checkout(bot, alice, url)
    assert answer.answer is True
    with pytest.raises(BadRequest, match="query is too old"):
        await api._api_answerPreCheckoutQuery({"pre_checkout_query_id": query_id, "ok": True}, {})
    late = api.user_opens_invoice(alice, url)
    api.stars.checkouts[late].asked_at -= 11
    with pytest.raises(BadRequest, match="query is too old"):
        await api._api_answerPreCheckoutQuery({"pre_checkout_query_id": late, "ok": True}, {})
    with pytest.raises(ValueError):
        api.pay_after_checkout(late)


async def test_without_a_rate_stars_earn_no_commission(env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings(payments_config(tmp_path), env)
    assert settings.payments.stars_usdt_rate_micro is None
    assert [p.price_stars for p in settings.plans.values()] == [1500, 4000]


def test_stars_prices_and_rate_are_checked_in_the_config(
    env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "plans.toml"
    config.write_text(
        '[plans]\nstars_usdt_rate = "0.013"\n'
        '[plans.gold]\nprice_usdt = "99"\ndays = 30\ntier = "pro"\nprice_stars = 5000\n'
        '[plans.basic]\nprice_usdt = "29"\ndays = 30\ntier = "basic"\n'
    )
    settings = load_settings(config, env)
    assert settings.payments.stars_usdt_rate_micro == 13_000
    assert settings.plans["gold"].price_stars == 5000
    assert settings.plans["basic"].price_stars == 1500  # the built-in plan's Stars price
    config.write_text(
        '[plans.gold]\nprice_usdt = "99"\ndays = 30\ntier = "pro"\nprice_stars = 20000\n'
    )
    with pytest.raises(ConfigError, match="price_stars"):
        load_settings(config, env)


async def test_a_refund_takes_back_the_referral_commission_once(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The referrer was credited 3 USDT for a Stars payment and already spent it (a signed
    debit); the admin refunds the payment: a signed reversing entry linked to that Stars
    payment takes the commission back, so the referrer's balance goes negative (it blocks
    withdrawals until new commission covers it). Audited; a second refund reverses nothing."""
    referrer = bot.user(1)
    await register(bot, referrer)
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users")
    alice = bot.user(2)
    await register(bot, alice, email="alice@example.com", referral=code)
    await login(bot, alice, email="alice@example.com")
    await pay_stars(bot, alice, await stars_link(bot, alice, "basic"))
    assert await db_rows(
        bot,
        "SELECT account_id, amount_micro, kind, payment_id, stars_payment_id FROM wallet_entries",
    ) == [(1, 3_000_000, "referral_commission", None, 1)]
    async with bot.services.uow() as uow:  # the referrer withdrew it meanwhile
        await WalletLedger(bot.services.crypto).append(
            uow,
            account_id=1,
            amount_micro=-3_000_000,
            kind="withdrawal_hold",
            payment_id=None,
            at=clock.now(),
        )
        await uow.commit()

    admin = bot.user(ADMIN_ID)
    totp, _ = await enable_2fa(bot, admin, clock)
    (confirm,) = await bot.send(admin, "/refund 1")
    await bot.press(admin, confirm, "adm:stref:1")
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    assert "Stars payment #1 refunded" in done.plain
    assert "3.00 USDT referral commission taken back" in done.plain
    rows = await db_rows(
        bot,
        "SELECT account_id, amount_micro, kind, stars_payment_id FROM wallet_entries"
        " WHERE kind = 'referral_clawback'",
    )
    assert rows == [(1, -3_000_000, "referral_clawback", 1)]
    async with bot.services.uow(read_only=True) as uow:
        balance = await WalletLedger(bot.services.crypto).balance(uow, 1)
    assert balance == Balance(-3_000_000, ())  # every entry signed; owed, not forgotten
    rejected = [e for e in await events(bot) if e.event_type == "PAYMENT_REJECTED"][-1]
    assert rejected.details["referral_clawback_micro"] == 3_000_000
    assert rejected.details["referrer_account_id"] == 1
    # Refunding again is refused before anything is written: still one reversal.
    (confirm,) = await bot.send(admin, "/refund 1")
    await bot.press(admin, confirm, "adm:stref:1")
    clock.advance(seconds=30)
    (again,) = await bot.send(admin, totp.at(clock.now()))
    assert "refunded already" in again.plain
    assert (
        len(await db_rows(bot, "SELECT id FROM wallet_entries WHERE kind = 'referral_clawback'"))
        == 1
    )


async def test_a_commission_link_edited_on_disk_takes_nothing_back(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Someone with write access to the database re-points Bob's commission (its unsigned
    stars_payment_id link) at Alice's payment, so refunding Alice would debit Bob's referrer:
    the commission's signed fields disagree with Alice's payment, so nothing is taken back, the
    admins are alerted and the admin is told."""
    referrer = bot.user(1)
    await register(bot, referrer)
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users")
    bob = bot.user(3)
    await register(bot, bob, email="bob@example.com", referral=code)
    await login(bot, bob, email="bob@example.com")
    await pay_stars(bot, bob, await stars_link(bot, bob))
    alice = bot.user(2)
    await register(bot, alice, email="alice@example.com")
    await login(bot, alice, email="alice@example.com")
    await pay_stars(bot, alice, await stars_link(bot, alice))
    await raw_db.execute(bot.settings, "UPDATE wallet_entries SET stars_payment_id = 2")
    admin = bot.user(ADMIN_ID)
    totp, _ = await enable_2fa(bot, admin, clock)
    (confirm,) = await bot.send(admin, "/refund 2")
    await bot.press(admin, confirm, "adm:stref:2")
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    assert "nothing was taken back" in done.plain
    assert await db_rows(bot, "SELECT sum(amount_micro) FROM wallet_entries") == [(3_000_000,)]
    [(evidence,)] = await db_rows(
        bot, "SELECT evidence FROM alerts WHERE rule = 'stars_payment_refused'"
    )
    assert "commission_untrusted" in evidence
