"""Alert routing (SPEC §11): per rule loud, silent or off; a forum topic per category."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from telegram.ext import CallbackContext

from bot.fake_telegram import FakeBotAPI
from bot.jobs.backups import JOB_NAME, nightly_backup
from bot.jobs.outbox import OutboxDelivery
from core.audit.detection import Rule
from core.audit.log import AuditEvent, EventType, Severity
from core.audit.routing_rules import RULES, AlertRouting, Mode, Route, route, take_routing
from core.audit.support import SUPPORT_RULE
from core.audit.suspicion import RULE_SIGNATURE_INVALID
from core.config import Settings, load_settings
from core.errors import ConfigError
from core.payments import rules as payment_rules
from core.payments.invoices import RULE_NO_FREE_AMOUNT
from core.payments.watch_rules import DIGEST_RULE
from core.safety.service import ALERT_RULE
from core.services import Services
from core.withdrawals.rules import RULE_LEDGER_MISMATCH
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness

SECURITY_TOPIC, BACKUPS_TOPIC = 7, 9


def test_every_rule_of_the_product_has_a_route() -> None:
    rules = {str(rule) for rule in Rule} | {
        RULE_SIGNATURE_INVALID,
        RULE_NO_FREE_AMOUNT,
        SUPPORT_RULE,
        ALERT_RULE,
        RULE_LEDGER_MISMATCH,
        DIGEST_RULE,
        *(getattr(payment_rules, n) for n in dir(payment_rules) if n.startswith("RULE_")),
    }
    assert rules <= set(RULES), rules - set(RULES)


def test_defaults_critical_loud_routine_silent() -> None:
    none = AlertRouting()
    assert route("totp_replay", none) == Route(Mode.LOUD)
    assert route("payment_approved", none).silent
    assert route("backup_done", none).silent
    assert route("backup_failed", none) == Route(Mode.LOUD)
    assert route("a_rule_added_later", AlertRouting({}, {"security": 3})) == Route(Mode.LOUD, 3)
    off = AlertRouting({"failed_logins": "off"}, {"payments": 4})
    assert route("failed_logins", off) == Route(Mode.OFF)


def test_config_mistakes_are_refused_with_the_fix() -> None:
    values = {
        "alerts.routing.failed_login": "silent",  # a typo
        "alerts.routing.failed_2fa": "quiet",
        "alerts.routing.totp_replay": "off",
        "alerts.topics.money": 3,
        "alerts.topics.security": "two",
        "alerts.topics.ops": True,
        "alerts.routing.killswitch": "silent",
        "alerts.topics.payments": 12,
        "alerts.dedupe_minutes": 5,  # not theirs
    }
    taken: dict[str, object] = {}
    problems = take_routing(values, taken, "c.toml")
    assert taken == {"alerts.routes": AlertRouting({"killswitch": "silent"}, {"payments": 12})}
    assert values == {"alerts.dedupe_minutes": 5}  # what is not routing stays for the loader
    unknown, mode, critical, category, text, boolean = problems
    assert unknown.startswith("c.toml: alerts.routing.failed_login: unknown rule (known rules: ")
    assert "failed_logins" in unknown and "backup_done" in unknown
    assert 'must be "loud", "silent" or "off"' in mode
    assert 'never "off"' in critical and "totp_replay" in critical
    assert "unknown category (known: security, payments, backups, ops)" in category
    assert "message_thread_id" in text and "message_thread_id" in boolean


def test_an_unknown_rule_stops_the_start_up(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[alerts.routing]\nfailed_loginz = "silent"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env)
    assert "alerts.routing.failed_loginz: unknown rule (known rules:" in str(refused.value)
    good = tmp_path / "good.toml"
    good.write_text('[alerts.routing]\nfailed_logins = "silent"\n[alerts.topics]\nops = 5\n')
    routes = load_settings(good, env).alerts.routes
    assert routes == AlertRouting({"failed_logins": "silent"}, {"ops": 5})


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(
        "[security]\ncaptcha = false\n"
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
        '[alerts.routing]\nfailed_logins = "silent"\nnew_telegram_account = "off"\n'
        f"[alerts.topics]\nsecurity = {SECURITY_TOPIC}\nbackups = {BACKUPS_TOPIC}\n"
    )
    return load_settings(config, env)


async def emit(services: Services, kind: EventType, **fields) -> None:
    await services.audit.record(AuditEvent(kind, Severity.WARNING, **fields))


async def test_the_outbox_sends_each_rule_as_routed(bot: BotHarness, services: Services) -> None:
    bot.api.forums.add(ADMIN_CHAT_ID, SECURITY_TOPIC, BACKUPS_TOPIC)
    await emit(services, EventType.MFA_FAILED, account_id=1, details={"reason": "replay"})
    for telegram_user_id in range(21, 26):  # five strangers: only the account's count hits
        await emit(
            services, EventType.LOGIN_FAILED, account_id=2, telegram_user_id=telegram_user_id
        )
    await emit(
        services,
        EventType.LOGIN_SUCCESS,
        account_id=3,
        telegram_user_id=33,
        details={"new_telegram_account": True},
    )
    assert await OutboxDelivery().deliver_alerts(bot.app.bot, services) == 2
    replay, logins = bot.api.sent_to(ADMIN_CHAT_ID)
    assert "Reused 2FA code" in replay.plain
    assert (replay.message_thread_id, replay.disable_notification) == (SECURITY_TOPIC, False)
    assert (logins.message_thread_id, logins.disable_notification) == (SECURITY_TOPIC, True)
    # "off": done without a message, still listed for /alerts.
    rows = [r async for r in _alert_rows(services)]
    assert [(rule, status) for rule, status in rows] == [
        ("totp_replay", "sent"),
        ("failed_logins", "sent"),
        ("new_telegram_account", "sent"),
    ]
    assert await OutboxDelivery().deliver_alerts(bot.app.bot, services) == 0


async def _alert_rows(services: Services):
    async with services.uow(read_only=True) as uow:
        for alert in reversed(await uow.alerts.recent(10)):
            yield alert.rule, str(alert.status)


async def test_a_topic_telegram_does_not_know_falls_back_to_the_chat(
    bot: BotHarness, services: Services
) -> None:
    # The admin chat is no forum (or the topic was deleted): Telegram refuses the thread.
    await emit(services, EventType.MFA_FAILED, account_id=1, details={"reason": "replay"})
    assert await OutboxDelivery().deliver_alerts(bot.app.bot, services) == 1
    (alert,) = bot.api.sent_to(ADMIN_CHAT_ID)
    assert alert.message_thread_id is None and "Reused 2FA code" in alert.plain
    refused = next(c for c in bot.api.calls if c[0] == "sendMessage")[1]
    assert int(refused["message_thread_id"]) == SECURITY_TOPIC


async def test_a_nightly_backup_done_is_a_silent_notice_in_its_topic(bot: BotHarness) -> None:
    bot.api.forums.add(ADMIN_CHAT_ID, BACKUPS_TOPIC)
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
    await nightly_backup(CallbackContext.from_job(job, bot.app))
    (done,) = bot.api.sent_to(ADMIN_CHAT_ID)
    assert "Nightly backup" in done.plain and "written and verified" in done.plain
    assert (done.message_thread_id, done.disable_notification) == (BACKUPS_TOPIC, True)


async def test_the_fake_refuses_threads_as_telegram_does() -> None:
    api = FakeBotAPI()
    api.forums.add(-100777, 5)
    base = {"chat_id": -100777, "text": "hi"}
    for chat_id, thread in ((-100777, 6), (-100888, 5), (42, 5)):
        status, body = await api.handle(
            "sendMessage", {**base, "chat_id": chat_id, "message_thread_id": thread}, {}
        )
        assert (status, json.loads(body)["description"]) == (
            400,
            "Bad Request: message thread not found",
        )
    status, body = await api.handle(
        "sendMessage",
        {**base, "message_thread_id": 5, "disable_notification": True, "protect_content": True},
        {},
    )
    result = json.loads(body)["result"]
    assert status == 200 and result["message_thread_id"] == 5 and result["is_topic_message"]
    assert result["chat"]["is_forum"] is True
    (sent,) = api.sent_to(-100777)
    assert sent.disable_notification and sent.protect_content and sent.message_thread_id == 5
