"""Issue 19 end to end (SPEC §11): each "Must be true" bullet walked through the real bot
(PTB Application against the fake Bot API), one test (or a short group) per bullet, with the
shared steps of tests/support. The attacks on each part: tests/attacks/test_links_and_sessions,
test_picker_buttons, test_payment_buttons, test_notice_settings, test_account_deletion."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from bot import texts
from bot.fake_telegram import FakeBotAPI, Message, TelegramUser, html_to_plain
from bot.flow_state import INVITATION, Invitation
from bot.jobs.outbox import OutboxDelivery
from core.accounts.deletion import UNUSABLE_HASH, tombstone
from core.audit.log import AuditEvent, EventType, Severity
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.services import Services
from tests.support.attacker import Equipped, own_pending_payment, signed_in_with_2fa
from tests.support.care_steps import DELETE, account_state, up_to_the_confirmation
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fake_tronscan import SUCCESS_HASH, FakeTronscan, success
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.services import build_services
from tests.support.sessions_steps import credit, make_victim, tron_address
from tests.support.steps import PASSWORD, add_key, db_rows, logged_in, register

BOT_USERNAME = "verzek_guard_bot"  # the fake Bot API's getMe
OPAQUE = re.compile(r"(adm:)?pk:[A-Za-z0-9_-]{12}")  # bot/pickers.py: a token, nothing else
ADDRESS = tron_address(3)


def invitation(bot: BotHarness, user: TelegramUser) -> object:
    return bot.app.user_data.get(user.id, {}).get(INVITATION)


async def code_of(bot: BotHarness, email: str) -> str:
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users WHERE email = ?", email)
    return str(code)


# --- Deep links ---------------------------------------------------------------------------------


async def test_deep_links_share_remember_prefill_and_refuse(bot: BotHarness) -> None:
    alice = bot.user(7_100_000_011, "Alice")
    await register(bot, alice, "alice@example.com")
    code = await code_of(bot, "alice@example.com")
    (reply,) = await bot.send(alice, "/referral")
    link = f"https://t.me/{BOT_USERNAME}?start=ref_{code}"
    assert link in reply.plain
    (share,) = reply.buttons
    assert share.url is not None and share.url.startswith("https://t.me/share/url?url=")
    assert quote(link, safe="") in share.url
    # The payload follows Telegram's rule: at most 64 characters of A-Za-z0-9_-.
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", f"ref_{code}")

    bob = bot.user(7_100_000_022, "Bob")
    (remembered,) = await bot.send(bob, f"/start ref_{code}")
    assert code in remembered.plain and "/register" in remembered.plain
    await bot.send(bob, f"/start ref_{code}")  # idempotent
    assert invitation(bot, bob) == Invitation(code)
    (unknown,) = await bot.send(bob, "/start ref_ZZZZZZZZ")  # refused politely, kept the good one
    assert "I don't know that referral code" in unknown.plain
    assert invitation(bot, bob) == Invitation(code)
    (too_long,) = await bot.send(bob, f"/start ref_{code}{'A' * (65 - 4 - len(code))}")
    assert html_to_plain(texts.INVITE_UNREADABLE) in too_long.plain
    (own,) = await bot.send(alice, f"/start ref_{code}")
    assert own.plain.startswith("That is your own referral code")
    assert invitation(bot, alice) is None

    # /register's referral step is pre-filled; the user may still skip it or type another.
    await bot.send(bob, "/register")
    await bot.send(bob, "bob@example.com")
    await bot.send(bob, PASSWORD)
    prompt = (await bot.send(bob, PASSWORD))[-1]
    assert [b.text for b in prompt.buttons] == [f"Use {code}", texts.SKIP]
    assert all(code not in (b.callback_data or "") for b in prompt.buttons)
    (done,) = await bot.press(bob, prompt, f"Use {code}")
    assert "is ready" in done.plain
    [(alice_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = 'alice@example.com'")
    assert await db_rows(bot, "SELECT referred_by FROM users WHERE email = 'bob@example.com'") == [
        (alice_id,)
    ]


# --- Buttons instead of typed arguments ---------------------------------------------------------


@pytest.fixture
async def admin(services: Services, clock: FakeClock) -> Equipped:
    return await signed_in_with_2fa(services, clock, ADMIN_ID, "admin@example.com")


@pytest.mark.payments
@pytest.mark.roomy_limits
async def test_buttons_list_the_callers_own_keys_and_invoices_paged_and_opaque(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    alice, mallory = bot.user(1, "Alice"), bot.user(2, "Mallory")
    await logged_in(bot, alice)
    await logged_in(bot, mallory, email="mallory@example.com")
    for n in range(10):
        await add_key(bot, alice, label=f"k{n}")
    await add_key(bot, mallory, label="hers")
    (pick,) = await bot.send(alice, "/apikey_delete")
    assert "Page 1 of 2" in pick.plain and len(pick.buttons) == 9  # paginated
    assert all(OPAQUE.fullmatch(b.callback_data or "") for b in pick.buttons)
    assert not any("hers" in b.text for b in pick.buttons)  # only the caller's own items
    # Another account pressing the same data: refused, nothing happens, the owner's still works.
    assert await bot.press_data(mallory, pick, str(pick.buttons[0].callback_data)) == []
    assert bot.api.callback_answers[-1]["text"] in (
        texts.PICKER_NOT_YOURS,
        texts.SECRET_FLOW_PRIVATE_ONLY,  # /apikey_delete asks for a code: private chats only
    )
    (confirm,) = await bot.press(alice, pick, pick.buttons[0].text)
    assert "Delete your Binance key k0" in confirm.plain
    await bot.send(alice, "/cancel")
    (typed,) = await bot.send(alice, "/apikey_delete 2")  # typed arguments keep working
    assert "Delete your Binance key k1" in typed.plain
    await bot.send(alice, "/cancel")

    await invoice_for(bot, alice)
    (ask,) = await bot.send(alice, "/pay")
    assert [b.text for b in ask.buttons] == ["#1 basic — 29.00 USDT"]
    assert OPAQUE.fullmatch(ask.buttons[0].callback_data or "")
    (question,) = await bot.press(alice, ask, "#1 basic — 29.00 USDT")
    assert "Invoice #1: send me the transaction hash" in question.plain
    fake.add(success())
    await bot.send(alice, SUCCESS_HASH)
    await said(bot, alice, "Payment #1 confirmed")


@pytest.mark.payments
@pytest.mark.roomy_limits
async def test_buttons_list_pending_payments_withdrawals_and_backups_for_admins(
    bot: BotHarness, admin: Equipped, clock: FakeClock
) -> None:
    services = bot.services
    for i in range(2):
        who = await signed_in_with_2fa(services, clock, 5000 + i, f"payer{i}@example.com")
        await own_pending_payment(services, who, i + 1)
    owner = bot.user(ADMIN_ID)
    for command in ("/verify", "/approve", "/reject"):
        (pick,) = await bot.send(owner, command)
        assert [b.text.split(" · ")[0] for b in pick.buttons] == ["#1", "#2"], command
        assert all((b.callback_data or "").startswith("adm:pk:") for b in pick.buttons)
        await bot.send(owner, "/cancel")
    (pick,) = await bot.send(owner, "/approve")
    await bot.press(owner, pick, pick.buttons[0].text)
    (done,) = await bot.send(owner, admin.code(clock))
    assert "Payment #1 approved by you" in done.plain

    who = await signed_in_with_2fa(services, clock, 6001, "out@example.com")
    await credit(bot, who.session.account_id, 10_000_000)
    session = await services.sessions.current(who.telegram_user_id)
    assert session is not None
    draft = await services.withdrawals.prepare(session, "5", ADDRESS)
    await services.withdrawals.request(session, draft, who.code(clock))
    (pick,) = await bot.send(owner, "/complete_withdrawal")
    assert [b.text for b in pick.buttons] == ["#1 · out@example.com · 5.00 USDT"]

    await bot.send(owner, "/backup")
    (pick,) = await bot.send(owner, "/restore")
    (button,) = pick.buttons
    assert OPAQUE.fullmatch(button.callback_data or "")
    (confirm,) = await bot.press(owner, pick, button.text)
    assert "Restore" in confirm.plain


@pytest.mark.payments
@pytest.mark.roomy_limits
async def test_bare_withdraw_asks_amount_then_address_and_offers_the_last_one(
    bot: BotHarness, services: Services, clock: FakeClock
) -> None:
    who = await signed_in_with_2fa(services, clock, 77, "w@example.com")
    await credit(bot, who.session.account_id, 50_000_000)
    user = bot.user(77)
    (ask,) = await bot.send(user, "/withdraw")
    assert "How much USDT" in ask.plain
    (ask,) = await bot.send(user, "5")
    assert ask.buttons == []  # no address used yet
    (refused,) = await bot.send(user, ADDRESS[:-1] + "x")
    assert "isn't a valid TRON address" in refused.plain  # validated
    await bot.send(user, ADDRESS)
    (done,) = await bot.send(user, who.code(clock))
    assert "5.00 USDT" in done.plain
    await bot.send(user, "/withdraw")
    (ask,) = await bot.send(user, "7")
    (button,) = ask.buttons
    assert ADDRESS not in (button.callback_data or "") and OPAQUE.fullmatch(
        button.callback_data or ""
    )
    (code,) = await bot.press(user, ask, button.text)
    assert ADDRESS in code.plain


# --- Global commands ----------------------------------------------------------------------------


async def test_global_commands_settings_privacy_terms_paysupport_delete_account(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock)
    (screen,) = await bot.send(victim.phone, "/settings")
    labels = [b.text for b in screen.buttons]
    for kind in ("Logins", "Security changes", "Payments", "Reminders"):
        assert any(label.startswith(f"{kind}: ") for label in labels), labels
    assert "🔒" in screen.plain  # security-critical notices stay on, shown locked
    await bot.press(victim.phone, screen, "Reminders: ✅ on")
    assert "Reminders: ⬜ off" in [b.text for b in screen.buttons]

    (privacy,) = await bot.send(victim.phone, "/privacy")
    assert "Privacy: what this bot stores" in privacy.plain and "/delete_account" in privacy.plain
    (terms,) = await bot.send(victim.phone, "/terms")
    assert terms.plain == texts.TERMS_DEFAULT
    (support,) = await bot.send(victim.phone, "/paysupport")
    assert "Help with a payment" in support.plain
    await bot.send(victim.phone, "/cancel")

    confirmation = await up_to_the_confirmation(bot, victim.phone, victim.code(clock))
    (done,) = await bot.press(victim.phone, confirmation, f"🗑 {DELETE}")
    assert "deleted" in done.plain.lower()
    # The row stays (tombstoned, what law and the audit log need); secrets and sessions go.
    email, password_hash, closed_at, live, mfa, codes, keys = await account_state(
        bot, victim.account_id
    )
    assert (email, password_hash) == (tombstone(victim.account_id), UNUSABLE_HASH)
    assert closed_at is not None and (live, mfa, codes, keys) == (0, 0, 0, 0)
    assert await db_rows(
        bot, "SELECT COUNT(*) FROM audit_events WHERE event_type = 'ACCOUNT_DELETED'"
    ) == [(1,)]


# --- /sessions and /security --------------------------------------------------------------------


async def test_sessions_lists_and_ends_and_security_is_a_one_screen_checkup(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock, mfa=False)
    (listing,) = await bot.send(victim.phone, "/sessions")
    assert "Your live sessions (2)" in listing.plain
    assert "Telegram account …" in listing.plain and "this device" in listing.plain  # masked
    assert "started" in listing.plain and "last seen" in listing.plain
    assert [b.text for b in listing.buttons][-1] == "End all others"
    assert [b.text.split(" (")[0] for b in listing.buttons] == ["End 2", "End all others"]

    (screen,) = await bot.send(victim.phone, "/security")
    assert "Two-factor authentication is off" in screen.plain
    assert "2 live sessions" in screen.plain
    for line in ("API keys", "withdrawal", "new Telegram account"):
        assert line in screen.plain, line
    labels = [b.text for b in screen.buttons]
    assert "Enrol 2FA" in labels and "Sessions" in labels  # each check with its fix
    (sessions,) = await bot.press(victim.phone, screen, "Sessions")
    assert "Your live sessions (2)" in sessions.plain
    await bot.press(victim.phone, sessions, "End all others")
    live = await db_rows(bot, "SELECT telegram_user_id FROM sessions WHERE ended_at IS NULL")
    assert live == [(victim.phone.id,)]


# --- Menus by role and chat ---------------------------------------------------------------------


async def test_menus_by_role_and_chat_and_the_descriptions_are_set_at_start_up(
    bot: BotHarness,
) -> None:
    commands = bot.api.commands
    by_scope = {key: [c["command"] for c in menu] for key, menu in commands.items()}
    private = next(v for k, v in by_scope.items() if "all_private_chats" in str(k))
    assert {"settings", "privacy", "terms", "paysupport", "sessions", "security"} <= set(private)
    assert "stats" not in private
    admin_own = next(v for k, v in by_scope.items() if str(ADMIN_ID) in str(k))
    admin_chat = next(v for k, v in by_scope.items() if str(ADMIN_CHAT_ID) in str(k))
    assert "stats" in admin_own and "settings" in admin_own
    assert "stats" in admin_chat and "register" not in admin_chat
    assert bot.api.descriptions[""] == texts.BOT_DESCRIPTION
    assert bot.api.short_descriptions[""] == texts.BOT_SHORT_DESCRIPTION


# --- Alert routing ------------------------------------------------------------------------------


async def test_alert_routing_loud_silent_off_and_forum_topics(
    env: dict[str, str], tmp_path: Path, clock: FakeClock
) -> None:
    config = tmp_path / "routed.toml"
    config.write_text(
        "[security]\ncaptcha = false\n"
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
        '[alerts.routing]\nfailed_logins = "silent"\nnew_telegram_account = "off"\n'
        "[alerts.topics]\nsecurity = 7\nbackups = 9\n"
    )
    settings: Settings = load_settings(config, env)
    services = await build_services(settings, clock)
    bot = BotHarness(settings, services)
    await bot.start()
    try:
        bot.api.forums.add(ADMIN_CHAT_ID, 7, 9)
        record = services.audit.record
        warn = Severity.WARNING
        await record(AuditEvent(EventType.MFA_FAILED, warn, 1, details={"reason": "replay"}))
        for stranger in range(21, 26):  # five strangers at one account: failed_logins
            await record(AuditEvent(EventType.LOGIN_FAILED, warn, 2, telegram_user_id=stranger))
        new = {"new_telegram_account": True}
        await record(AuditEvent(EventType.LOGIN_SUCCESS, warn, 3, 33, details=new))
        assert await OutboxDelivery().deliver_alerts(bot.app.bot, services) == 2
        replay, logins = bot.api.sent_to(ADMIN_CHAT_ID)
        # Critical: loud, in the security topic; a rule made silent: disable_notification.
        assert (replay.message_thread_id, replay.disable_notification) == (7, False)
        assert (logins.message_thread_id, logins.disable_notification) == (7, True)
        # "off": nothing sent for new_telegram_account, and it stays listed for /alerts.
        async with services.uow(read_only=True) as uow:
            rules = {alert.rule: str(alert.status) for alert in await uow.alerts.recent(10)}
        assert rules["new_telegram_account"] == "sent"
    finally:
        await bot.stop()
        await services.aclose()


async def test_routine_notices_are_silent_by_default(bot: BotHarness) -> None:
    from telegram.ext import CallbackContext

    from bot.jobs.backups import JOB_NAME, nightly_backup

    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
    await nightly_backup(CallbackContext.from_job(job, bot.app))
    (done,) = bot.api.sent_to(ADMIN_CHAT_ID)
    assert "Nightly backup" in done.plain and done.disable_notification


@pytest.mark.payments
async def test_a_payment_approved_is_a_silent_routine_notice_in_the_admin_chat(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, "routine@example.com")
    await invoice_for(bot, user)
    fake.add(success())
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "Payment #1 confirmed")
    (notice,) = [m for m in bot.api.sent_to(ADMIN_CHAT_ID) if "approved" in m.plain]
    assert notice.plain == (
        "✅ Payment #1 approved by the chain check: invoice #1 basic, 29.00 USDT, account #1."
    )
    assert notice.disable_notification  # routine: silent by default


# --- The fake Bot API -------------------------------------------------------------------------


async def test_the_fake_supports_what_the_bot_uses_and_refuses_what_telegram_refuses() -> None:
    api = FakeBotAPI()
    api.forums.add(-100777, 5)
    base = {"chat_id": -100777, "text": "hi"}
    ok, body = await api.handle(
        "sendMessage", {**base, "message_thread_id": 5, "protect_content": True}, {}
    )
    assert ok == 200 and json.loads(body)["result"]["message_thread_id"] == 5
    refused, _ = await api.handle("sendMessage", {**base, "message_thread_id": 6}, {})
    assert refused == 400  # a thread the chat does not have
    copy = {"inline_keyboard": [[{"text": "Copy", "copy_text": {"text": "x" * 257}}]]}
    refused, _ = await api.handle("sendMessage", {**base, "reply_markup": json.dumps(copy)}, {})
    assert refused == 400  # copy text is 1-256 characters
    long_data = {"inline_keyboard": [[{"text": "b", "callback_data": "x" * 65}]]}
    refused, _ = await api.handle(
        "sendMessage", {**base, "reply_markup": json.dumps(long_data)}, {}
    )
    assert refused == 400  # callback data is 1-64 bytes
    assert (await api.handle("setMyDescription", {"description": "x" * 513}, {}))[0] == 400
    scope = {"type": "chat"}  # a chat scope without its chat_id
    menu = [{"command": "help", "description": "Help"}]
    assert (await api.handle("setMyCommands", {"commands": menu, "scope": scope}, {}))[0] == 400

    # editMessageReplyMarkup: only a change, and only of the bot's own messages.
    keys = json.dumps({"inline_keyboard": [[{"text": "b", "callback_data": "d"}]]})
    _, body = await api.handle("sendMessage", {"chat_id": 5, "text": "x", "reply_markup": keys}, {})
    edit = {"chat_id": 5, "message_id": json.loads(body)["result"]["message_id"]}
    same = {**edit, "reply_markup": keys}
    assert (await api.handle("editMessageReplyMarkup", same, {}))[0] == 400  # not modified
    assert (await api.handle("editMessageReplyMarkup", edit, {}))[0] == 200  # buttons removed
    assert (await api.handle("editMessageReplyMarkup", edit, {}))[0] == 400  # none to remove

    # answerCallbackQuery: once per query, and at most 200 characters of text.
    api.user_presses(TelegramUser(5, "U"), Message(5, 1, from_bot=True, text="x"), "data")
    (press,) = [u["callback_query"] for u in api.pending_updates if "callback_query" in u]
    query = {"callback_query_id": press["id"]}
    too_long = {**query, "text": "x" * 201, "show_alert": True}
    assert (await api.handle("answerCallbackQuery", too_long, {}))[0] == 400
    assert (await api.handle("answerCallbackQuery", {**query, "text": "x" * 200}, {}))[0] == 200
    assert (await api.handle("answerCallbackQuery", query, {}))[0] == 400  # answered already
    assert (await api.handle("answerCallbackQuery", {"callback_query_id": "nope"}, {}))[0] == 400


def test_every_button_answer_the_bot_gives_fits_telegrams_200_characters() -> None:
    """Each text the bot hands to answerCallbackQuery (constants read from the handlers'
    source) is plain text of at most 200 characters, as Telegram demands."""
    used: set[str] = set()
    for path in Path("bot").rglob("*.py"):
        if "fake_telegram" not in path.parts:
            used |= set(re.findall(r"answer\(\s*texts\.([A-Z_]+)", path.read_text()))
    assert len(used) >= 10
    for name in sorted(used):
        text = getattr(texts, name)
        assert len(text) <= 200 and "<" not in text, name
