"""``telegram.mode = "webhook"``: the keys, the fake Telegram's webhook rules, and the real
``verzek run`` setting its webhook, answering what Telegram delivers and removing it at stop."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import aiosqlite
import pytest
from telegram import Bot
from telegram.error import BadRequest, Conflict

from bot.fake_telegram import FakeBotAPI, FakeRequest, TelegramUser
from bot.webhook import ALLOWED_UPDATES, SecretToken
from core.clock import from_iso
from core.config import Settings, load_settings
from core.errors import ConfigError
from tests.support.bot_process import START_TIMEOUT
from tests.support.constants import TEST_BOT_TOKEN
from tests.support.webhook_steps import WEBHOOK_URL, webhook_bot

GOOD_SECRET = "S" * 32


def settings_of(tmp_path: Path, telegram: str, env: dict[str, str] | None = None) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(f"[telegram]\n{telegram}\n")
    return load_settings(config, env or {})


def problems_of(tmp_path: Path, telegram: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        settings_of(tmp_path, telegram, env).require_for_run()
    return raised.value.problems


def test_polling_stays_the_default(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, "")
    assert settings.telegram.mode == "polling"
    assert settings.telegram.webhook_url is None


def test_webhook_mode_needs_a_url_and_a_secret(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, 'mode = "webhook"\ntoken = "1:x"\nadmin_chat_id = -1')
    assert any("telegram.webhook_url is required" in p for p in problems)
    assert any("TELEGRAM_WEBHOOK_SECRET" in p for p in problems)
    settings = settings_of(
        tmp_path,
        f'mode = "webhook"\ntoken = "1:x"\nadmin_chat_id = -1\nwebhook_url = "{WEBHOOK_URL}"',
        {"TELEGRAM_WEBHOOK_SECRET": GOOD_SECRET},
    )
    settings.require_for_run()
    assert GOOD_SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ('webhook_url = "http://bot.example.test/hook"', "https://"),
        ('webhook_url = "http://127.0.0.1/hook"', "https://"),  # not even loopback
        ('webhook_url = "https://bot.example.test:8080/hook"', "ports 443, 80, 88, 8443"),
        ('webhook_url = "https://user:pw@bot.example.test/hook"', "no user name"),
        ('webhook_url = "https://bot.example.test/hook?x=1"', "query"),
        ('mode = "websocket"', "polling, webhook"),
        ('webhook_listen = "bot.example.test"', "IP address"),
        ('webhook_secret = "short_secret"', "at least 32"),
        (f'webhook_secret = "{"a" * 31}!"', "A-Z, a-z, 0-9"),
        (f'webhook_secret = "{"a" * 257}"', "1-256"),
    ],
)
def test_bad_webhook_values_are_one_line_each(tmp_path: Path, line: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_of(tmp_path, line)
    (problem,) = raised.value.problems
    assert complaint in problem
    assert "!" not in problem and "short_secret" not in problem  # the value is never echoed


def test_the_secret_env_value_is_checked_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_of(tmp_path, "", {"TELEGRAM_WEBHOOK_SECRET": "tooshort"})
    assert "TELEGRAM_WEBHOOK_SECRET" in raised.value.problems[0]
    assert "tooshort" not in raised.value.problems[0]


def test_ptb_compares_the_secret_in_constant_time() -> None:
    """PTB checks ``token != self.secret_token``; our subclass answers that comparison."""
    secret = SecretToken(GOOD_SECRET)
    with mock.patch(
        "bot.webhook.hmac.compare_digest", wraps=__import__("hmac").compare_digest
    ) as spy:
        assert ("S" * 31 + "T") != secret
        assert not (GOOD_SECRET != secret)
    assert spy.call_count == 2
    assert "SSSS" not in repr(secret)
    assert (b"\xff".decode("latin-1") * 32) != secret  # a non-ASCII header does not raise


async def test_the_fake_telegram_applies_telegrams_webhook_rules() -> None:
    api = FakeBotAPI()
    bot = Bot(TEST_BOT_TOKEN, request=FakeRequest(api), get_updates_request=FakeRequest(api))
    async with bot:
        for url, words in [
            ("http://bot.example.test/hook", "(?i)https url must be provided"),
            ("https://bot.example.test:8080/hook", "(?i)only on ports 80, 88, 443 or 8443"),
        ]:
            with pytest.raises(BadRequest, match=words):
                await bot.set_webhook(url)
        with pytest.raises(BadRequest, match=r"(?i)secret token"):
            await bot.set_webhook(WEBHOOK_URL, secret_token="no spaces allowed")
        assert api.webhook is None
        api.user_sends(TelegramUser(7), "queued before")
        await bot.set_webhook(
            WEBHOOK_URL, secret_token=GOOD_SECRET, allowed_updates=ALLOWED_UPDATES
        )
        info = await bot.get_webhook_info()
        assert info.url == WEBHOOK_URL and info.pending_update_count == 1
        assert list(info.allowed_updates or ()) == ALLOWED_UPDATES
        with pytest.raises(Conflict):  # Telegram refuses polling while a webhook is set
            await bot.get_updates(timeout=0)
        await bot.delete_webhook(drop_pending_updates=False)
        assert (await bot.get_webhook_info()).url == ""
        assert len(await bot.get_updates(timeout=0)) == 1  # kept, not dropped


@pytest.mark.slow
async def test_run_sets_its_webhook_answers_deliveries_and_removes_it(tmp_path: Path) -> None:
    async with webhook_bot(tmp_path) as running:
        api, bot = running.server.api, running.process
        hook = await bot.wait_for("the webhook", lambda: api.webhook)
        assert hook.url == WEBHOOK_URL
        assert hook.secret_token == running.secret
        assert hook.allowed_updates == tuple(ALLOWED_UPDATES)
        (params,) = [p for m, p in api.calls if m == "setWebhook"]
        assert params.get("drop_pending_updates") is False
        assert "getUpdates" not in [m for m, _ in api.calls]

        user = TelegramUser(515151, "Webhook user")
        api.user_sends(user, "/start")
        replies = await bot.wait_for("the welcome", lambda: api.sent_to(user.id))
        # Answered once handled (bot/acks.py): the 200 follows the reply.
        await bot.wait_for("the answer", lambda: running.delivery.delivered)
        assert replies and len(running.delivery.delivered) == 1
        assert running.delivery.refusals == []

        await bot.wait_for("the job lease", lambda: "now runs the scheduled jobs" in bot.stderr)

        code = await bot.stop(signal.SIGTERM, timeout=START_TIMEOUT)
        assert code == 0, bot.stderr
        assert api.webhook is None
        assert api.webhook_calls == ["set", "deleted"]
        assert "Traceback" not in bot.stderr
        output = bot.stdout + bot.stderr
        assert running.secret not in output and running.token not in output
        assert "updates: webhook https://bot.example.test/telegram/hook" in output
        # It ran the jobs (alone) and handed the lease back as it stopped.
        async with aiosqlite.connect(running.database) as conn:
            async with conn.execute("SELECT holder, expires_at FROM job_leases") as cursor:
                ((holder, expires_at),) = list(await cursor.fetchall())
        assert f"scheduled jobs handed back ({holder})" in output
        assert from_iso(expires_at) <= datetime.now(UTC)


@pytest.mark.slow
async def test_several_instances_keep_the_webhook_when_one_stops(tmp_path: Path) -> None:
    async with webhook_bot(tmp_path, "webhook_remove_on_stop = false\n") as running:
        api, bot = running.server.api, running.process
        await bot.wait_for("the webhook", lambda: api.webhook)
        assert await bot.stop(signal.SIGTERM, timeout=START_TIMEOUT) == 0, bot.stderr
        assert api.webhook is not None and api.webhook_calls == ["set"]
