"""Attack: forge Telegram's webhook requests to the bot.

In webhook mode the bot's HTTP endpoint is reachable by whoever finds its URL. An attacker
who can reach it POSTs updates of their own making: a "/start" from any user id (an admin's,
to run admin commands as them), with no secret, a wrong one, one a character short, the right
one in another case, or the right one on a body that is not JSON. Every such request must be
refused (403, as python-telegram-bot answers) before anything is processed: no reply to the
impersonated user, nothing in the database. The genuine delivery (Telegram, with the secret)
still works after all that.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.fake_telegram import TelegramUser
from bot.fake_telegram.webhook import SECRET_HEADER
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import table_rows
from tests.support.webhook_steps import forged_headers, post_update, update_json, webhook_bot

pytestmark = pytest.mark.slow


def near_misses(secret: str) -> list[str | None]:
    return [
        None,  # no header at all
        "",
        "x" * len(secret),
        secret[:-1],
        secret + "x",
        secret.swapcase(),
        secret[: len(secret) // 2]
        + ("A" if secret[len(secret) // 2] != "A" else "B")
        + secret[len(secret) // 2 + 1 :],  # one character changed, mid-way
    ]


async def test_forged_updates_are_refused_and_nothing_is_processed(tmp_path) -> None:
    async with webhook_bot(tmp_path) as running:
        api, bot = running.server.api, running.process
        await bot.wait_for("the webhook", lambda: api.webhook)
        # Telegram's own delivery first, so the server is known to be up and answering.
        first = TelegramUser(616161, "Genuine")
        api.user_sends(first, "/start")
        await bot.wait_for("the genuine reply", lambda: api.sent_to(first.id))
        # ... and answered (the bot answers once it marked the update handled: bot/acks.py)
        await bot.wait_for("the genuine answer", lambda: not api.pending_updates)
        before = await table_rows(running.database)
        sent_before = len([m for m, _ in api.calls if m.startswith("send")])

        admin = TelegramUser(ADMIN_ID, "Admin")
        forged = [update_json(900 + n, admin, "/stats") for n in range(3)]
        forged.append(update_json(950, TelegramUser(717171, "Victim"), "/start"))
        for guess in near_misses(running.secret):
            for update in forged:
                answer = await post_update(running.local_url, update, forged_headers(guess))
                assert answer.status_code == 403, (guess, answer.status_code)
                assert running.secret not in answer.text
        # The right secret on a body that is not JSON, and other methods than POST.
        headers = {SECRET_HEADER: running.secret, "Content-Type": "text/plain"}
        answer = await post_update(running.local_url, forged[0], headers)
        assert answer.status_code == 403
        async with httpx.AsyncClient(timeout=5.0) as client:
            for method in ("GET", "PUT"):
                answer = await client.request(method, running.local_url, headers=headers)
                assert answer.status_code == 405

        # What the bot did: nothing. No message to anyone, no row written.
        await asyncio.sleep(0.5)  # time for anything that slipped through to be answered
        assert api.sent_to(ADMIN_ID) == [] and api.sent_to(ADMIN_CHAT_ID) == []
        assert api.sent_to(717171) == []
        assert len([m for m, _ in api.calls if m.startswith("send")]) == sent_before
        after = await table_rows(running.database)
        assert after == before

        # Telegram's delivery still works, and the real secret is nowhere in the logs.
        second = TelegramUser(818181, "Still served")
        api.user_sends(second, "/start")
        await bot.wait_for("the next genuine reply", lambda: api.sent_to(second.id))
        output = bot.stdout + bot.stderr
        assert running.secret not in output
