"""The security test list: admin authorization, user-scoped ids, no secrets in logs.

Elsewhere on the list: forged admin buttons and buttons never issued (tests/test_bad_input.py),
another user's invoice (tests/test_payments_core.py), forged /activity page buttons
(tests/test_activity_audit.py), the token and keys in ``verzek run``'s own output
(tests/test_run_command.py), secrets at rest (tests/test_apikeys.py, tests/test_twofactor.py).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from bot import texts
from bot.commands import ADMIN_ONLY
from bot.fake_telegram import TelegramUser, html_to_plain
from bot.logging_setup import configure_logging
from core.apikeys.refusals import ApiKeyNotFound
from core.audit.log import EventType
from core.clock import FakeClock
from core.errors import Refusal
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness, table_rows
from tests.support.steps import (
    BOB_EMAIL,
    KEY,
    NEW_PASSWORD,
    PASSPHRASE,
    PASSWORD,
    SECRET,
    add_key,
    enable_2fa,
    logged_in,
    login,
    login_with_code,
    register,
)

REFUSED = html_to_plain(texts.NOT_ALLOWED)
# Arguments that would do something if the command were allowed.
ADMIN_ARGS = {
    "approve": "1",
    "reject": "1 fraud",
    "verify": "1",
    "restore": "verzek-20260101T000000Z.tar.gz",
    "killswitch": "on testing the gate",
    "audit": "trader@example.com",
    "complete_withdrawal": "1 " + "ab" * 32,
    "reject_withdrawal": "1 no",
}
# Tables a refused admin command may write: its audit event and the detector's alert.
AUDIT_TABLES = {"audit_events", "audit_head", "alerts", "alert_dedupe"}


# --- authorization on every admin command ----------------------------------------------------


@pytest.mark.parametrize("where", ["private chat", "admin chat"])
async def test_every_admin_command_is_refused_to_a_non_admin_and_audited(
    bot: BotHarness, clock: FakeClock, where: str
) -> None:
    eve = bot.user(4242, "Eve")
    await enable_2fa(bot, eve, clock)  # fully signed in with 2FA on: still not an admin
    private = where == "private chat"
    chat = eve.id if private else ADMIN_CHAT_ID
    for name in sorted(ADMIN_ONLY):
        args = ADMIN_ARGS.get(name, "")
        forms = [f"/{name} {args}".rstrip()]
        if private:  # (the admin chat is a group: Telegram allows 20 messages a minute there)
            forms += [f"/{name.upper()}", f"/{name}@verzek_guard_bot"]
        for text in forms:
            before = await table_rows(bot.settings)
            replies = await bot.send(eve, text, chat_id=chat)
            # In the admin chat the alert about Eve arrives too: that one is expected.
            replies = [r for r in replies if not r.plain.startswith("⚠️ Security alert")]
            assert [r.plain for r in replies] == [REFUSED], text
            after = await table_rows(bot.settings)
            changed = {t for t in after if after[t] != before.get(t)}
            assert changed <= AUDIT_TABLES, (text, changed - AUDIT_TABLES)
            new = after["audit_events"][len(before["audit_events"]) :]
            kinds = [row[2] for row in new]
            assert kinds[0] == EventType.ADMIN_ACTION, text
            assert set(kinds[1:]) <= {EventType.SUSPICIOUS_ACTIVITY}
            assert new[0][5] == eve.id and f'"action":"/{name}"' in new[0][6].replace(" ", "")
            assert '"outcome":"denied"' in new[0][6].replace(" ", "")
    assert not (await bot.services.safety.killswitch()).active
    assert not bot.services.backups.directory.exists() or not any(
        bot.services.backups.directory.iterdir()
    )


# --- ids that belong to another user -----------------------------------------------------------


async def test_another_users_api_key_ids_are_refused_everywhere(bot: BotHarness) -> None:
    alice, bob = bot.user(1, "Alice"), bot.user(2, "Bob")
    await logged_in(bot, alice)
    await add_key(bot, alice)
    (alices_key,) = await bot.services.apikeys.keys(1)
    await logged_in(bot, bob, BOB_EMAIL, NEW_PASSWORD)
    bob_session = await bot.services.sessions.current(bob.id)
    assert bob_session is not None and bob_session.account_id != 1  # Alice's account

    for text in (f"/apikey_delete {alices_key.id}", f"/apikey_delete #{alices_key.id}"):
        (reply,) = await bot.send(bob, text)
        assert reply.plain == f"You have no API key with ID {alices_key.id}. See /apikeys."
    (listing,) = await bot.send(bob, "/apikeys")
    assert "…" not in listing.plain  # nothing of Alice's key, not even its masked end
    await bot.press_data(bob, listing, f"apikey:del:{alices_key.id}")
    assert bot.api.callback_answers[-1]["text"] == html_to_plain(texts.STALE_BUTTON)

    apikeys = bot.services.apikeys
    for attempt in (
        apikeys.get(bob_session.account_id, alices_key.id),
        apikeys.credentials(bob_session.account_id, alices_key.id),
        apikeys.delete(bob_session, alices_key.id),
    ):
        with pytest.raises(Refusal) as refused:
            await attempt
        assert refused.value.reason == ApiKeyNotFound(alices_key.id)
    assert await apikeys.keys(1) == [alices_key]
    kinds = [row.event_type async for row in bot.services.audit.export()]
    assert EventType.API_KEY_DELETED not in kinds


# --- no secrets in logs --------------------------------------------------------------------


@pytest.fixture
def product_logging(settings) -> Iterator[tuple[io.StringIO, list[logging.LogRecord]]]:
    """Logging exactly as ``verzek run`` sets it up at DEBUG, into a buffer; plus every record
    as it was before the redacting filter touched it."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    capped = ["httpx", "httpcore", "telegram", "apscheduler", "aiosqlite"]
    saved_levels = {name: logging.getLogger(name).level for name in capped}
    secrets = [settings.telegram.token.get(), settings.encryption.master_key.get()]
    configure_logging("DEBUG", secrets)
    output = io.StringIO()
    product_handler = root.handlers[0]
    assert isinstance(product_handler, logging.StreamHandler)
    product_handler.setStream(output)
    raw: list[logging.LogRecord] = []

    class Raw(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record.raw_text = record.getMessage() + (
                logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
            )
            raw.append(record)

    root.handlers.insert(0, Raw())  # before the product's handler, whose filter edits records
    try:
        yield output, raw
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


async def test_whole_flows_at_debug_log_no_secret(
    bot: BotHarness, clock: FakeClock, product_logging: tuple[io.StringIO, list]
) -> None:
    output, raw = product_logging
    alice = bot.user(1, "Alice")
    wrong_password = "not-my-password Zebra 93 quilt"
    # register, login with password, 2FA enrolment + code (QR, backup codes shown once)
    totp, backup_codes = await enable_2fa(bot, alice, clock)
    await bot.send(alice, "/logout")
    # a wrong password, a wrong code, then the right code; then a backup code
    await bot.send(alice, "/login")
    await bot.send(alice, "trader@example.com")
    await bot.send(alice, wrong_password)
    await login(bot, alice)
    await bot.send(alice, "000000")
    clock.advance(seconds=30)
    codes = [totp.at(clock.now())]
    await bot.send(alice, codes[-1])
    await bot.send(alice, "/logout")
    assert "logged in" in await login_with_code(bot, alice, backup_codes[0])
    # an API key with a passphrase, confirmed with a fresh code
    clock.advance(seconds=30)
    codes.append(totp.at(clock.now()))
    replies = await add_key(bot, alice, exchange="OKX", passphrase=PASSPHRASE, confirm=codes[-1])
    assert "is saved" in replies[-1].plain
    # a password change
    await bot.send(alice, "/password")
    await bot.send(alice, PASSWORD)
    await bot.send(alice, NEW_PASSWORD)
    await bot.send(alice, NEW_PASSWORD)  # typed twice
    bob = bot.user(2, "Bob")
    await register(bot, bob, email="bob@example.com", password=NEW_PASSWORD)
    await bot.send(bob, "/stats")  # something that logs a warning: capture works

    assert any(r.name == "bot.gate" for r in raw), "nothing logged: is logging captured?"
    user_secrets = [PASSWORD, NEW_PASSWORD, wrong_password, KEY, SECRET, PASSPHRASE]
    user_secrets += [totp.secret, *backup_codes]
    numeric = [*codes, "000000"]  # 6-digit codes: whole numbers only, not inside others
    token, master_key = bot.settings.telegram.token, bot.settings.encryption.master_key
    assert token is not None and master_key is not None
    service_secrets = [
        token.get(),
        token.get().split(":", 1)[1],
        master_key.get(),
    ]
    written = output.getvalue()
    for text in [written, *(r.raw_text for r in raw)]:
        for secret in user_secrets:
            assert secret not in text, "a user's secret reached the logs"
        for code in numeric:
            assert not re.search(rf"(?<!\d){code}(?!\d)", text), "a 2FA code reached the logs"
    for secret in service_secrets:
        assert secret not in written, "the token or the master key reached the log output"
    ours = [r for r in raw if r.name.split(".")[0] in {"bot", "core", "storage"}]
    for record in ours:
        for secret in service_secrets:
            assert secret not in record.raw_text, f"{record.name} logs the token or the key"


def test_known_user_ids_in_these_tests_are_distinct() -> None:
    # The admin-chat test posts as Eve into ADMIN_CHAT_ID; a clash would make it an admin.
    assert TelegramUser(4242).id not in {ADMIN_CHAT_ID}
