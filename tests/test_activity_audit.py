"""/activity, /alerts, /suspicious, /audit, owner notices, and which event each path writes."""

from __future__ import annotations

import asyncio

import pytest

from core.audit.log import AuditEvent, EventType
from tests.support import raw_db
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.steps import EMAIL, NEW_PASSWORD, PASSWORD, events, login, register

BOB_EMAIL = "bob@example.com"


async def rows(bot: BotHarness, sql: str, *params) -> list[tuple]:
    return await raw_db.rows(bot.settings, sql, *params)


async def two_users(bot: BotHarness):
    """Alice (account 1, Telegram 1) and Bob (account 2, Telegram 2), both logged in."""
    alice, bob = bot.user(1), bot.user(2)
    await register(bot, alice)
    await register(bot, bob, BOB_EMAIL, NEW_PASSWORD)
    await login(bot, alice)
    await login(bot, bob, BOB_EMAIL, NEW_PASSWORD)
    return alice, bob


async def settings_changes(bot: BotHarness, account_id: int, telegram_user_id: int, n: int):
    for i in range(n):
        await bot.services.audit.record(
            AuditEvent(
                EventType.SETTINGS_CHANGED,
                account_id=account_id,
                telegram_user_id=telegram_user_id,
                details={"change": f"setting {i}"},
            )
        )


# --- /activity ----------------------------------------------------------------------------


async def test_activity_needs_a_login(bot: BotHarness) -> None:
    (reply,) = await bot.send(bot.user(5), "/activity")
    assert reply.plain == "Please /login first."


async def test_activity_shows_own_events_only_and_pages(bot: BotHarness) -> None:
    alice, bob = await two_users(bot)
    # Bob fails a login on Alice's account: it is Alice's event (seen as another Telegram
    # account), never Bob's.
    await login(bot, bob, EMAIL, "wrong wrong wrong 1")
    await settings_changes(bot, 1, 1, 20)
    await settings_changes(bot, 2, 2, 3)

    (page1,) = await bot.send(alice, "/activity")
    assert "Your account activity" in page1.plain
    lines = page1.plain.splitlines()[2:]
    assert len(lines) == 10 and all("Settings changed" in line for line in lines)
    assert all("this Telegram account" in line for line in lines)
    assert [b.text for b in page1.buttons] == ["Older ▶"]

    await bot.press(alice, page1, "Older ▶")
    page2 = bot.api.messages[(1, page1.message_id)]
    assert page2.edits == 1 and [b.text for b in page2.buttons] == ["◀ Newer", "Older ▶"]
    await bot.press(alice, page2, "Older ▶")
    page3 = bot.api.messages[(1, page1.message_id)]
    text = page3.plain
    assert "Failed login attempt · another Telegram account" in text
    assert "Logged in · this Telegram account" in text and "Account created" in text
    assert [b.text for b in page3.buttons] == ["◀ Newer"]
    await bot.press(alice, page3, "◀ Newer")
    assert [b.text for b in bot.api.messages[(1, page1.message_id)].buttons] == [
        "◀ Newer",
        "Older ▶",
    ]

    (bobs,) = await bot.send(bob, "/activity")
    assert "Settings changed" in bobs.plain and "Failed login" not in bobs.plain
    # registered (and logged in by it), logged in, 3 changes
    assert len(bobs.plain.splitlines()[2:]) == 6
    alice_ids = {r.id for r in await events(bot) if r.account_id == 1}
    assert not any(f"#{i}" in bobs.plain for i in alice_ids)


async def test_forged_page_buttons_never_show_another_accounts_events(bot: BotHarness) -> None:
    alice, bob = await two_users(bot)
    await settings_changes(bot, 1, 1, 15)
    (alice_page,) = await bot.send(alice, "/activity")
    (bob_page,) = await bot.send(bob, "/activity")
    bob_before = bob_page.plain

    # Bob forges cursors pointing into Alice's events, on his own message: his events only.
    newest_alice_id = max(r.id for r in await events(bot) if r.account_id == 1)
    for data in (f"act:o:{newest_alice_id + 1}", "act:n:0", f"act:o:{newest_alice_id}"):
        await bot.press_data(bob, bob_page, data)
        shown = bot.api.messages[(2, bob_page.message_id)].plain
        assert "Settings changed" not in shown and "Logged in" in shown

    # Bob presses a button on Alice's message (another chat): refused, nothing edited.
    edits = alice_page.edits
    alice_data = alice_page.buttons[0].callback_data
    assert alice_data is not None
    await bot.press_data(bob, alice_page, alice_data)
    assert bot.api.callback_answers[-1]["text"].startswith("This button isn't yours")
    assert bot.api.messages[(1, alice_page.message_id)].edits == edits

    # Junk data and a logged-out presser: refused without showing anything.
    await bot.press_data(bob, bob_page, "act:o:-1")
    assert "no longer active" in bot.api.callback_answers[-1]["text"]
    await bot.send(bob, "/logout")
    await bot.press_data(bob, bob_page, "act:o:999")
    assert bot.api.callback_answers[-1]["text"] == "Please /login first."
    assert "Settings changed" not in bob_before


async def test_activity_in_a_group_is_refused(bot: BotHarness) -> None:
    alice, _ = await two_users(bot)
    (reply,) = await bot.send(alice, "/activity", chat_id=-777)
    assert "private chat" in reply.plain
    # A forged page button on a bot message in a group shows nothing there.
    await bot.press_data(alice, reply, "act:o:999")
    assert bot.api.callback_answers[-1]["text"].startswith("This button isn't yours")
    assert bot.api.messages[(-777, reply.message_id)].edits == 0


# --- admin commands ----------------------------------------------------------------------------


async def test_admin_audit_by_email_id_and_telegram_user(bot: BotHarness) -> None:
    _, bob = await two_users(bot)
    admin = bot.user(ADMIN_ID)
    await login(bot, bob, EMAIL, "wrong wrong wrong 1")

    (by_email,) = await bot.send(admin, f"/audit {EMAIL.upper()}")
    assert "Audit trail of account #1 (trader@example.com)" in by_email.plain
    assert "REGISTERED" in by_email.plain and "LOGIN_FAILED acc 1 tg 2" in by_email.plain
    assert BOB_EMAIL not in by_email.plain

    (by_id,) = await bot.send(admin, "/audit 2")
    assert "account #2 (bob@example.com)" in by_id.plain and "acc 1" not in by_id.plain

    (by_tg,) = await bot.send(admin, "/audit tg:2")
    assert "Telegram user 2" in by_tg.plain and "LOGIN_FAILED acc 1 tg 2" in by_tg.plain

    (unknown,) = await bot.send(admin, "/audit nobody@example.com")
    assert "no account with that email" in unknown.plain
    (usage,) = await bot.send(admin, "/audit")
    assert "Usage" in usage.plain

    viewed = [
        e.details
        for e in await events(bot)
        if e.event_type == EventType.ADMIN_ACTION and e.telegram_user_id == ADMIN_ID
    ]
    assert viewed[0] == {"action": "/audit", "outcome": "allowed", "target": "account:1"}


async def test_admin_audit_pages_and_its_buttons_are_admin_only(bot: BotHarness) -> None:
    _, bob = await two_users(bot)
    await settings_changes(bot, 1, 1, 25)
    admin = bot.user(ADMIN_ID)
    (page,) = await bot.send(admin, "/audit 1")
    assert len(page.plain.splitlines()[2:]) == 20
    assert [b.text for b in page.buttons] == ["Older ▶"]
    await bot.press(admin, page, "Older ▶")
    older = bot.api.messages[(ADMIN_ID, page.message_id)]
    assert "REGISTERED" in older.plain and [b.text for b in older.buttons] == ["◀ Newer"]

    # Bob replays the admin's button data: the gate refuses it (and audits the attempt).
    (bob_msg,) = await bot.send(bob, "/me")
    admin_data = page.buttons[0].callback_data
    assert admin_data is not None
    await bot.press_data(bob, bob_msg, admin_data)
    assert bot.api.callback_answers[-1]["text"] == "Sorry, that command is not available."
    assert "REGISTERED" not in bot.api.messages[(2, bob_msg.message_id)].plain


async def test_non_admins_cannot_use_admin_views(bot: BotHarness) -> None:
    alice, _ = await two_users(bot)
    for command in ("/alerts", "/suspicious", f"/audit {EMAIL}", "/audit 1"):
        (reply,) = await bot.send(alice, command)
        assert reply.plain == "Sorry, that command is not available."
    denied = [
        e
        for e in await events(bot)
        if e.event_type == EventType.ADMIN_ACTION and e.details.get("outcome") == "denied"
    ]
    assert len(denied) == 4 and all(e.telegram_user_id == 1 for e in denied)


async def test_admin_views_only_in_private_or_the_admin_chat(bot: BotHarness) -> None:
    await two_users(bot)
    admin = bot.user(ADMIN_ID)
    (elsewhere,) = await bot.send(admin, "/audit 1", chat_id=-777)
    assert "only in a private chat with an admin or in the admin chat" in elsewhere.plain
    (in_admin_chat,) = await bot.send(admin, "/audit 1", chat_id=ADMIN_CHAT_ID)
    assert "Audit trail of account #1" in in_admin_chat.plain


@pytest.mark.quick_jobs
async def test_alerts_and_suspicious_summaries(bot: BotHarness) -> None:
    admin = bot.user(ADMIN_ID)
    (empty,) = await bot.send(admin, "/alerts")
    assert empty.plain == "No security alerts so far."
    (quiet,) = await bot.send(admin, "/suspicious")
    assert quiet.plain == "Nothing suspicious in the last 24 hours."

    for _ in range(3):
        await bot.send(bot.user(4242), "/stats")
    await bot.send(bot.user(4343), "/backup")
    await bot.wait_for(lambda: len(bot.api.sent_to(ADMIN_CHAT_ID)) == 2, timeout=5)

    (recent,) = await bot.send(admin, "/alerts")
    lines = recent.plain.splitlines()
    assert lines[0] == "Recent security alerts (newest first, UTC)"
    assert "Admin command by a non-admin — Telegram user 4343" in lines[2]
    assert "Telegram user 4242 (3 hits)" in lines[3] and "pending" not in recent.plain

    (summary,) = await bot.send(admin, "/suspicious")
    assert (
        "• Admin command by a non-admin: 4 hits from 2 subjects; alerts sent: 2, pending: 0"
        in summary.plain
    )


async def test_help_and_menus_list_the_new_commands(bot: BotHarness) -> None:
    (user_help,) = await bot.send(bot.user(3), "/help")
    assert "/activity" in user_help.plain and "/audit" not in user_help.plain
    (admin_help,) = await bot.send(bot.user(ADMIN_ID), "/help")
    assert all(c in admin_help.plain for c in ("/alerts", "/suspicious", "/audit"))


# --- security notices to the account's own Telegram accounts ------------------------------------


@pytest.mark.quick_jobs
async def test_email_change_is_announced_to_the_accounts_other_telegram_account(
    bot: BotHarness,
) -> None:
    phone, laptop = bot.user(1), bot.user(2)
    await register(bot, phone)
    await login(bot, phone)
    await login(bot, laptop)
    phone_before = len(bot.api.sent_to(1))
    laptop_before = len(bot.api.sent_to(2))
    await bot.send(laptop, "/email")
    await bot.send(laptop, PASSWORD)
    (done,) = await bot.send(laptop, "new.address@example.com")
    assert "new.address@example.com" in done.plain

    notice = await bot.wait_for(lambda: bot.api.sent_to(1)[phone_before:], timeout=5)
    assert len(notice) == 1
    assert "email address of your Verzek account was changed" in notice[0].plain
    assert "t***@example.com to n***@example.com" in notice[0].plain
    assert len(bot.api.sent_to(2)) == laptop_before + 3  # only the replies of its own flow
    [(recipient, kind)] = await rows(bot, "SELECT telegram_user_id, event_type FROM user_notices")
    assert (recipient, kind) == (1, "EMAIL_CHANGED")


@pytest.mark.quick_jobs
async def test_api_key_changes_are_announced_with_escaped_details(bot: BotHarness) -> None:
    phone = bot.user(1)
    await register(bot, phone)
    await login(bot, phone)
    before = len(bot.api.sent_to(1))
    for kind in (EventType.API_KEY_ADDED, EventType.API_KEY_DELETED):
        await bot.services.audit.record(
            AuditEvent(
                kind,
                account_id=1,
                telegram_user_id=2,  # made from another Telegram account
                details={
                    "key_id": 3,
                    "exchange": "binance",
                    "label": "<b>main</b> & co",
                    "masked_key": "…abcd",
                },
            )
        )
    added, deleted = await bot.wait_for(
        lambda: (m := bot.api.sent_to(1)[before:]) and len(m) == 2 and m, timeout=5
    )
    assert "An API key for binance (<b>main</b> & co, …abcd) was added" in added.plain
    assert "(<b>main</b> & co, …abcd) was deleted" in deleted.plain
    # The change made from this very Telegram account is not announced back to it.
    await bot.services.audit.record(
        AuditEvent(EventType.API_KEY_ADDED, account_id=1, telegram_user_id=1, details={})
    )
    assert len(await rows(bot, "SELECT id FROM user_notices")) == 2


@pytest.mark.quick_jobs
async def test_undeliverable_notice_is_given_up(bot: BotHarness) -> None:
    phone = bot.user(1)
    await register(bot, phone)
    await login(bot, phone)
    bot.api.fail("sendMessage", times=1, status=403)  # the phone's chat blocked the bot
    # The change is made from Telegram account 2, so the notice goes to the phone.
    await bot.services.audit.record(
        AuditEvent(
            EventType.EMAIL_CHANGED,
            account_id=1,
            telegram_user_id=2,
            details={"old": "t***@example.com", "new": "x***@example.com"},
        )
    )

    for _ in range(250):
        if await rows(bot, "SELECT 1 FROM user_notices WHERE status = 'failed'"):
            break
        await asyncio.sleep(0.02)
    [(status, attempts, error)] = await rows(
        bot, "SELECT status, attempts, last_error FROM user_notices"
    )
    assert (status, attempts) == ("failed", 1) and error.startswith("Forbidden")


# --- which event each path writes -----------------------------------------------------------------


async def test_each_path_writes_its_event(bot: BotHarness) -> None:
    alice, laptop = bot.user(1), bot.user(2)
    admin = bot.user(ADMIN_ID)

    async def new_events(action) -> list[tuple]:
        before = len(await events(bot))
        await action
        return [
            (e.event_type, e.account_id, e.telegram_user_id) for e in (await events(bot))[before:]
        ]

    assert await new_events(register(bot, alice)) == [
        ("REGISTERED", 1, 1),
        ("LOGIN_SUCCESS", 1, 1),  # registering logs in
    ]
    assert await new_events(login(bot, alice)) == [("LOGIN_SUCCESS", 1, 1)]
    assert await new_events(login(bot, laptop, EMAIL, "not it not it 1")) == [
        ("LOGIN_FAILED", 1, 2)
    ]
    assert await new_events(login(bot, laptop, "ghost@example.com", "not it not it 1")) == [
        ("LOGIN_FAILED", None, 2)
    ]
    assert await new_events(login(bot, laptop)) == [
        ("LOGIN_SUCCESS", 1, 2),
        ("SUSPICIOUS_ACTIVITY", 1, 2),  # a new Telegram account
    ]
    assert await new_events(bot.send(laptop, "/logout")) == [("LOGOUT", 1, 2)]

    async def change_password() -> None:
        await bot.send(alice, "/password")
        await bot.send(alice, PASSWORD)
        await bot.send(alice, NEW_PASSWORD)
        await bot.send(alice, NEW_PASSWORD)  # typed twice

    assert await new_events(change_password()) == [("PASSWORD_CHANGED", 1, 1)]

    async def change_email() -> None:
        await bot.send(alice, "/email")
        await bot.send(alice, NEW_PASSWORD)
        await bot.send(alice, "renamed@example.com")

    assert await new_events(change_email()) == [("EMAIL_CHANGED", 1, 1)]
    assert await new_events(bot.send(alice, "/stats")) == [
        ("ADMIN_ACTION", None, 1),
        ("SUSPICIOUS_ACTIVITY", None, 1),
    ]
    assert await new_events(bot.send(admin, "/audit 1")) == [("ADMIN_ACTION", None, ADMIN_ID)]
    assert await new_events(bot.send(alice, "/activity")) == []  # reading is not an event

    everything = await events(bot)
    secrets = (PASSWORD, NEW_PASSWORD, "not it not it 1")
    assert not any(s in str(e.details) for e in everything for s in secrets)
    assert (await bot.services.audit.verify()).ok
