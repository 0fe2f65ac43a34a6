"""Attacker's notebook: make the bot run a command the gate did not see.

The class of trick: the gate and PTB's CommandHandler read "the command" of a message
differently, so something the gate waves through as "not an admin command" is routed to an
admin handler. Telegram ends a ``bot_command`` entity at the first character outside
``[A-Za-z0-9_]`` and PTB routes on that entity, so ``/approve. 5`` *is* /approve; the old
gate split on whitespace and saw ``approve.``. Variants: punctuation or invisible characters
glued to the command, ``@botname`` with odd case, upper case, commands in captions, in
edits, mid-text, addressed to another bot, and text that looks like a command but has no
entity at all.

The fake Bot API builds entities by tdlib's rule (``bot/fake_telegram/entities.py``), and the
agreement of :func:`bot.commands.command_of` with PTB's real CommandHandler is checked on
generated text, over every CommandHandler the real Application registers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from telegram import Update
from telegram.ext import CommandHandler

from bot import texts
from bot.commands import ADMIN_ONLY, command_of
from bot.fake_telegram import BOT_USER, html_to_plain
from bot.fake_telegram.entities import bot_command_entities
from core.clock import FakeClock
from core.config import Settings
from tests.support.attacker import (
    Equipped,
    changed_tables,
    command_handlers,
    own_pending_payment,
    signed_in_with_2fa,
)
from tests.support.constants import ADMIN_ID
from tests.support.fake_tronscan import FakeTronscan
from tests.support.harness import BotHarness, table_rows
from tests.support.services import build_services

pytestmark = [pytest.mark.payments, pytest.mark.roomy_limits]

REFUSED = html_to_plain(texts.NOT_ALLOWED)
UNKNOWN = html_to_plain(texts.UNKNOWN_INPUT)
BOT = str(BOT_USER["username"])
# Variants Telegram turns into the command /approve (the entity ends before the junk).
SAME_COMMAND = [
    "/approve. 1",
    "/approve, 1",
    "/approve,1",
    "/approve.1",
    "/approve\u200b 1",
    "/approve\u2060 1",
    "/approve! 1",
    "/approve- 1",
    "/approve:1",
    "/approve) 1",
    "/APPROVE 1",
    "/Approve 1",
    f"/approve@{BOT} 1",
    f"/approve@{BOT.upper()} 1",
    f"/approve@{BOT}. 1",
    "/approve\n1",
    "/approve\t1",
]


def update_for(bot: BotHarness, text: str, *, user_id: int = 4242, edited: bool = False) -> Update:
    """The Update Telegram would send for ``text``, entities and all."""
    body = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": user_id, "type": "private", "first_name": "Eve"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Eve"},
        "text": text,
    }
    entities = bot_command_entities(text)
    if entities:
        body["entities"] = entities
    if edited:
        body["edit_date"] = 1
    kind = "edited_message" if edited else "message"
    return Update.de_json({"update_id": 1, kind: body}, bot.app.bot)


# --- Telegram's rule, reproduced ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/approve. 5", [(0, 8)]),
        ("/approve@verzek_guard_bot 5", [(0, 25)]),
        ("/approve@ab 5", []),  # a name under 3 characters: no entity at all
        ("/approve@ 5", []),
        ("/approveé 5", []),  # a letter (any script) right after: not a command
        ("/approve/x", []),
        ("/approve<b>", []),
        ("x/approve", []),
        ("_/approve", []),
        ("/ approve", []),
        ("/", []),
        ("(/approve)", [(1, 8)]),
        ("see /approve 5", [(4, 8)]),
        ("😀 /start", [(3, 6)]),  # the emoji is two UTF-16 code units
        ("/a /b", [(0, 2), (3, 2)]),
        ("/" + "a" * 64, [(0, 65)]),
        ("/" + "a" * 65, []),
    ],
)
def test_the_fake_marks_commands_as_telegram_does(
    text: str, expected: list[tuple[int, int]]
) -> None:
    """Entities, offsets and lengths (UTF-16) follow tdlib's match_bot_commands."""
    found = [(e["offset"], e["length"]) for e in bot_command_entities(text)]
    assert found == expected


# --- the gate reads the command exactly as PTB routes it ---------------------------------------

WORDS = st.sampled_from(
    [*sorted(ADMIN_ONLY), "start", "help", "login", "cancel", "2fa_enroll", "x", "", "1"]
)
JUNK = st.sampled_from(
    [
        "",
        " ",
        ".",
        ",",
        "@",
        f"@{BOT}",
        f"@{BOT.upper()}",
        "@otherbot",
        "@ab",
        "\u200b",
        "é",
        "😀",
        "/",
        "<",
        ">",
        "_",
        "\n",
        "\t",
        "\u00a0",
        "Ａ",
        "١",
        " 5",
        " 1 reason",
    ]
)
COMMAND_TEXT = st.builds(
    lambda lead, word, junk, tail: f"{lead}{word}{junk}{tail}",
    st.sampled_from(["/", "/", " /", "x/", "//"]),
    WORDS.map(lambda w: w if len(w) % 2 else w.upper()),
    st.lists(JUNK, max_size=3).map("".join),
    st.text(max_size=8),
)
AGREE = examples(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _never_called(update: object, context: Any) -> None:
    raise AssertionError("only check_update is used")


@AGREE
@given(text=COMMAND_TEXT, edited=st.booleans())
async def test_command_of_agrees_with_every_command_handler(
    bot: BotHarness, text: str, edited: bool
) -> None:
    """Whatever the text, a CommandHandler takes it only for the command the gate sees."""
    update = update_for(bot, text, edited=edited)
    seen = command_of(update.effective_message, BOT)
    for handler in command_handlers(bot):
        routed = handler.check_update(update)
        if routed is not None:  # PTB matched the command (False: only the filters said no)
            assert seen in handler.commands, (text, seen, sorted(handler.commands))
    every_command = sorted({c for h in command_handlers(bot) for c in h.commands})
    bare = CommandHandler(every_command, _never_called)
    assert (bare.check_update(update) is not None) == (
        seen is not None and seen in bare.commands
    ), text


# --- through the real bot ----------------------------------------------------------------------


@pytest.fixture
async def eve(bot: BotHarness, clock: FakeClock) -> Equipped:
    """A non-admin with an account, a session, 2FA on and a pending payment of her own."""
    equipped = await signed_in_with_2fa(bot.services, clock, 4242, "eve@example.com")
    await own_pending_payment(bot.services, equipped)
    return equipped


async def test_glued_junk_does_not_hide_an_admin_command(bot: BotHarness, eve: Equipped) -> None:
    """/approve. 1 and friends: refused with the neutral reply; nothing approved."""
    user = bot.user(eve.telegram_user_id, "Eve")
    before = await table_rows(bot.settings)
    for text in SAME_COMMAND:
        replies = await bot.send(user, text)
        assert [r.plain for r in replies] == [REFUSED], repr(text)
    after = await table_rows(bot.settings)
    assert changed_tables(before, after) == set()  # no approval, no license, no credit


async def test_the_admin_reaches_the_same_handler_with_the_same_text(bot: BotHarness) -> None:
    """The gate and the handler agree for admins too: /approve. 1 is /approve for them."""
    admin = bot.user(ADMIN_ID)
    for text in ("/approve. 1", f"/APPROVE@{BOT} 1", "/approve\u200b 1"):
        (reply,) = await bot.send(admin, text)
        assert reply.plain == html_to_plain(texts.ADMIN_NEEDS_ACCOUNT), repr(text)


@pytest.mark.parametrize(
    "text",
    [
        "/approve@otherbot 1",  # addressed to another bot: not ours, not a command here
        "/approveé 1",  # no entity at all
        "please /approve 1",  # mid-text: Telegram marks it, but no handler routes on it
        "/ approve 1",
        "\u200b/approve 1",
    ],
)
async def test_what_is_no_command_for_ptb_is_none_for_the_gate(
    bot: BotHarness, eve: Equipped, text: str
) -> None:
    """No handler runs these as /approve; the gate treats them as plain text too."""
    user = bot.user(eve.telegram_user_id, "Eve")
    before = await table_rows(bot.settings)
    replies = await bot.send(user, text)
    assert [r.plain for r in replies] == [UNKNOWN], repr(text)
    assert changed_tables(before, await table_rows(bot.settings)) == set()


async def test_an_admin_command_in_a_caption_is_refused(bot: BotHarness, eve: Equipped) -> None:
    """A photo or document captioned /approve 1: refused (and no handler would run it)."""
    user = bot.user(eve.telegram_user_id, "Eve")
    before = await table_rows(bot.settings)
    for kind in ("photo", "document"):
        for caption in ("/approve 1", "/approve. 1", f"/reject@{BOT} 1 no"):
            replies = await bot.send(user, None, caption=caption, **{kind: True})
            assert [r.plain for r in replies] == [REFUSED], (kind, caption)
    assert changed_tables(before, await table_rows(bot.settings)) == set()


async def test_editing_a_message_into_an_admin_command_is_refused(
    bot: BotHarness, eve: Equipped
) -> None:
    """Send something harmless, then edit it into /approve. 1: refused, nothing written."""
    user = bot.user(eve.telegram_user_id, "Eve")
    await bot.send(user, "hello")
    message = bot.last_user_message
    before = await table_rows(bot.settings)
    for text in ("/approve. 1", "/APPROVE 1", "/reject 1 because"):
        replies = await bot.edit(user, message, text)
        assert [r.plain for r in replies] == [REFUSED], text
    assert changed_tables(before, await table_rows(bot.settings)) == set()


async def test_an_edited_command_is_never_run_again(bot: BotHarness) -> None:
    """Even an ordinary command is not re-run by an edit (no replay of orders by editing)."""
    user = bot.user(5151)
    (_welcome,) = await bot.send(user, "/start")
    message = bot.last_user_message
    (reply,) = await bot.edit(user, message, "/help")
    assert reply.plain == html_to_plain(texts.EDITED_IGNORED)
    assert await bot.edit(user, message, "just words") == []


async def test_a_channel_post_is_nobodys_command(bot: BotHarness, eve: Equipped) -> None:
    """A post (or an edited post) in a channel the bot is in has no sender: dropped."""
    before = await table_rows(bot.settings)
    for edited in (False, True):
        bot.api.channel_posts(-100999, "/approve 1", edited=edited)
        bot.api.channel_posts(-100999, f"/stats@{BOT}", edited=edited)
    await bot.settle()
    assert bot.api.sent_to(-100999) == []
    assert changed_tables(before, await table_rows(bot.settings)) == set()


async def test_disguised_auth_commands_still_count_against_the_auth_limit(
    settings: Settings, clock: FakeClock, fake: FakeTronscan
) -> None:
    """The limiter reads the same command as the handlers: "/login." starts /login, so it is
    an auth hit; glued junk cannot buy a sixth guess a minute."""
    strict = replace(settings, rate_limits=replace(settings.rate_limits, auth="5/minute"))
    services = await build_services(strict, clock, chain=fake.client(strict.tronscan))
    bot = BotHarness(strict, services)
    await bot.start()
    try:
        mallory = bot.user(7373, "Mallory")
        for text in ("/login.", "/LOGIN", f"/login@{BOT}", "/login,x", "/register."):
            (reply,) = await bot.send(mallory, text)
            assert "Too many requests" not in reply.plain, text
        (refused,) = await bot.send(mallory, "/login\u200b")
        assert refused.plain == html_to_plain(texts.RATE_LIMITED.format(seconds=60))
    finally:
        await bot.stop()
        await services.aclose()
