"""Attacker's notebook: /paysupport as a way into the admin chat.

The door: a user's free text is relayed to the admins' chat, where the bot speaks HTML and
admins act on what they read. Tricks: markup that would render as the bot's own words (bold
"APPROVED", a link labelled as an admin command, a fake "From:" line), entities that decode
to markup (``&lt;b&gt;``), broken tags that make Telegram refuse the message so the request
never arrives (and blocks the outbox behind it), a message far over the limit, a flood of
requests, a forwarded text passed off as the user's own. What must hold: the admins read the
characters that were typed, never markup; the alert is delivered; over the limit or over the
quota nothing is written and the user is told politely; the quota is per Telegram user.
"""

from __future__ import annotations

import asyncio
from html import escape

import pytest

from bot import texts
from core.audit.support import MAX_CHARS, PER_WINDOW, SupportRequestsTooMany
from core.clock import FakeClock
from core.errors import Refusal
from tests.support.attacker import changed_tables
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness, table_rows
from tests.support.steps import db_rows, events

INJECTIONS = [
    '<b>APPROVED</b> by admin <a href="https://evil.example/">/approve 5</a>',
    "&lt;b&gt;entity-encoded&lt;/b&gt; &#60;i&#62; &amp;amp;",
    "<b>unclosed <i>tags</code> </a> <tg-spoiler>",
    "line one\nFrom: account #1 · Telegram user 1\nEmail: admin@verzek.example",
    '<pre><code class="language-python">import os</code></pre> ``` **md** __it__',
]


@pytest.mark.quick_jobs
@pytest.mark.parametrize("typed", INJECTIONS)
async def test_markup_in_the_message_reaches_the_admins_as_the_typed_characters(
    bot: BotHarness, typed: str
) -> None:
    user = bot.user(666)
    await bot.send(user, "/paysupport")
    (done,) = await bot.send(user, typed)
    assert "reached the operator" in done.plain
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID))
    # What an admin reads is exactly what was typed, after the bot's own "Message:" line.
    assert alert.plain.split("Message:\n", 1)[1].startswith(typed)
    # The only markup in the message is the bot's own: the title and the email code tag.
    body = alert.text or ""
    assert escape(typed) in body  # escaped exactly once: an entity typed stays an entity typed
    assert body.count("<b>") == 1 and "<a " not in body and "<i>" not in body
    for _ in range(200):  # the outbox marks it sent just after Telegram accepted it
        ((status,),) = await db_rows(bot, "SELECT status FROM alerts")
        if status == "sent":
            break
        await asyncio.sleep(0.02)
    assert status == "sent"  # Telegram (the fake follows its HTML rules) accepted it


async def test_a_message_over_the_limit_writes_nothing(bot: BotHarness) -> None:
    user = bot.user(666)
    await bot.send(user, "/paysupport")
    before = await table_rows(bot.settings)
    for size in (MAX_CHARS + 1, 4096, 20_000):
        (refused,) = await bot.send(user, "&" * size if size < 4096 else "x" * 4096)
        assert "Nothing was sent" in refused.plain
    after = await table_rows(bot.settings)
    assert "alerts" not in changed_tables(before, after)
    assert await db_rows(bot, "SELECT id FROM alerts") == []
    assert not [e for e in await events(bot) if e.event_type == "SUPPORT_REQUESTED"]


async def test_a_flood_of_requests_stops_at_the_hourly_quota(bot: BotHarness) -> None:
    flooder = bot.user(666)
    for n in range(PER_WINDOW):
        await bot.send(flooder, "/paysupport")
        (done,) = await bot.send(flooder, f"request {n}")
        assert "reached the operator" in done.plain
    (refused,) = await bot.send(flooder, "/paysupport")
    assert f"already sent {PER_WINDOW} support requests" in refused.plain
    (after,) = await bot.send(flooder, "request again")  # no flow was started
    assert "reached the operator" not in after.plain
    assert len(await db_rows(bot, "SELECT id FROM alerts")) == PER_WINDOW
    # Core refuses too, whoever calls it (a flow started before the quota filled up).
    with pytest.raises(Refusal) as refused_in_core:
        await bot.services.support.request(666, None, "straight to core")
    assert isinstance(refused_in_core.value.reason, SupportRequestsTooMany)
    assert len(await db_rows(bot, "SELECT id FROM alerts")) == PER_WINDOW
    # Someone else is not blocked by the flooder.
    await bot.send(bot.user(667), "/paysupport")
    (other,) = await bot.send(bot.user(667), "my own problem")
    assert "reached the operator" in other.plain


async def test_the_quota_frees_up_after_the_window(bot: BotHarness, clock: FakeClock) -> None:
    for n in range(PER_WINDOW):
        await bot.services.support.request(666, None, f"request {n}")
    with pytest.raises(Refusal):
        await bot.services.support.allowed(666)
    clock.advance(hours=1, seconds=1)
    await bot.services.support.allowed(666)


async def test_a_forwarded_text_is_not_taken_as_the_request(bot: BotHarness) -> None:
    user = bot.user(666)
    await bot.send(user, "/paysupport")
    await bot.send(user, "<b>someone else's words</b>", forwarded="user")
    assert await db_rows(bot, "SELECT id FROM alerts") == []
    (cancelled,) = await bot.send(user, "/cancel")
    assert cancelled.plain == texts.CANCELLED
