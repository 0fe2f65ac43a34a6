"""The payment screen through the real bot: the invoice as a QR photo with copy buttons, the
status message edited in place as confirmations grow (also after a restart, and when Telegram
can no longer edit it), the receipt's tronscan.org link, and bare /pay asking which invoice
and then the hash or a pasted tronscan link."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import pytest

from bot import texts
from bot.fake_telegram import Message, TelegramUser
from bot.payment_screen import hash_from_text
from bot.pickers import PER_PAGE
from core.clock import FakeClock
from core.config import Plan, Settings
from tests.support.fake_tronscan import RECEIVE_ADDRESS, SUCCESS_HASH, FakeTronscan, success
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.services import build_services
from tests.support.steps import db_rows, scan_qr

pytestmark = pytest.mark.payments

EMAIL = "screen@example.com"
LINK = f"https://tronscan.org/#/transaction/{SUCCESS_HASH}"


async def run_recheck_job(bot: BotHarness) -> None:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("payments-recheck")
    await job.run(bot.app)


def status_message(bot: BotHarness, user: TelegramUser, words: str) -> Message:
    return next(m for m in bot.api.sent_to(user.id) if words in m.plain)


async def test_the_invoice_is_a_qr_photo_with_copy_buttons_and_its_expiry(
    bot: BotHarness,
) -> None:
    user = await payer(bot, 2, EMAIL)
    (pick,) = await bot.send(user, "/subscribe")
    (invoice,) = await bot.press(user, pick, "sub:basic")
    assert scan_qr(invoice.photo) == f"tron:{RECEIVE_ADDRESS}?amount=29.00"
    assert "Invoice #1" in invoice.plain and "exactly 29.00 USDT" in invoice.plain
    assert RECEIVE_ADDRESS in invoice.plain and "Pay by 2025-11-29 03:00 UTC" in invoice.plain
    assert [(b.text, b.copy_text, b.callback_data) for b in invoice.buttons] == [
        ("📋 Copy address", RECEIVE_ADDRESS, None),
        ("📋 Copy amount 29.00", "29.00", None),
    ]
    # The second open invoice of the plan (another account) shows its own exact amount.
    other = await payer(bot, 3, "other@example.com")
    (pick,) = await bot.send(other, "/subscribe")
    (second,) = await bot.press(other, pick, "sub:basic")
    assert scan_qr(second.photo) == f"tron:{RECEIVE_ADDRESS}?amount=29.02"
    assert second.buttons[1].copy_text == "29.02"


async def test_without_a_picture_the_invoice_still_arrives_as_text_with_its_buttons(
    bot: BotHarness,
) -> None:
    user = await payer(bot, 2, EMAIL)
    (pick,) = await bot.send(user, "/subscribe")
    bot.api.fail("sendPhoto", status=500)
    replies = await bot.press(user, pick, "sub:basic")
    invoice = replies[-1]
    assert invoice.photo is None and "exactly 29.00 USDT" in invoice.plain
    assert [b.copy_text for b in invoice.buttons] == [RECEIVE_ADDRESS, "29.00"]


async def test_the_status_message_counts_confirmations_in_place_and_the_receipt_links(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success(confirmations=5))
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "5/19")
    status = status_message(bot, user, "5/19")
    sent = len(bot.api.sent_to(user.id))

    fake.add(success(confirmations=12))
    await run_recheck_job(bot)
    assert "waiting for enough confirmations: 12/19" in status.plain and status.edits == 1
    assert len(bot.api.sent_to(user.id)) == sent  # edited, not a new message
    await run_recheck_job(bot)  # nothing new on the chain: no edit, no message
    assert status.edits == 1 and len(bot.api.sent_to(user.id)) == sent
    assert await db_rows(
        bot, "SELECT payment_id, chat_id, message_id, shown FROM payment_status_messages"
    ) == [(1, user.id, status.message_id, 12)]

    fake.add(success(confirmations=19))
    await run_recheck_job(bot)
    receipt = status_message(bot, user, "Payment #1 confirmed")
    assert "See the transaction on tronscan.org" in receipt.plain
    assert f'<a href="https://tronscan.org/#/transaction/{SUCCESS_HASH}">' in (receipt.text or "")


async def test_after_a_restart_the_job_edits_the_same_status_message(
    bot: BotHarness, fake: FakeTronscan, settings: Settings, clock: FakeClock
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success(confirmations=3))
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "3/19")
    status = status_message(bot, user, "3/19")

    await bot.stop()
    await bot.services.aclose()
    services = await build_services(settings, clock, chain=fake.client(settings.tronscan))
    restarted = BotHarness(settings, services, bot.api)
    await restarted.start()
    try:
        fake.add(success(confirmations=9))
        await run_recheck_job(restarted)
        assert "9/19" in status.plain and status.edits == 1
    finally:
        await restarted.stop()
        await services.aclose()


async def test_a_status_message_telegram_cannot_edit_is_sent_anew_and_remembered(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success(confirmations=4))
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "4/19")
    old = status_message(bot, user, "4/19")
    old.deleted = True  # the user deleted it: "message to edit not found"

    fake.add(success(confirmations=8))
    await run_recheck_job(bot)
    new = status_message(bot, user, "8/19")
    assert new.message_id != old.message_id and "4/19" in old.plain
    assert await db_rows(bot, "SELECT message_id, shown FROM payment_status_messages") == [
        (new.message_id, 8)
    ]
    fake.add(success(confirmations=10))
    await run_recheck_job(bot)
    assert "10/19" in new.plain and new.edits == 1


async def test_message_is_not_modified_is_silence(bot: BotHarness, fake: FakeTronscan) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success(confirmations=6))
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "6/19")
    status = status_message(bot, user, "6/19")
    sent = len(bot.api.sent_to(user.id))
    # As if a round had crashed between editing the message and recording it.
    for _ in range(500):  # the first check records what it showed just after sending it
        async with bot.services.uow() as uow:
            moved = await uow.status_messages.set_shown(1, was=6, shown=-1)
            await uow.commit()
        if moved:
            break
        await asyncio.sleep(0.01)
    assert moved
    await run_recheck_job(bot)
    assert status.edits == 0 and len(bot.api.sent_to(user.id)) == sent
    assert any(method == "editMessageText" for method, _ in bot.api.calls)  # it was tried


async def test_bare_pay_asks_which_invoice_then_takes_a_pasted_tronscan_link(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    await invoice_for(bot, user, "pro")
    (ask,) = await bot.send(user, "/pay")
    assert "Which invoice did you pay?" in ask.plain
    assert [b.text for b in ask.buttons] == ["#2 pro — 79.00 USDT", "#1 basic — 29.00 USDT"]
    for button in ask.buttons:  # an opaque token (bot/pickers.py), never the invoice's id
        assert re.fullmatch(r"pk:[A-Za-z0-9_-]{12}", button.callback_data or "")
    (question,) = await bot.press(user, ask, "#2 pro — 79.00 USDT")
    assert "Invoice #2: send me the transaction hash" in question.plain
    assert ask.buttons == []  # a list picks once
    (ask,) = await bot.send(user, "/pay")  # changed their mind: a new list, at the hash step
    (question,) = await bot.press(user, ask, "#1 basic — 29.00 USDT")
    assert "Invoice #1: send me the transaction hash" in question.plain

    (again,) = await bot.send(user, "/pay")  # /pay again starts over, never "busy"
    assert "Which invoice did you pay?" in again.plain
    (refused,) = await bot.send(user, "/pay 1 nope")  # the full form ends the flow at once
    assert "64 characters" in refused.plain
    (ask,) = await bot.send(user, "/pay")
    await bot.press(user, ask, "#1 basic — 29.00 USDT")
    (refused,) = await bot.send(user, "not a hash")  # asked again, nothing stored
    assert "64 characters" in refused.plain
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(0,)]
    fake.add(success())
    received, *_ = await bot.send(user, f"{LINK}/")
    assert "Payment #1 for invoice #1 received" in received.plain
    await said(bot, user, "Payment #1 confirmed")
    assert await db_rows(bot, "SELECT invoice_id, tx_hash FROM payments") == [(1, SUCCESS_HASH)]
    (done,) = await bot.send(user, SUCCESS_HASH)  # the flow is over: no second payment
    assert await db_rows(bot, "SELECT COUNT(*) FROM payments") == [(1,)]
    assert "received" not in done.plain


async def test_many_open_invoices_come_in_pages(
    settings: Settings, clock: FakeClock, fake: FakeTronscan
) -> None:
    plans = {f"p{n}": Plan(f"p{n}", (10 + n) * 1_000_000, 30, "basic") for n in range(1, 11)}
    roomy = replace(settings, plans=plans)
    services = await build_services(roomy, clock, chain=fake.client(roomy.tronscan))
    bot = BotHarness(roomy, services)
    await bot.start()
    try:
        user = await payer(bot, 2, EMAIL)
        for n in range(1, 9):
            await invoice_for(bot, user, f"p{n}")
        for n in range(9, 11):
            await invoice_for(bot, user, f"p{n}")
        (ask,) = await bot.send(user, "/pay")
        assert [b.text for b in ask.buttons][:2] == ["#10 p10 — 20.00 USDT", "#9 p9 — 19.00 USDT"]
        assert len(ask.buttons) == PER_PAGE + 1 and ask.buttons[-1].text == texts.PICKER_NEXT
        assert "Page 1 of 2" in ask.plain
        assert await bot.press(user, ask, texts.PICKER_NEXT) == []  # the same message, new page
        assert [b.text for b in ask.buttons] == [
            "#2 p2 — 12.00 USDT",
            "#1 p1 — 11.00 USDT",
            texts.PICKER_PREV,
        ]
        await bot.press(user, ask, texts.PICKER_PREV)
        assert ask.buttons[0].text == "#10 p10 — 20.00 USDT"
        await bot.press(user, ask, texts.PICKER_NEXT)
        (question,) = await bot.press(user, ask, "#1 p1 — 11.00 USDT")
        assert "Invoice #1: send me the transaction hash" in question.plain
    finally:
        await bot.stop()
        await services.aclose()


async def test_bare_pay_without_an_open_invoice_says_how_to_make_one(bot: BotHarness) -> None:
    user = await payer(bot, 2, EMAIL)
    (none,) = await bot.send(user, "/pay")
    assert "no open invoice" in none.plain and "/subscribe" in none.plain


async def test_pay_with_arguments_takes_a_tronscan_link_too(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success())
    link = f"https://tronscan.io/#/transaction/{SUCCESS_HASH.upper()}?lang=en"
    received, *_ = await bot.send(user, f"/pay 1 {link}")
    assert "Payment #1 for invoice #1 received" in received.plain
    assert await db_rows(bot, "SELECT tx_hash FROM payments") == [(SUCCESS_HASH,)]


@pytest.mark.parametrize(
    "text",
    [
        LINK,
        f"{LINK}/",
        f"{LINK}?lang=en",
        f"{LINK}/?lang=en&x=1",
        f"  https://www.tronscan.org/#/transaction/{SUCCESS_HASH}  ",
        f"https://tronscan.io/#/transaction/{SUCCESS_HASH}",
    ],
)
def test_tronscan_links_are_read_as_their_hash(text: str) -> None:
    assert hash_from_text(text) == SUCCESS_HASH


@pytest.mark.parametrize(
    "text",
    [
        f"https://evil.example/#/transaction/{SUCCESS_HASH}",
        f"https://tronscan.org.evil.example/#/transaction/{SUCCESS_HASH}",
        f"http://tronscan.org/#/transaction/{SUCCESS_HASH}",
        f"https://tronscan.org/#/transaction/{SUCCESS_HASH}/extra",
        f"https://tronscan.org/#/address/{SUCCESS_HASH}",
        f"https://tronscan.org/#/transaction/{SUCCESS_HASH[:-1]}",
        "https://tronscan.org/#/transaction/" + SUCCESS_HASH.replace("7", "\u0667"),
    ],
)
def test_other_links_are_left_as_typed_for_the_format_check(text: str) -> None:
    assert hash_from_text(text) == text
