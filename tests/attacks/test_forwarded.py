"""Attacker's notebook: someone else's words, passed off as an order or an answer.

The class of trick: a forwarded message keeps its text and its ``bot_command`` entities, so a
forwarded "/approve 5" looks to PTB exactly like one typed by the forwarder; a message sent
through an inline bot (``via_bot``) carries text the sender never typed; a channel post is
copied into its discussion group as an automatic forward. None of them is an order (SPEC §10):
the gate stops them all, commands and flow answers alike (a forwarded password or code in the
middle of /login or /approve), admins included, and tells the sender in a private chat. One that
arrives while a step asks for a secret may well be the user's own password, code or key
(forwarded from their saved messages): it is deleted too, as a typed one would be.
Variants: each ``forward_origin`` type (user, hidden_user, chat, channel), ``via_bot``,
``is_automatic_forward``; private chat, the admin chat, another group.
"""

from __future__ import annotations

import pytest

from bot import texts
from bot.fake_telegram import html_to_plain
from core.audit.log import EventType
from core.authz import Actor
from core.clock import FakeClock
from tests.support.attacker import (
    PASSWORD,
    Equipped,
    changed_tables,
    own_pending_payment,
    signed_in_with_2fa,
)
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness, table_rows

pytestmark = [pytest.mark.payments, pytest.mark.roomy_limits]

IGNORED = html_to_plain(texts.FORWARDED_IGNORED)
SECRET_DELETED = html_to_plain(texts.FORWARDED_SECRET_DELETED)
SECRET_NOT_DELETED = html_to_plain(texts.FORWARDED_SECRET_NOT_DELETED)
ORIGINS = ["user", "hidden_user", "chat", "channel"]


@pytest.fixture
async def eve(bot: BotHarness, clock: FakeClock) -> Equipped:
    """A non-admin with an account, a session, 2FA on and a pending payment of her own."""
    equipped = await signed_in_with_2fa(bot.services, clock, 4242, "eve@example.com")
    await own_pending_payment(bot.services, equipped)
    return equipped


@pytest.fixture
async def admin(bot: BotHarness, clock: FakeClock) -> Equipped:
    """The configured admin, signed in with 2FA on."""
    return await signed_in_with_2fa(bot.services, clock, ADMIN_ID, "admin@example.com")


async def event_types(bot: BotHarness) -> list[str]:
    """Every audit event's type, oldest first."""
    rows = (await table_rows(bot.settings))["audit_events"]
    return [row[2] for row in rows]


@pytest.mark.parametrize("origin", ORIGINS)
async def test_a_forwarded_admin_command_is_no_order(
    bot: BotHarness, eve: Equipped, origin: str
) -> None:
    """Eve forwards an admin's "/approve 1" (any origin): ignored, she is told, nothing done."""
    user = bot.user(eve.telegram_user_id, "Eve")
    before = await table_rows(bot.settings)
    for text in ("/approve 1", "/reject 1 forged", "/killswitch on forged", "/start"):
        replies = await bot.send(user, text, forwarded=origin)
        assert [r.plain for r in replies] == [IGNORED], (origin, text)
    assert changed_tables(before, await table_rows(bot.settings)) == set()


@pytest.mark.parametrize("origin", ORIGINS)
async def test_even_the_admin_cannot_give_orders_by_forwarding(
    bot: BotHarness, admin: Equipped, eve: Equipped, clock: FakeClock, origin: str
) -> None:
    """An admin forwarding "/approve 1" (say, from a chat with a scammer) starts nothing."""
    user = bot.user(ADMIN_ID)
    before = await table_rows(bot.settings)
    (reply,) = await bot.send(user, "/approve 1", forwarded=origin)
    assert reply.plain == IGNORED
    # No approve flow was started: a code now is not taken as its answer either.
    replies = await bot.send(user, admin.code(clock))
    assert all("approved" not in r.plain for r in replies)
    assert changed_tables(before, await table_rows(bot.settings)) == set()


async def test_a_message_via_an_inline_bot_is_no_order(bot: BotHarness, eve: Equipped) -> None:
    """Text put in the chat by an inline bot (via_bot) is not Eve's command."""
    user = bot.user(eve.telegram_user_id, "Eve")
    before = await table_rows(bot.settings)
    for text in ("/approve 1", "/login", "/start"):
        (reply,) = await bot.send(user, text, via="some_inline_bot")
        assert reply.plain == IGNORED, text
    assert changed_tables(before, await table_rows(bot.settings)) == set()


async def test_automatic_forwards_and_group_forwards_are_dropped_in_silence(
    bot: BotHarness, eve: Equipped
) -> None:
    """A channel post copied into a group, or a forward in a group: no reply, nothing done."""
    user = bot.user(eve.telegram_user_id, "Eve")
    before = await table_rows(bot.settings)
    for chat in (ADMIN_CHAT_ID, -100123):
        assert await bot.send(user, "/approve 1", chat_id=chat, automatic_forward=True) == []
        assert await bot.send(user, "/approve 1", chat_id=chat, forwarded="channel") == []
    assert changed_tables(before, await table_rows(bot.settings)) == set()


async def test_a_forwarded_password_is_not_a_login_answer(bot: BotHarness, eve: Equipped) -> None:
    """In the middle of /login, a forwarded password is not checked: no attempt, no session."""
    mallory = bot.user(7373, "Mallory")
    await bot.send(mallory, "/login")
    await bot.send(mallory, "eve@example.com")
    before = await event_types(bot)
    for origin in ORIGINS:
        (reply,) = await bot.send(mallory, PASSWORD, forwarded=origin)
        assert reply.plain == SECRET_DELETED
        assert bot.last_user_message.deleted  # a password, whoever's: it does not stay
    (reply,) = await bot.send(mallory, PASSWORD, via="some_inline_bot")
    assert reply.plain == SECRET_DELETED
    assert bot.last_user_message.deleted
    after = await event_types(bot)
    for kind in (EventType.LOGIN_FAILED, EventType.LOGIN_SUCCESS):
        assert after.count(kind) == before.count(kind), kind
    assert await bot.services.sessions.current(mallory.id) is None


async def test_a_forwarded_code_does_not_finish_an_approval(
    bot: BotHarness, admin: Equipped, eve: Equipped, clock: FakeClock
) -> None:
    """The admin starts /approve 1; a forwarded (valid!) code is not taken as the answer."""
    user = bot.user(ADMIN_ID)
    (ask,) = await bot.send(user, "/approve 1")
    assert "2FA code" in ask.plain
    before = await table_rows(bot.settings)
    for origin in ORIGINS:
        (reply,) = await bot.send(user, admin.code(clock), forwarded=origin)
        assert reply.plain == SECRET_DELETED
        assert bot.last_user_message.deleted
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    view = await bot.services.payments.view(Actor.telegram(ADMIN_ID), 1)
    assert view.payment.status == "pending"


async def test_a_forwarded_text_at_a_step_that_asks_no_secret_stays(
    bot: BotHarness, eve: Equipped
) -> None:
    """Variant: at /login's email step (no secret asked) and with no flow at all, a forwarded
    text is ignored but left alone: only a step that asks for a secret deletes it."""
    mallory = bot.user(7374, "Mallory")
    (reply,) = await bot.send(mallory, "eve@example.com", forwarded="user")
    assert reply.plain == IGNORED and not bot.last_user_message.deleted
    await bot.send(mallory, "/login")
    (reply,) = await bot.send(mallory, "eve@example.com", forwarded="user")
    assert reply.plain == IGNORED and not bot.last_user_message.deleted
    (reply,) = await bot.send(mallory, "eve@example.com")  # typed: the flow goes on
    assert "password" in reply.plain.lower()


async def test_a_forwarded_api_secret_is_deleted_and_the_step_still_waits(
    bot: BotHarness, eve: Equipped
) -> None:
    """Variant: /apikey_add at its secret step (a new secret, not a guess): a forwarded key is
    deleted, nothing is stored, and the step still takes the typed answer."""
    user = bot.user(eve.telegram_user_id, "Eve")
    (ask_exchange,) = await bot.send(user, "/apikey_add")
    (ask_label,) = await bot.press(user, ask_exchange, "Binance")
    assert "send a short label" in ask_label.plain
    (ask_key,) = await bot.send(user, "main")
    assert "send the API key" in ask_key.plain
    before = await table_rows(bot.settings)
    (reply,) = await bot.send(user, "B" * 64, forwarded="hidden_user")
    assert reply.plain == SECRET_DELETED and bot.last_user_message.deleted
    assert changed_tables(before, await table_rows(bot.settings)) == set()
    (ask_secret,) = await bot.send(user, "A" * 64)  # typed: the step still takes it
    assert bot.last_user_message.deleted and "API secret" in ask_secret.plain


async def test_a_forwarded_secret_telegram_will_not_delete_is_flagged(
    bot: BotHarness, eve: Equipped
) -> None:
    """Failure: Telegram refuses the deletion. The user is told to delete it themselves;
    nothing is checked or written."""
    mallory = bot.user(7375, "Mallory")
    await bot.send(mallory, "/login")
    await bot.send(mallory, "eve@example.com")
    before = await event_types(bot)
    bot.api.fail("deleteMessage", status=400)
    (reply,) = await bot.send(mallory, PASSWORD, forwarded="channel")
    assert reply.plain == SECRET_NOT_DELETED and not bot.last_user_message.deleted
    assert await event_types(bot) == before
    assert await bot.services.sessions.current(mallory.id) is None
