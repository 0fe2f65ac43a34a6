"""Attacker's notebook: the buttons a bare command offers instead of a typed id (bot/pickers.py).

The class of trick: a picker button stands for "delete key #3" or "approve payment #7", so
whoever can press it, or make one up, would like to. Variants: press someone else's button
(a message in a group both can see, or its callback data replayed from another account);
forge or edit the data (a guessed id, another token, the admin prefix); press it after the
session that showed it ended (logout, idle expiry) or after the sheet expired; press a stale
page after its item was deleted or decided; a non-admin presses an admin's /approve button;
the owner presses twice to decide twice. The same tricks on /activity's and /audit's
Older/Newer buttons, which once carried an audit-event id (and /audit's subject) as the data.
Defence: the data is ``pk:``/``adm:pk:`` plus a random token and nothing else; the server
keeps what it stands for, bound to the Telegram user, chat, message and session it was shown
in, for 10 minutes, used up by the first item press, and the item is listed again at the
press. /apikey_delete's confirmation carries a random token its flow keeps, never the key's
id. Page buttons carry ``act:``/``adm:audit:`` and a token standing for the cursor, bound
the same way (bot/page_buttons.py). Every refused press is answered politely and writes
nothing (audit tables aside).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot import page_buttons, pickers, texts
from bot.fake_telegram import Message, html_to_plain
from core.audit.log import AuditEvent, EventType
from core.clock import FakeClock
from core.services import Services
from tests.support.attacker import (
    Equipped,
    changed_tables,
    own_pending_payment,
    signed_in_with_2fa,
)
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness, table_rows
from tests.support.sessions_steps import credit, tron_address
from tests.support.steps import add_key, db_rows, events, logged_in, login

pytestmark = [pytest.mark.payments, pytest.mark.roomy_limits]

EXPIRED = html_to_plain(texts.PICKER_EXPIRED)
NOT_YOURS = html_to_plain(texts.PICKER_NOT_YOURS)
SESSION_GONE = html_to_plain(texts.PICKER_SESSION_GONE)
GONE = html_to_plain(texts.PICKER_GONE)
REFUSED = html_to_plain(texts.NOT_ALLOWED)
ALICE, MALLORY, EVE = 7_300_000_001, 7_300_000_002, 4242


def answer(bot: BotHarness) -> str:
    """The text of the last callback answer (the pop-up the presser sees)."""
    return str(bot.api.callback_answers[-1].get("text", ""))


def datas(message: Message) -> list[str]:
    return [b.callback_data or "" for b in message.buttons]


@pytest.fixture
async def alice(bot: BotHarness):
    """A user with two API keys, logged in on her own Telegram account."""
    user = bot.user(ALICE, "Alice")
    await logged_in(bot, user, email="alice@example.com")
    await add_key(bot, user, label="main")
    await add_key(bot, user, label="spare")
    return user


async def key_ids(bot: BotHarness) -> list[int]:
    return [int(row[0]) for row in await db_rows(bot, "SELECT id FROM api_keys ORDER BY id")]


@pytest.fixture
async def admin(services: Services, clock: FakeClock) -> Equipped:
    return await signed_in_with_2fa(services, clock, ADMIN_ID, "admin@example.com")


@pytest.fixture
async def eve(services: Services, clock: FakeClock) -> Equipped:
    """A non-admin with 2FA and a pending payment of her own (#1) she wants approved."""
    who = await signed_in_with_2fa(services, clock, EVE, "eve@example.com")
    await own_pending_payment(services, who)
    return who


# --- the buttons carry nothing but a token --------------------------------------------------


async def test_picker_data_is_an_opaque_token(bot: BotHarness, alice, admin, eve) -> None:
    (pick,) = await bot.send(alice, "/apikey_delete")
    assert [b.text.split(" · ")[1] for b in pick.buttons] == ["main", "spare"]
    for data in datas(pick):
        token = data.removeprefix("pk:")
        assert data.startswith("pk:") and len(token) == 12 and not token.isdigit()
    (approve,) = await bot.send(bot.user(ADMIN_ID), "/approve")
    assert "#1 · eve@example.com" in approve.buttons[0].text
    assert all(d.startswith("adm:pk:") and "1" not in d[:7] for d in datas(approve))


# --- someone else's button ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["replayed from another account", "pressed in a group"])
async def test_another_account_pressing_does_nothing(bot: BotHarness, alice, where: str) -> None:
    (pick,) = await bot.send(alice, "/apikey_delete")
    mallory = bot.user(MALLORY, "Mallory")
    await logged_in(bot, mallory, email="mallory@example.com")
    data = pick.buttons[0].callback_data or ""
    before = await table_rows(bot.settings)
    if where == "pressed in a group":
        # The sheet seen in a group both are in: Telegram lets anyone there press it.
        message = Message(ADMIN_CHAT_ID, pick.message_id, from_bot=True)
        refusals = {NOT_YOURS, html_to_plain(texts.SECRET_FLOW_PRIVATE_ONLY)}
    else:
        # The data copied onto a message of Mallory's own chat (a modified client).
        message, refusals = await own_message(bot, MALLORY), {NOT_YOURS}
    replies = await bot.press_data(mallory, message, data)
    assert html_to_plain(answer(bot)) in refusals and replies == []
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    assert "apikey_delete" not in bot.app.user_data.get(MALLORY, {})
    (confirm,) = await bot.press(alice, pick, pick.buttons[0].text)  # still the owner's
    assert "Delete your Binance key main" in confirm.plain


# --- made-up data ---------------------------------------------------------------------------


async def test_forged_and_edited_data_do_nothing(bot: BotHarness, alice) -> None:
    (pick,) = await bot.send(alice, "/apikey_delete")
    real = pick.buttons[0].callback_data or ""
    before = await table_rows(bot.settings)
    forged = [
        "pk:1",
        "pk:2",
        "pk:",
        "pk:" + "A" * 12,
        real[:-1] + ("B" if real[-1] != "B" else "C"),
        real + "x",
        "adm:pk:" + real.removeprefix("pk:"),  # an admin's prefix on a user's token
        "apikey:del:1",  # the confirmation's data, without the flow that asked
    ]
    for data in forged:
        replies = await bot.press_data(alice, pick, data)
        assert replies == [], data
        assert answer(bot) in (EXPIRED, texts.STALE_BUTTON, REFUSED), data
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    assert await key_ids(bot) == [1, 2]


# --- after the session ended ----------------------------------------------------------------


async def test_after_logout_the_buttons_are_dead(bot: BotHarness, alice) -> None:
    (pick,) = await bot.send(alice, "/apikey_delete")
    first, second = datas(pick)
    await bot.send(alice, "/logout")
    before = await table_rows(bot.settings)
    assert await bot.press_data(alice, pick, first) == []
    assert answer(bot) == SESSION_GONE and pick.buttons == []
    await logged_in_again(bot, alice)
    # A new session does not bring the old sheet back.
    assert await bot.press_data(alice, pick, second) == []
    assert answer(bot) == EXPIRED
    assert changed_tables(before, await table_rows(bot.settings)) <= {"sessions"}
    assert await key_ids(bot) == [1, 2]


async def logged_in_again(bot: BotHarness, user) -> None:
    assert "You're logged in" in await login(bot, user, "alice@example.com")


async def test_after_the_session_idled_out(
    bot: BotHarness, alice, clock: FakeClock, monkeypatch
) -> None:
    monkeypatch.setattr(pickers, "TTL", timedelta(hours=2))  # the session ends first
    (pick,) = await bot.send(alice, "/apikey_delete")
    clock.advance(minutes=31)
    before = await table_rows(bot.settings)
    assert await bot.press_data(alice, pick, pick.buttons[0].callback_data or "") == []
    assert answer(bot) == SESSION_GONE
    assert changed_tables(before, await table_rows(bot.settings)) <= {"sessions"}
    assert await key_ids(bot) == [1, 2]


async def test_after_the_sheet_expired(bot: BotHarness, alice, clock: FakeClock) -> None:
    (pick,) = await bot.send(alice, "/apikey_delete")
    clock.advance(minutes=11)
    await bot.send(alice, "/me")  # the session is alive and well: only the sheet is old
    assert await bot.press_data(alice, pick, pick.buttons[0].callback_data or "") == []
    assert answer(bot) == EXPIRED
    assert await key_ids(bot) == [1, 2]


# --- a stale page ---------------------------------------------------------------------------


async def test_a_stale_page_cannot_name_a_deleted_key(bot: BotHarness, alice) -> None:
    (old,) = await bot.send(alice, "/apikey_delete")
    (fresh,) = await bot.send(alice, "/apikey_delete")
    (confirm,) = await bot.press(alice, fresh, fresh.buttons[0].text)
    (deleted,) = await bot.press(alice, confirm, "Delete")
    assert "was deleted" in deleted.plain and await key_ids(bot) == [2]
    before = await table_rows(bot.settings)
    gone, offered = await bot.press_data(alice, old, old.buttons[0].callback_data or "")
    assert answer(bot) == GONE and gone.plain == GONE
    assert [b.text.split(" · ")[1] for b in offered.buttons] == ["spare"]  # the page as it is
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    assert "apikey_delete" not in bot.app.user_data.get(ALICE, {})


async def test_a_stale_page_cannot_approve_a_decided_payment(
    bot: BotHarness, admin: Equipped, eve: Equipped
) -> None:
    owner = bot.user(ADMIN_ID)
    (pick,) = await bot.send(owner, "/approve")
    (rejected,) = await bot.send(owner, "/reject 1 not on chain")
    assert "Payment #1 is rejected" in rejected.plain
    before = await table_rows(bot.settings)
    _gone, empty = await bot.press_data(owner, pick, pick.buttons[0].callback_data or "")
    assert answer(bot) == GONE and empty.plain == html_to_plain(texts.PICK_PAYMENTS_NONE)
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    assert await db_rows(bot, "SELECT status FROM payments") == [("rejected",)]


# --- admin buttons --------------------------------------------------------------------------


async def test_a_non_admin_pressing_an_admins_approve_button(
    bot: BotHarness, admin: Equipped, eve: Equipped
) -> None:
    (pick,) = await bot.send(bot.user(ADMIN_ID), "/approve")
    data = pick.buttons[0].callback_data or ""
    before = await table_rows(bot.settings)
    for message in (pick, await own_message(bot, EVE)):
        assert await bot.press_data(bot.user(EVE), message, data) == []
        assert answer(bot) == REFUSED
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    assert await db_rows(bot, "SELECT status FROM payments") == [("pending",)]
    assert await db_rows(bot, "SELECT id FROM licenses") == []
    denied = [e for e in await events(bot) if e.event_type == EventType.ADMIN_ACTION]
    assert denied and all(e.details["outcome"] == "denied" for e in denied)
    # The admin's own sheet survived the attempt.
    (ask,) = await bot.press_data(bot.user(ADMIN_ID), pick, data)
    assert "Send your 6-digit 2FA code" in ask.plain


async def own_message(bot: BotHarness, user_id: int) -> Message:
    """A message of the bot in ``user_id``'s own chat, to press forged data on."""
    (reply,) = await bot.send(bot.user(user_id), "/help")
    return reply


async def test_a_double_press_decides_once(
    bot: BotHarness, admin: Equipped, eve: Equipped, clock: FakeClock
) -> None:
    owner = bot.user(ADMIN_ID)
    (pick,) = await bot.send(owner, "/approve")
    data = pick.buttons[0].callback_data or ""
    bot.api.user_presses(owner, pick, data)
    bot.api.user_presses(owner, pick, data)  # both before the bot answered the first
    await bot.settle()
    answers = [a.get("text") for a in bot.api.callback_answers[-2:]]
    assert answers == [None, texts.PICKER_EXPIRED]
    asks = [m for m in bot.api.sent_to(ADMIN_ID) if "Send your 6-digit 2FA code" in m.plain]
    assert len(asks) == 1 and pick.buttons == []
    (approved,) = await bot.send(owner, admin.code(clock))
    assert "Payment #1 approved by you" in approved.plain
    assert await bot.press_data(owner, pick, data) == []
    approvals = [e for e in await events(bot) if e.event_type == "PAYMENT_APPROVED"]
    assert len(approvals) == 1


async def test_a_double_press_of_a_key_asks_once(bot: BotHarness, alice) -> None:
    (pick,) = await bot.send(alice, "/apikey_delete")
    data = pick.buttons[0].callback_data or ""
    bot.api.user_presses(alice, pick, data)
    bot.api.user_presses(alice, pick, data)
    await bot.settle()
    confirms = [m for m in bot.api.sent_to(ALICE) if "Delete your Binance key" in m.plain]
    assert len(confirms) == 1 and answer(bot) == EXPIRED
    assert await key_ids(bot) == [1, 2]


async def test_the_last_address_button_is_its_owners_only(
    bot: BotHarness, services: Services, clock: FakeClock
) -> None:
    """Mallory, at the address step of her own /withdraw, presses Alice's "Use T…" button:
    her flow must not take Alice's address (nor Alice's flow Mallory's)."""
    alice = await signed_in_with_2fa(services, clock, ALICE, "alice@example.com")
    mallory = await signed_in_with_2fa(services, clock, MALLORY, "mallory@example.com")
    for who in (alice, mallory):
        await credit(bot, who.session.account_id, 20_000_000)
    alice_user, mallory_user = bot.user(ALICE), bot.user(MALLORY)
    await bot.send(alice_user, f"/withdraw 2 {tron_address(11)}")
    await bot.send(alice_user, alice.code(clock))
    await bot.send(alice_user, "/withdraw")
    (ask,) = await bot.send(alice_user, "3")
    (button,) = ask.buttons
    await bot.send(mallory_user, "/withdraw")
    (mine,) = await bot.send(mallory_user, "4")
    before = await table_rows(bot.settings)
    assert await bot.press_data(mallory_user, mine, button.callback_data or "") == []
    assert answer(bot) == NOT_YOURS
    (still,) = await bot.send(mallory_user, "not an address")
    assert "isn't a valid TRON address" in still.plain  # still at her own address step
    await bot.send(alice_user, "/cancel")
    assert await bot.press_data(alice_user, ask, button.callback_data or "") == []
    assert answer(bot) == EXPIRED  # the flow that offered it is over
    changed = changed_tables(before, await table_rows(bot.settings))
    assert changed <= {"sessions", "conversation_state"}  # no money held, no withdrawal
    assert len(await db_rows(bot, "SELECT id FROM withdrawals")) == 1


async def test_the_delete_confirmation_carries_a_token_and_an_older_one_deletes_nothing(
    bot: BotHarness, alice
) -> None:
    """The "Delete" of /apikey_delete's confirmation: no key id in its data, and the
    confirmation of key #1, pressed after the flow moved on to key #2, deletes neither."""
    (first,) = await bot.send(alice, "/apikey_delete 1")
    (data,) = [d for d in datas(first) if d.startswith("apikey:del:")]
    assert data.removeprefix("apikey:del:") not in ("1", "#1") and len(data) == 23
    (second,) = await bot.send(alice, "/apikey_delete 2")
    assert [d for d in datas(second) if d.startswith("apikey:del:")] != [data]
    before = await key_ids(bot)
    assert await bot.press_data(alice, first, data) == []
    assert answer(bot) == html_to_plain(texts.STALE_BUTTON)
    assert await bot.press_data(alice, second, "apikey:del:1") == []  # the old id form
    assert await bot.press_data(alice, second, "apikey:del:") == []
    assert await key_ids(bot) == before == [1, 2]
    (deleted,) = await bot.press(alice, second, "Delete")  # its own button still works
    assert "was deleted" in deleted.plain and await key_ids(bot) == [1]


# --- /activity and /audit page buttons (bot/page_buttons.py) ---------------------------------
# Older/Newer used to carry an audit-event id (and /audit's subject) in the data; now they
# carry a token standing for that cursor, bound to presser, chat, message and session.

PAGE_TOKEN = re.compile(r"^(act:|adm:audit:)[A-Za-z0-9_-]{12}$")


async def many_events(bot: BotHarness, telegram_user_id: int, n: int) -> int:
    """``n`` more events on the account logged in on ``telegram_user_id``; its id."""
    session = await bot.services.sessions.current(telegram_user_id)
    assert session is not None
    for i in range(n):
        await bot.services.audit.record(
            AuditEvent(
                EventType.SETTINGS_CHANGED,
                account_id=session.account_id,
                telegram_user_id=telegram_user_id,
                details={"change": f"setting {i}"},
            )
        )
    return session.account_id


def shown(bot: BotHarness, message: Message) -> tuple[str, int]:
    """What ``message`` shows now, and how often it was edited."""
    now = bot.api.messages[(message.chat_id, message.message_id)]
    return now.plain, now.edits


async def test_page_buttons_carry_only_a_token(bot: BotHarness, alice, admin) -> None:
    account = await many_events(bot, ALICE, 15)
    (page,) = await bot.send(alice, "/activity")
    (trail,) = await bot.send(bot.user(ADMIN_ID), f"/audit {account}")
    for data in [*datas(page), *datas(trail)]:
        assert PAGE_TOKEN.fullmatch(data), data  # no direction, no event id, no subject
    (older,) = page.buttons
    await bot.press(alice, page, older.text)  # and they page as before
    assert texts.PAGE_NEWER in [b.text for b in bot.api.messages[(ALICE, page.message_id)].buttons]


async def test_activity_buttons_of_another_account_or_forged_show_nothing(
    bot: BotHarness, alice
) -> None:
    await many_events(bot, ALICE, 15)
    mallory = bot.user(MALLORY, "Mallory")
    await logged_in(bot, mallory, email="mallory@example.com")
    (alices,) = await bot.send(alice, "/activity")
    (mallorys,) = await bot.send(mallory, "/activity")
    own = shown(bot, mallorys)
    alice_token = datas(alices)[0]
    newest = max(e.id for e in await events(bot))
    before = await table_rows(bot.settings)
    forged = [
        alice_token,  # Alice's token replayed on Mallory's own message
        f"act:o:{newest + 1}",  # the old cursor format
        "act:n:0",
        "act:" + "A" * 12,
        alice_token[:-1] + ("B" if alice_token[-1] != "B" else "C"),
        alice_token + "x",
    ]
    for data in forged:
        assert await bot.press_data(mallory, mallorys, data) == [], data
        assert answer(bot) in (texts.STALE_BUTTON, texts.NOT_YOUR_BUTTON), data
        assert shown(bot, mallorys) == own, data
    assert "Settings changed" not in own[0]
    # Mallory's own token on Alice's message, and Alice's on Alice's: not his.
    for data in (datas(mallorys)[0] if datas(mallorys) else "act:x", alice_token):
        await bot.press_data(mallory, alices, data)
        assert answer(bot) in (texts.STALE_BUTTON, texts.NOT_YOUR_BUTTON)
    assert bot.api.messages[(ALICE, alices.message_id)].edits == 0
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    await bot.press(alice, alices, texts.PAGE_OLDER)  # still works for its owner
    assert bot.api.messages[(ALICE, alices.message_id)].edits == 1


async def test_activity_buttons_after_logout_show_nothing(bot: BotHarness, alice) -> None:
    await many_events(bot, ALICE, 15)
    (page,) = await bot.send(alice, "/activity")
    (data,) = datas(page)
    await bot.send(alice, "/logout")
    before = await table_rows(bot.settings)
    assert await bot.press_data(alice, page, data) == []
    assert answer(bot) == texts.LOGIN_FIRST and shown(bot, page)[1] == 0
    await logged_in_again(bot, alice)
    # A new session does not bring the old page's buttons back.
    assert await bot.press_data(alice, page, data) == []
    assert answer(bot) == texts.STALE_BUTTON and shown(bot, page)[1] == 0
    assert changed_tables(before, await table_rows(bot.settings)) <= {"sessions"}


async def test_audit_buttons_forged_moved_or_after_logout_show_nothing(
    bot: BotHarness, alice, admin
) -> None:
    account = await many_events(bot, ALICE, 25)
    admin_user = bot.user(ADMIN_ID)
    (trail,) = await bot.send(admin_user, f"/audit {account}")
    (data,) = datas(trail)
    (elsewhere,) = await bot.send(admin_user, "/help")
    in_admin_chat = Message(ADMIN_CHAT_ID, trail.message_id, from_bot=True)
    before = await table_rows(bot.settings)
    # Forged cursors (the old format: another subject, any event id), the token on another
    # message or in the admin chat: nothing of anyone's trail is shown.
    for data_, message in [
        (f"adm:audit:a:{account}:o:999999", trail),
        ("adm:audit:t:4242:n:0", trail),
        ("adm:audit:" + "A" * 12, trail),
        (data, elsewhere),
        (data, in_admin_chat),
    ]:
        assert await bot.press_data(admin_user, message, data_) == [], data_
        assert answer(bot) in (texts.STALE_BUTTON, NOT_YOURS), data_
    assert shown(bot, trail)[1] == 0 and "REGISTERED" not in shown(bot, elsewhere)[0]
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    # After the admin logs out, the page's buttons are over.
    await bot.send(admin_user, "/logout")
    assert await bot.press_data(admin_user, trail, data) == []
    assert answer(bot) == texts.STALE_BUTTON and shown(bot, trail)[1] == 0


async def test_page_tokens_stay_bounded_and_expire(
    bot: BotHarness, alice, clock: FakeClock
) -> None:
    await many_events(bot, ALICE, 15)
    for _ in range(page_buttons.SHEETS_PER_USER + 5):
        await bot.send(alice, "/activity")
    store = page_buttons.store_of(bot.app.bot_data, "act:")
    assert len(store) <= page_buttons.SHEETS_PER_USER  # one Older button per page kept
    (page,) = await bot.send(alice, "/activity")
    for _ in range(2):  # the session stays live (used in between); the page's tokens do not
        clock.advance(seconds=page_buttons.TTL.total_seconds() / 2 + 1)
        await bot.send(alice, "/me")
    assert await bot.press_data(alice, page, datas(page)[0]) == []
    assert answer(bot) == texts.STALE_BUTTON and shown(bot, page)[1] == 0
