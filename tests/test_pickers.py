"""Commands sent bare ask with buttons (SPEC §11): pages, and each pick goes on as if typed."""

from __future__ import annotations

import pytest

from bot import texts
from bot.fake_telegram import html_to_plain
from core.clock import FakeClock
from core.services import Services
from tests.support.attacker import Equipped, own_pending_payment, signed_in_with_2fa
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.sessions_steps import credit, tron_address
from tests.support.steps import add_key, db_rows, logged_in

pytestmark = [pytest.mark.payments, pytest.mark.roomy_limits]

ADDRESS = tron_address(3)


@pytest.fixture
async def admin(services: Services, clock: FakeClock) -> Equipped:
    return await signed_in_with_2fa(services, clock, ADMIN_ID, "admin@example.com")


async def payers(services: Services, clock: FakeClock, n: int) -> list[Equipped]:
    people = []
    for i in range(n):
        who = await signed_in_with_2fa(services, clock, 5000 + i, f"payer{i}@example.com")
        await own_pending_payment(services, who, i + 1)
        people.append(who)
    return people


async def test_keys_come_in_pages_of_eight(bot: BotHarness) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice)
    for n in range(10):
        await add_key(bot, alice, label=f"k{n}")
    (pick,) = await bot.send(alice, "/apikey_delete")
    assert "Page 1 of 2" in pick.plain
    labels = [b.text for b in pick.buttons]
    assert len(labels) == 9 and labels[-1] == texts.PICKER_NEXT
    assert labels[0].startswith("Binance · k0 · …")
    (unchanged,) = [m for m in [pick] if m.message_id == pick.message_id]
    assert await bot.press(alice, pick, texts.PICKER_NEXT) == []  # the same message, edited
    assert "Page 2 of 2" in unchanged.plain
    assert [b.text for b in pick.buttons][-1] == texts.PICKER_PREV
    assert [b.text.split(" · ")[1] for b in pick.buttons[:-1]] == ["k8", "k9"]
    (confirm,) = await bot.press(alice, pick, pick.buttons[1].text)
    assert "Delete your Binance key k9 (" in confirm.plain and "#10)?" in confirm.plain
    (deleted,) = await bot.press(alice, confirm, "Delete")
    assert "was deleted" in deleted.plain
    assert (10,) not in await db_rows(bot, "SELECT id FROM api_keys")


async def test_no_keys_no_buttons(bot: BotHarness) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice)
    (reply,) = await bot.send(alice, "/apikey_delete")
    assert reply.plain == html_to_plain(texts.PICK_APIKEY_NONE) and reply.buttons == []


async def test_approve_verify_and_reject_by_button(
    bot: BotHarness, admin: Equipped, clock: FakeClock
) -> None:
    await payers(bot.services, clock, 3)
    owner = bot.user(ADMIN_ID)
    (pick,) = await bot.send(owner, "/verify")
    assert [b.text.split(" · ")[0] for b in pick.buttons] == ["#1", "#2", "#3"]
    replies = await bot.press(owner, pick, pick.buttons[1].text)
    assert "Payment #2" in replies[0].plain and "isn't on the chain yet" in replies[-1].plain

    (pick,) = await bot.send(owner, "/approve")
    (ask,) = await bot.press(owner, pick, pick.buttons[0].text)
    assert "Send your 6-digit 2FA code" in ask.plain and "payer0@example.com" in ask.plain
    (done,) = await bot.send(owner, admin.code(clock))
    assert bot.last_user_message.deleted and "Payment #1 approved by you" in done.plain

    (pick,) = await bot.send(owner, "/reject")
    # #1 is decided; least recently checked first (#2 was just verified).
    assert [b.text.split(" · ")[0] for b in pick.buttons] == ["#3", "#2"]
    (ask,) = await bot.press(owner, pick, pick.buttons[0].text)
    assert ask.plain == html_to_plain(texts.PICK_REJECT_REASON.format(id=3))
    (rejected,) = await bot.send(owner, "no such   transfer")
    assert "Payment #3 is rejected" in rejected.plain
    rows = await db_rows(bot, "SELECT id, status, note FROM payments ORDER BY id")
    assert rows[0][1] == "approved" and rows[2][1:] == ("rejected", "no such transfer")
    assert rows[1][1] == "pending"


async def test_reject_picked_in_the_admin_chat_says_what_to_type(
    bot: BotHarness, admin: Equipped, clock: FakeClock
) -> None:
    await payers(bot.services, clock, 1)
    owner = bot.user(ADMIN_ID)
    (pick,) = await bot.send(owner, "/reject", chat_id=ADMIN_CHAT_ID)
    (say,) = await bot.press(owner, pick, pick.buttons[0].text)
    assert "/reject 1 REASON" in say.plain
    assert await db_rows(bot, "SELECT status FROM payments") == [("pending",)]


async def test_typed_arguments_work_as_before(
    bot: BotHarness, admin: Equipped, clock: FakeClock
) -> None:
    await payers(bot.services, clock, 1)
    owner = bot.user(ADMIN_ID)
    (usage,) = await bot.send(owner, "/reject 1")
    assert "/reject PAYMENT_ID REASON" in usage.plain
    (rejected,) = await bot.send(owner, "/reject 1 wrong amount")
    assert "Payment #1 is rejected" in rejected.plain


async def test_restore_by_button(bot: BotHarness, admin: Equipped) -> None:
    owner = bot.user(ADMIN_ID)
    (none,) = await bot.send(owner, "/restore")
    assert none.plain == html_to_plain(texts.PICK_RESTORE_NONE)
    await bot.send(owner, "/backup")
    (pick,) = await bot.send(owner, "/restore")
    (button,) = pick.buttons
    assert button.text.endswith("✅") and (button.callback_data or "").startswith("adm:pk:")
    (confirm,) = await bot.press(owner, pick, button.text)
    assert "Restore" in confirm.plain and len(confirm.buttons) == 2
    (cancelled,) = await bot.press(owner, confirm, confirm.buttons[-1].text)
    assert "cancel" in cancelled.plain.lower()


async def test_withdraw_bare_asks_amount_then_address(
    bot: BotHarness, services: Services, clock: FakeClock
) -> None:
    who = await signed_in_with_2fa(services, clock, 77, "w@example.com")
    await credit(bot, who.session.account_id, 50_000_000)
    user = bot.user(77)
    (ask,) = await bot.send(user, "/withdraw")
    assert "How much USDT" in ask.plain
    (refused,) = await bot.send(user, "0.5")
    assert "smallest withdrawal is 1.00 USDT" in refused.plain
    (ask,) = await bot.send(user, "5")
    assert "Withdrawing 5.00 USDT" in ask.plain and ask.buttons == []  # no address used yet
    (refused,) = await bot.send(user, ADDRESS[:-1] + "x")
    assert "isn't a valid TRON address" in refused.plain
    (code,) = await bot.send(user, ADDRESS)
    assert "Send the 6-digit code" in code.plain
    (done,) = await bot.send(user, who.code(clock))
    assert "5.00 USDT" in done.plain

    await bot.send(user, "/withdraw")
    (ask,) = await bot.send(user, "7.25")
    (button,) = ask.buttons
    assert button.text == f"Use {ADDRESS[:4]}…{ADDRESS[-4:]}" and ADDRESS not in (
        button.callback_data or ""
    )
    (code,) = await bot.press(user, ask, button.text)
    assert "Send the 6-digit code" in code.plain and ADDRESS in code.plain
    (done,) = await bot.send(user, who.code(clock))
    assert "7.25 USDT" in done.plain
    rows = await db_rows(bot, "SELECT amount_micro, address FROM withdrawals ORDER BY id")
    assert rows == [(5_000_000, ADDRESS), (7_250_000, ADDRESS)]


async def requested_withdrawal(bot: BotHarness, clock: FakeClock, n: int) -> None:
    """A user with 2FA and a withdrawal of 5 USDT waiting for the admins (through core)."""
    services = bot.services
    who = await signed_in_with_2fa(services, clock, 6000 + n, f"out{n}@example.com")
    await credit(bot, who.session.account_id, 10_000_000)
    session = await services.sessions.current(who.telegram_user_id)  # after 2FA's new stamp
    assert session is not None
    draft = await services.withdrawals.prepare(session, "5", ADDRESS)
    await services.withdrawals.request(session, draft, who.code(clock))


async def test_withdrawals_complete_and_reject_by_button(
    bot: BotHarness, admin: Equipped, clock: FakeClock
) -> None:
    await requested_withdrawal(bot, clock, 1)
    await requested_withdrawal(bot, clock, 2)
    owner = bot.user(ADMIN_ID)
    (pick,) = await bot.send(owner, "/complete_withdrawal")
    assert [b.text for b in pick.buttons] == [
        "#1 · out1@example.com · 5.00 USDT",
        "#2 · out2@example.com · 5.00 USDT",
    ]
    (ask,) = await bot.press(owner, pick, pick.buttons[0].text)
    assert "send the hash" in ask.plain
    (done,) = await bot.send(owner, "ab" * 32)
    assert "#1" in done.plain
    (pick,) = await bot.send(owner, "/reject_withdrawal")
    assert [b.text.split(" · ")[0] for b in pick.buttons] == ["#2"]
    (ask,) = await bot.press(owner, pick, pick.buttons[0].text)
    (refused,) = await bot.send(owner, "address   belongs to an exchange")
    assert "#2" in refused.plain
    rows = await db_rows(bot, "SELECT id, status, reason FROM withdrawals ORDER BY id")
    assert [r[1] for r in rows] == ["completed", "rejected"]
    assert rows[1][2] == "address belongs to an exchange"
    (nothing,) = await bot.send(owner, "/reject_withdrawal")
    assert nothing.plain == html_to_plain(texts.PICK_WITHDRAWALS_NONE)
