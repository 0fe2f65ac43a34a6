"""Attacks on Telegram Stars payments (issue 20, SPEC §12): forged, edited and replayed
payloads, another account's link, a wrong price, a charge sent twice (even at once), a payment
for a deleted account, and refunds by someone who is not an admin, without 2FA, or twice.
Each asserts what the user sees and that nothing was granted."""

from __future__ import annotations

import asyncio

import pytest

from bot.fake_telegram import TelegramUser
from bot.fake_telegram.stars import PERIOD, InvoiceLink
from core.authz import NotAdmin
from core.clock import FakeClock, to_iso
from core.errors import Refusal
from tests.support import raw_db
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.payment_steps import payer
from tests.support.stars_steps import checkout, pay_stars, payload_of, stars_link, stars_rows
from tests.support.steps import EMAIL, PASSWORD, db_rows, enable_2fa, login, register

pytestmark = pytest.mark.payments


async def test_a_forged_or_edited_payload_is_refused_and_grants_nothing(bot: BotHarness) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    real = payload_of(bot, url)
    reference, mac = real.split(".")[1:]
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    forged = [
        "1",  # a guessable id
        "vs1." + "A" * 22 + "." + "0" * 64,  # an invented reference
        f"vs1.{reference}.{flipped}",  # the MAC edited
        f"vs1.{reference[::-1]}.{mac}",  # the reference edited
        real + "x",  # extended
        "vs1." + reference + "." + mac.upper(),  # case games
    ]
    for payload in forged:
        _, answer = await checkout(bot, alice, url, payload=payload)
        assert answer.answer is False and answer.error_message
        assert "not valid" in answer.error_message
    assert await stars_rows(bot) == (0, 0, 0)
    # Telegram takes no payment after a refusal; a successful_payment carrying a forged payload
    # (a replay from elsewhere) grants nothing and alerts the admins.
    bot.api.push_payment(alice, forged[2], 1500, "stx-forged-1")
    await bot.settle()
    assert "granted nothing" in bot.texts(alice.id)[-1]
    assert await stars_rows(bot) == (0, 0, 1)


async def test_another_accounts_link_cannot_be_paid(bot: BotHarness) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    mallory = await payer(bot, 3, "mallory@example.com")
    url = await stars_link(bot, alice)
    _, answer = await checkout(bot, mallory, url)
    assert answer.answer is False and "someone else" in (answer.error_message or "")
    bot.api.push_payment(mallory, payload_of(bot, url), 1500, "stx-mallory")
    await bot.settle()
    assert await stars_rows(bot) == (0, 0, 1)


async def test_a_link_without_a_live_session_is_refused(bot: BotHarness) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    await bot.send(alice, "/logout")
    _, answer = await checkout(bot, alice, url)
    assert answer.answer is False and "/login" in (answer.error_message or "")


async def test_a_wrong_price_is_refused(bot: BotHarness) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    for amount in (1, 1499, 1501, 4000):
        _, answer = await checkout(bot, alice, url, amount=amount)
        assert answer.answer is False and "price" in (answer.error_message or "")
    bot.api.push_payment(alice, payload_of(bot, url), 1, "stx-cheap")
    await bot.settle()
    assert await stars_rows(bot) == (0, 0, 1)


async def test_a_replayed_payment_grants_once(bot: BotHarness) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    charge = await pay_stars(bot, alice, url)
    assert await stars_rows(bot) == (1, 1, 0)
    # The same successful_payment again (same charge id): nothing more.
    bot.api.push_payment(alice, payload_of(bot, url), 1500, charge)
    await bot.settle()
    # The same link paid again as a new first payment: the invoice is no longer open.
    _, answer = await checkout(bot, alice, url)
    assert answer.answer is False and "paid or closed" in (answer.error_message or "")
    bot.api.push_payment(alice, payload_of(bot, url), 1500, "stx-second-first")
    await bot.settle()
    assert await stars_rows(bot) == (1, 1, 2)
    assert "granted nothing" in bot.texts(alice.id)[-1]


async def test_the_same_charge_at_once_grants_once(bot: BotHarness) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    payload = payload_of(bot, url)

    async def deliver() -> bool:
        grant = await bot.services.stars.record_payment(
            alice.id,
            payload,
            charge_id="stx-race",
            currency="XTR",
            total=1500,
            is_recurring=True,
            is_first_recurring=True,
            expires_at=None,
        )
        return grant.license is not None

    results = await asyncio.gather(*(deliver() for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert (await stars_rows(bot))[:2] == (1, 1)


async def test_a_payment_for_a_deleted_account_grants_nothing(bot: BotHarness) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    query_id, answer = await checkout(bot, alice, url)
    assert answer.answer is True
    # Deleted between the checkout and the payment (core/accounts/deletion.py sets closed_at).
    async with bot.services.uow() as uow:
        account = await uow.accounts.by_email("alice@example.com")
        assert account is not None
    await raw_db.execute(
        bot.settings,
        "UPDATE users SET closed_at = ? WHERE id = ?",
        to_iso(bot.services.clock.now()),
        account.id,
    )
    bot.api.pay_after_checkout(query_id)
    await bot.settle()
    assert await stars_rows(bot) == (0, 0, 1)
    [(evidence,)] = await db_rows(
        bot, "SELECT evidence FROM alerts WHERE rule = 'stars_payment_refused'"
    )
    assert "closed_account" in evidence


async def test_refunds_need_an_admin_with_2fa_and_happen_once(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    await pay_stars(bot, alice, url)

    # Not an admin: the gate, the handler's filter and core each refuse.
    (denied,) = await bot.send(alice, "/refund 1")
    assert denied.plain == "Sorry, that command is not available."
    assert await bot.press_data(alice, denied, "adm:stref:1") == []
    assert "not available" in bot.api.callback_answers[-1]["text"]
    session = await bot.services.sessions.current(alice.id)
    assert session is not None
    with pytest.raises(NotAdmin):
        await bot.services.stars.payment(session, 1)
    assert not [c for c in bot.api.calls if c[0] == "refundStarPayment"]

    # An admin without 2FA: told to turn it on; nothing refunded.
    admin = bot.user(ADMIN_ID)
    await register(bot, admin, email=EMAIL, password=PASSWORD)
    await login(bot, admin)
    (no_2fa,) = await bot.send(admin, "/refund 1")
    assert "two-factor authentication on" in no_2fa.plain


async def test_a_refund_needs_the_code_and_cannot_happen_twice(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID)
    totp, _ = await enable_2fa(bot, admin, clock)
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    await pay_stars(bot, alice, url)
    (confirm,) = await bot.send(admin, "/refund 1")
    (ask,) = await bot.press(admin, confirm, "adm:stref:1")
    assert "2FA code" in ask.plain
    (wrong,) = await bot.send(admin, "000000")
    assert "didn't work" in wrong.plain
    assert not [c for c in bot.api.calls if c[0] == "refundStarPayment"]
    clock.advance(seconds=30)
    (done,) = await bot.send(admin, totp.at(clock.now()))
    assert "refunded" in done.plain
    (confirm,) = await bot.send(admin, "/refund 1")
    (ask,) = await bot.press(admin, confirm, "adm:stref:1")
    clock.advance(seconds=30)
    (again,) = await bot.send(admin, totp.at(clock.now()))
    assert "refunded already" in again.plain
    assert len([c for c in bot.api.calls if c[0] == "refundStarPayment"]) == 1
    session = await bot.services.sessions.current(admin.id)
    assert session is not None
    with pytest.raises(Refusal):
        await bot.services.stars.payment(session, 99)


async def test_rows_edited_on_disk_are_never_trusted(bot: BotHarness) -> None:
    """Someone with write access to the database lowers an invoice's price, or re-points a
    paid charge: the signatures fail, so the cheap checkout is refused and the edited payment
    can be neither shown as a subscription nor refunded."""
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    await raw_db.execute(bot.settings, "UPDATE stars_invoices SET price_stars = 1")
    _, answer = await checkout(bot, alice, url, amount=1)
    assert answer.answer is False and "not valid" in (answer.error_message or "")

    url = await stars_link(bot, alice)
    await pay_stars(bot, alice, url)
    (shown,) = await bot.send(alice, "/subscription")
    assert "payment #1" in shown.plain
    await raw_db.execute(bot.settings, "UPDATE stars_payments SET charge_id = 'stx-someone-else'")
    (hidden,) = await bot.send(alice, "/subscription")
    assert "no Telegram Stars subscription" in hidden.plain


# --- Telegram's checkout and receipts are never dropped ---------------------------------------


async def _over_the_limit(bot: BotHarness, user_id: int) -> None:
    """Spend the user's whole window, so their next update would be refused."""
    for _ in range(10_000):
        if not (await bot.services.ratelimit.check(user_id, auth=False)).allowed:
            return
    raise AssertionError("the limiter never refused")


async def test_a_user_over_the_rate_limit_still_gets_a_checkout_answer_and_is_paid(
    bot: BotHarness,
) -> None:
    """Trick: spend the rate limit (or make someone spend it) right before paying: Telegram
    would fail the checkout after 10 s of silence, or take the Stars and the bot would drop the
    receipt. The pre_checkout_query is answered and the successful_payment recorded anyway;
    ordinary texts stay refused."""
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    await _over_the_limit(bot, alice.id)
    assert await bot.send(alice, "/help") == []  # refused (told once already): silence
    query_id, answer = await checkout(bot, alice, url)
    assert answer.answer is True
    bot.api.pay_after_checkout(query_id)
    await bot.settle()
    assert await stars_rows(bot) == (1, 1, 0)
    # Refused checkouts are answered too, with their reason, never with silence.
    url = await stars_link_unlimited(bot, alice)
    _, wrong = await checkout(bot, alice, url, amount=1)
    assert wrong.answer is False and "price" in (wrong.error_message or "")


async def stars_link_unlimited(bot: BotHarness, user: TelegramUser) -> str:
    """A second link made in core (the user's own commands are over the limit)."""
    session = await bot.services.sessions.current(user.id)
    assert session is not None
    _, payload = await bot.services.stars.create_invoice(session, "basic")
    url = f"https://t.me/$fakeinvoice-core-{payload[-6:]}"
    bot.api.stars.links[url] = InvoiceLink(payload, "XTR", 1500, PERIOD)
    return url


async def test_a_payment_behind_a_flood_is_answered_and_recorded(bot: BotHarness) -> None:
    """Trick: queue a flood of messages so the per-user cap drops what follows, then pay:
    the checkout answer and the receipt are not the user's typing and are never dropped."""
    alice = await payer(bot, 2, "alice@example.com")
    url = await stars_link(bot, alice)
    for n in range(60):
        bot.api.user_sends(alice, f"/help {n}")
    query_id = bot.api.user_opens_invoice(alice, url)
    await bot.settle(timeout=30)
    assert bot.processor.dropped > 0
    assert bot.api.checkout_answer(query_id).answer is True
    for n in range(60):
        bot.api.user_sends(alice, f"/help {n}")
    bot.api.pay_after_checkout(query_id)
    await bot.settle(timeout=30)
    assert await stars_rows(bot) == (1, 1, 0)
