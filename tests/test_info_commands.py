"""/terms, /privacy and /paysupport through the bot (SPEC §11): the built-in texts, a config
file in their place, a file that cannot be read, and a support request reaching the admin chat
with the user's context (logged in or not), /cancel, a too-long message, the rate limit."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from bot import texts
from bot.handlers.info import plain_chunks
from core.audit.support import MAX_CHARS
from core.clock import FakeClock
from core.config import Settings, TextsSettings, load_settings
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer
from tests.support.services import build_services
from tests.support.steps import db_rows, events


def with_texts(bot: BotHarness, **files: Path) -> None:
    """The running bot now reads these ``texts.*_file`` settings."""
    bot.services.settings = dataclasses.replace(bot.settings, texts=TextsSettings(**files))


async def test_terms_and_privacy_show_the_built_in_texts(bot: BotHarness) -> None:
    user = bot.user(7)
    (terms,) = await bot.send(user, "/terms")
    assert terms.plain == texts.TERMS_DEFAULT
    (privacy,) = await bot.send(user, "/privacy")
    assert privacy.plain.startswith("Privacy: what this bot stores")
    assert "argon2id hash" in privacy.plain and "append-only and kept for good" in privacy.plain
    assert f"({bot.settings.backups.retention_days} days here)" in privacy.plain
    assert "{" not in privacy.plain


async def test_a_configured_file_is_shown_as_plain_text_split_under_4096(
    bot: BotHarness, tmp_path: Path
) -> None:
    terms = tmp_path / "terms.txt"
    body = "\n".join(f"<b>Clause {n}</b> & fine print {'x' * 60}" for n in range(200))
    terms.write_text(body, encoding="utf-8")
    with_texts(bot, terms_file=terms)
    replies = await bot.send(bot.user(7), "/terms")
    assert len(replies) > 1 and all(len(m.plain) <= 4096 for m in replies)
    assert "\n".join(m.plain for m in replies) == body  # every character, none as markup
    (privacy,) = await bot.send(bot.user(7), "/privacy")  # not configured: still ours
    assert privacy.plain.startswith("Privacy:")


async def test_an_unreadable_file_falls_back_to_the_built_in_text_with_a_warning(
    bot: BotHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_utf8 = tmp_path / "privacy.txt"
    not_utf8.write_bytes(b"\xff\xfe\xfa broken")
    with_texts(bot, terms_file=tmp_path / "missing.txt", privacy_file=not_utf8)
    with caplog.at_level(logging.WARNING, logger="bot.handlers.info"):
        (terms,) = await bot.send(bot.user(7), "/terms")
        (privacy,) = await bot.send(bot.user(7), "/privacy")
    assert terms.plain == texts.TERMS_DEFAULT
    assert privacy.plain.startswith("Privacy:")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("terms_file" in w and "FileNotFoundError" in w for w in warned)
    assert any("privacy_file" in w and "UnicodeDecodeError" in w for w in warned)


def test_config_keys_resolve_relative_to_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[texts]\nterms_file = "legal/terms.txt"\npaysupport_file = "help.txt"\n')
    settings = load_settings(config, {})
    assert settings.texts.terms_file == tmp_path / "legal" / "terms.txt"
    assert settings.texts.paysupport_file == tmp_path / "help.txt"
    assert settings.texts.privacy_file is None


async def test_a_paysupport_file_replaces_the_help_and_the_message_is_still_taken(
    bot: BotHarness, tmp_path: Path
) -> None:
    help_file = tmp_path / "paysupport.txt"
    help_file.write_text("Write to <b>billing</b> & quote your invoice.", encoding="utf-8")
    with_texts(bot, paysupport_file=help_file)
    user = bot.user(4711)
    shown, ask = await bot.send(user, "/paysupport")
    assert shown.plain == "Write to <b>billing</b> & quote your invoice."  # plain, not markup
    assert "Help with a payment" not in shown.plain
    assert ask.plain == texts.PAYSUPPORT_ASK.format(limit=MAX_CHARS)
    (done,) = await bot.send(user, "I paid twice")
    assert "reached the operator" in done.plain
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID))
    assert alert.plain.endswith("I paid twice\nReply to them: tg://user?id=4711")


async def test_an_unreadable_paysupport_file_falls_back_to_ours_with_a_warning(
    bot: BotHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with_texts(bot, paysupport_file=tmp_path / "missing.txt")
    with caplog.at_level(logging.WARNING, logger="bot.handlers.info"):
        (intro,) = await bot.send(bot.user(4711), "/paysupport")
    assert "Help with a payment" in intro.plain and f"at most {MAX_CHARS}" in intro.plain
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("paysupport_file" in w and "FileNotFoundError" in w for w in warned)
    assert not any(str(tmp_path) in m.plain for m in bot.api.sent_to(4711))  # no path shown


def test_plain_chunks_never_cut_an_escape_and_keep_the_limit() -> None:
    chunks = plain_chunks("&" * 5000 + "\n" + "é" * 10, limit=4096)
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert "".join(chunks).replace("\n", "").replace("&amp;", "&") == "&" * 5000 + "é" * 10


@pytest.mark.quick_jobs
async def test_paysupport_from_a_user_not_logged_in_reaches_the_admin_chat(
    bot: BotHarness,
) -> None:
    user = bot.user(4711)
    (intro,) = await bot.send(user, "/paysupport")
    assert "Help with a payment" in intro.plain and f"at most {MAX_CHARS}" in intro.plain
    (done,) = await bot.send(user, "I paid twice, please help")
    assert "reached the operator" in done.plain
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID))
    assert "Support request" in alert.plain and "Telegram user 4711" in alert.plain
    assert "Email: not logged in" in alert.plain
    assert "Last invoice: none · last payment: none" in alert.plain
    assert alert.plain.endswith("I paid twice, please help\nReply to them: tg://user?id=4711")
    (event,) = [e for e in await events(bot) if e.event_type == "SUPPORT_REQUESTED"]
    assert event.telegram_user_id == 4711 and event.account_id is None
    assert event.details == {"length": len("I paid twice, please help")}  # not the words


@pytest.mark.payments
@pytest.mark.quick_jobs
async def test_paysupport_of_a_logged_in_payer_carries_email_and_last_invoice(
    bot: BotHarness,
) -> None:
    user = await payer(bot, 31, "payer@example.com")
    await invoice_for(bot, user)
    ((invoice_id,),) = await db_rows(bot, "SELECT id FROM invoices")
    await bot.send(user, "/paysupport")
    await bot.send(user, "Invoice still open")
    alert = await bot.wait_for(
        lambda: next((m for m in bot.api.sent_to(ADMIN_CHAT_ID) if "Support" in m.plain), None)
    )
    assert "Email: payer@example.com" in alert.plain and "account #1" in alert.plain
    assert f"Last invoice: #{invoice_id} · last payment: none" in alert.plain


async def test_too_long_message_is_refused_and_nothing_is_sent(bot: BotHarness) -> None:
    user = bot.user(4711)
    await bot.send(user, "/paysupport")
    (refused,) = await bot.send(user, "a" * (MAX_CHARS + 1))
    assert f"{MAX_CHARS + 1} characters; the limit is {MAX_CHARS}" in refused.plain
    assert "Nothing was sent" in refused.plain
    assert await db_rows(bot, "SELECT id FROM alerts") == []
    (cancelled,) = await bot.send(user, "/cancel")  # still asking: /cancel ends it
    assert cancelled.plain == texts.CANCELLED
    (after,) = await bot.send(user, "hello")  # not a support message any more
    assert "reached the operator" not in after.plain
    assert await db_rows(bot, "SELECT id FROM alerts") == []
    assert not [e for e in await events(bot) if e.event_type == "SUPPORT_REQUESTED"]


async def test_only_plain_text_is_taken(bot: BotHarness) -> None:
    user = bot.user(4711)
    await bot.send(user, "/paysupport")
    (asked,) = await bot.send(user, photo=True, caption="see screenshot")
    assert asked.plain == texts.TEXT_EXPECTED
    assert await db_rows(bot, "SELECT id FROM alerts") == []


async def test_the_commands_are_rate_limited(settings: Settings, clock: FakeClock) -> None:
    tight = dataclasses.replace(
        settings,
        rate_limits=dataclasses.replace(
            settings.rate_limits,
            default="3/minute",
            tiers=dict.fromkeys(settings.rate_limits.tiers, "3/minute"),
        ),
    )
    services = await build_services(tight, clock)
    bot = BotHarness(tight, services)
    await bot.start()
    try:
        user = bot.user(99)
        for command in ("/terms", "/privacy", "/terms"):
            assert "Too many requests" not in (await bot.send(user, command))[0].plain
        (limited,) = await bot.send(user, "/paysupport")
        assert "Too many requests" in limited.plain
    finally:
        await bot.stop()
        await services.aclose()
