"""Attacker's notebook: the payment screen's buttons and pasted links.

The class of trick: a button's callback data is written by whoever made the message, and a
message can be forwarded, its data replayed or edited by hand; a "link" is any text. Mallory,
with her own Telegram account and her own Verzek account (or none), tries to make the bot act
on the victim's invoice or reminder: she presses the victim's bare-/pay invoice buttons or
Renew button (replayed on her own account, while in her own /pay flow, or not), forges data,
presses after the victim logged out, presses Renew twice to take a second invoice amount,
and pastes links that only look like TronScan's (another host, look-alike digits).
Defence: an invoice button carries only a random token of the one picker machinery
(bot/pickers.py), bound on the server to the Telegram user, chat, message and session it was
shown to, and resolved against the presser's own live session and open invoices at the press;
a Renew button carries only the reminder's random reference, resolved by core against the
presser's own account (core/payments/reminders.py), and Renew goes through create_invoice, so
its hoarding limits hold; a link is read as a hash only when it is exactly tronscan.org's (or
.io's) transaction page with 64 ASCII hex characters (bot/payment_screen.py), anything else
meets the hash format's refusal. Nothing is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot import texts
from bot.fake_telegram import Message, TelegramUser
from core.payments.reminders import RenewButtonStale
from tests.support.fake_tronscan import SUCCESS_HASH, FakeTronscan, success
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.steps import db_rows, login

pytestmark = pytest.mark.payments

VICTIM, MALLORY = 2, 666
VICTIM_EMAIL, MALLORY_EMAIL = "victim@example.com", "mallory@example.com"
MONEY_TABLES = (
    "invoices",
    "payments",
    "licenses",
    "wallet_entries",
    "license_reminders",
    "payment_status_messages",
)


async def money(bot: BotHarness) -> dict[str, list[tuple[Any, ...]]]:
    return {table: await db_rows(bot, f"SELECT * FROM {table}") for table in MONEY_TABLES}


def last_answer(bot: BotHarness) -> str:
    return str(bot.api.callback_answers[-1].get("text", ""))


def in_own_chat(user: TelegramUser) -> Message:
    """A bot message in ``user``'s own private chat to press replayed data on."""
    return Message(user.id, 1, from_bot=True, text="a copy of someone's message")


async def victim_picker(bot: BotHarness) -> tuple[TelegramUser, Message]:
    """The victim with an open invoice and the bare /pay list of it on screen."""
    victim = await payer(bot, VICTIM, VICTIM_EMAIL)
    await invoice_for(bot, victim)
    (ask,) = await bot.send(victim, "/pay")
    assert [b.text for b in ask.buttons] == ["#1 basic — 29.00 USDT"]
    return victim, ask


async def test_another_account_replaying_the_victims_invoice_button_picks_nothing(
    bot: BotHarness,
) -> None:
    _victim, ask = await victim_picker(bot)
    data = str(ask.buttons[0].callback_data)
    mallory = await payer(bot, MALLORY, MALLORY_EMAIL)
    before = await money(bot)
    # Outside any flow of hers: the button was forwarded to her, or its data replayed.
    assert await bot.press_data(mallory, ask, data) == []  # in the victim's chat
    assert last_answer(bot) in (texts.PICKER_NOT_YOURS, texts.SECRET_FLOW_PRIVATE_ONLY)
    assert await bot.press_data(mallory, in_own_chat(mallory), data) == []
    assert last_answer(bot) == texts.PICKER_NOT_YOURS
    # Inside her own /pay flow, with an invoice of her own listed.
    await invoice_for(bot, mallory, "pro")
    (own,) = await bot.send(mallory, "/pay")
    assert [b.text for b in own.buttons] == ["#2 pro — 79.00 USDT"]
    assert own.buttons[0].callback_data != data  # the same list never carries the same data
    assert await bot.press_data(mallory, own, data) == []
    assert last_answer(bot) == texts.PICKER_NOT_YOURS
    # She is still only at "pick one": a hash now is no answer to the victim's invoice.
    replies = await bot.send(mallory, SUCCESS_HASH)
    assert not any("received" in m.plain for m in replies)
    after = await money(bot)
    assert {t: after[t] for t in after if t != "invoices"} == {
        t: before[t] for t in before if t != "invoices"
    }
    assert after["payments"] == []


@pytest.mark.parametrize(
    "data",
    [
        "pay:i:000000000000",
        "pay:i:1",  # the invoice's id instead of the reference
        "pay:i:",
        "pay:i:" + "f" * 52,
        "pay:p:99999999999999999999999",
        "pay:p:-1",
        "pay:p:١",  # an Arabic-Indic one
        "pay:x",
        "pk:",
        "pk:1",  # the invoice's id instead of a token
        "pk:AAAAAAAAAAAA",
        "pk:" + "f" * 52,
        "adm:pk:AAAAAAAAAAAA",
        "rnw:000000000000",
        "rnw:ZZZZZZZZZZZZ",
        "rnw:1",
        "rnw:" + "a" * 60,
    ],
)
async def test_forged_button_data_is_answered_and_writes_nothing(
    bot: BotHarness, data: str
) -> None:
    victim, ask = await victim_picker(bot)
    before = await money(bot)
    replies = await bot.press_data(victim, ask, data)
    assert not any("Invoice #" in m.plain or "received" in m.plain for m in replies)
    assert bot.api.callback_answers, "the press was answered"
    if data.startswith(("pay:i:", "rnw:", "pk:")):
        assert last_answer(bot) in (
            texts.PAY_PICK_STALE,
            texts.PICKER_EXPIRED,
            texts.RENEW_LOGIN_FIRST,
            texts.render(RenewButtonStale()),
        )
    assert await money(bot) == before


async def test_an_invoice_button_pressed_after_logout_does_nothing_even_after_login(
    bot: BotHarness,
) -> None:
    victim, ask = await victim_picker(bot)
    data = str(ask.buttons[0].callback_data)
    await bot.send(victim, "/logout")
    before = await money(bot)
    # The list belonged to the session that ended: the press says so, and takes the buttons off.
    assert await bot.press_data(victim, ask, data) == []
    assert last_answer(bot) == texts.PICKER_SESSION_GONE
    assert ask.buttons == []
    assert await bot.press_data(victim, ask, data) == []  # and the button is dead after it
    assert last_answer(bot) == texts.PICKER_EXPIRED
    # A new session does not revive it (whoever has the phone now).
    await login(bot, victim, email=VICTIM_EMAIL)
    (fresh,) = await bot.send(victim, "/pay")
    assert await bot.press_data(victim, fresh, data) == []
    assert last_answer(bot) == texts.PICKER_EXPIRED
    replies = await bot.send(victim, SUCCESS_HASH)  # at "pick one": a hash picks nothing
    assert not any("received" in m.plain for m in replies)
    assert await money(bot) == before


async def reminded(bot: BotHarness, fake: FakeTronscan, clock: Any) -> tuple[TelegramUser, Message]:
    """The victim, with a license and its 3-day reminder on screen."""
    victim = await payer(bot, VICTIM, VICTIM_EMAIL)
    await invoice_for(bot, victim)
    fake.add(success())
    await bot.send(victim, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, victim, "until 2025-12-28 03:00")
    clock.set(datetime(2025, 12, 25, 4, 0, tzinfo=UTC))
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("renewal-reminders")
    await job.run(bot.app)
    reminder = await said(bot, victim, "plan ends on")
    message = next(m for m in bot.api.sent_to(victim.id) if m.plain == reminder)
    return victim, message


async def test_another_account_pressing_the_victims_renew_opens_nothing(
    bot: BotHarness, fake: FakeTronscan, clock: Any
) -> None:
    _victim, reminder = await reminded(bot, fake, clock)
    data = str(reminder.buttons[0].callback_data)
    stranger = bot.user(MALLORY + 1)  # no account at all; the data replayed in her own chat
    assert await bot.press_data(stranger, in_own_chat(stranger), data) == []
    assert last_answer(bot) == texts.RENEW_LOGIN_FIRST
    mallory = await payer(bot, MALLORY, MALLORY_EMAIL)
    before = await money(bot)
    assert await bot.press_data(mallory, in_own_chat(mallory), data) == []
    assert "isn't for the account you are logged in to" in last_answer(bot)
    assert await bot.press_data(mallory, reminder, data) == []  # on the victim's message
    assert last_answer(bot) in (texts.PRIVATE_CHAT_ONLY, texts.render(RenewButtonStale()))
    assert await money(bot) == before  # no invoice for her, none on the victim's account


async def test_renew_pressed_in_a_group_posts_no_invoice_there(
    bot: BotHarness, fake: FakeTronscan, clock: Any
) -> None:
    victim, reminder = await reminded(bot, fake, clock)
    await login(bot, victim, email=VICTIM_EMAIL)
    data = str(reminder.buttons[0].callback_data)
    in_group = Message(-100_555, 1, from_bot=True, text="a forwarded reminder")
    before = await money(bot)
    assert await bot.press_data(victim, in_group, data) == []
    assert last_answer(bot) == texts.PRIVATE_CHAT_ONLY
    assert bot.api.sent_to(-100_555) == [] and await money(bot) == before


async def test_renew_pressed_twice_is_one_invoice(
    bot: BotHarness, fake: FakeTronscan, clock: Any
) -> None:
    victim, reminder = await reminded(bot, fake, clock)
    await login(bot, victim, email=VICTIM_EMAIL)
    (first,) = await bot.press(victim, reminder, "🔄 Renew basic")
    (second,) = await bot.press(victim, reminder, "🔄 Renew basic")
    assert "Invoice #2" in first.plain and "Invoice #2" in second.plain
    assert await db_rows(bot, "SELECT id, status FROM invoices WHERE status = 'open'") == [
        (2, "open")
    ]


EVIL_LINKS = [
    f"https://evil.example/#/transaction/{SUCCESS_HASH}",
    f"https://tronscan.org.evil.example/#/transaction/{SUCCESS_HASH}",
    f"https://evil.example/?u=https://tronscan.org/#/transaction/{SUCCESS_HASH}",
    "https://tronscan.org/#/transaction/" + SUCCESS_HASH.replace("7", "\u0667"),  # ٧
    "https://tronscan.org/#/transaction/" + SUCCESS_HASH.replace("0", "\uff10"),  # ０
    "https://tronscan.org/#/transaction/" + SUCCESS_HASH.replace("c", "\u0441"),  # Cyrillic с
]


@pytest.mark.parametrize("link", EVIL_LINKS)
async def test_a_link_that_only_looks_like_tronscan_is_refused(
    bot: BotHarness, fake: FakeTronscan, link: str
) -> None:
    victim = await payer(bot, VICTIM, VICTIM_EMAIL)
    await invoice_for(bot, victim)
    fake.add(success())
    before = await money(bot)
    (refused,) = await bot.send(victim, f"/pay 1 {link}")
    assert "That is not a transaction hash" in refused.plain
    # And as the answer of bare /pay's hash step: refused, asked again, nothing stored.
    (ask,) = await bot.send(victim, "/pay")
    await bot.press(victim, ask, "#1 basic — 29.00 USDT")
    (again,) = await bot.send(victim, link)
    assert "That is not a transaction hash" in again.plain
    assert await money(bot) == before
    assert fake.requests == []  # TronScan was never asked about it
