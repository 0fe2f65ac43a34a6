"""Exchange API keys through the real bot: add, replace, list, delete; encrypted at rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.apikeys.refusals import ApiKeyNotFound
from core.apikeys.service import MAX_KEYS
from core.audit.log import EventType
from core.clock import FakeClock
from core.config import EncryptionSettings, Secret
from core.crypto import EncryptionService, generate_master_key
from core.errors import DecryptionError, Refusal
from tests.support import raw_db
from tests.support.harness import BotHarness
from tests.support.steps import (
    BOB_EMAIL,
    KEY,
    NEW_KEY,
    NEW_PASSWORD,
    NEW_SECRET,
    PASSPHRASE,
    PASSWORD,
    SECRET,
    add_key,
    db_rows,
    enable_2fa,
    events,
    logged_in,
    login,
)


def everything_sent(bot: BotHarness) -> str:
    return "\n".join(
        (m.text or "") + (m.caption or "") for m in bot.api.messages.values() if m.from_bot
    )


async def test_add_without_2fa_confirms_with_the_password(bot: BotHarness) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice)
    (ask_exchange,) = await bot.send(alice, "/apikey_add")
    (ask_label,) = await bot.press(alice, ask_exchange, "Binance")
    assert ask_label.plain.startswith("Binance it is")
    assert ask_exchange.buttons == []  # taken off once pressed
    await bot.send(alice, "main")
    await bot.send(alice, KEY)
    (ask_password,) = await bot.send(alice, SECRET)
    assert "confirm with your account password" in ask_password.plain
    (wrong,) = await bot.send(alice, "not my password at all")
    assert "password is not correct" in wrong.plain and bot.last_user_message.deleted
    assert await db_rows(bot, "SELECT id FROM api_keys") == []
    (done,) = await bot.send(alice, PASSWORD)
    assert bot.last_user_message.deleted
    assert f"Binance key main (…{KEY[-4:]}) is saved, encrypted, as #1" in done.plain

    (listing,) = await bot.send(alice, "/apikeys")
    assert f"#1 · Binance · main · …{KEY[-4:]} · added " in listing.plain
    assert KEY[:-4] not in everything_sent(bot) and SECRET not in everything_sent(bot)

    (added,) = [e for e in await events(bot) if e.event_type == EventType.API_KEY_ADDED]
    assert added.details == {
        "key_id": 1,
        "exchange": "binance",
        "label": "main",
        "masked_key": f"…{KEY[-4:]}",
    }
    assert added.account_id == 1 and added.telegram_user_id == 1
    creds = await bot.services.apikeys.credentials(1, 1)
    assert (creds.key, creds.secret, creds.passphrase) == (KEY, SECRET, None)
    assert KEY not in repr(creds)


async def test_add_with_2fa_needs_a_fresh_code_and_okx_needs_a_passphrase(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    totp, _ = await enable_2fa(bot, alice, clock)
    (ask_exchange,) = await bot.send(alice, "/apikey_add")
    await bot.press(alice, ask_exchange, "OKX")
    await bot.send(alice, "okx trading")
    await bot.send(alice, KEY)
    (ask_passphrase,) = await bot.send(alice, SECRET)
    assert "OKX keys have a passphrase" in ask_passphrase.plain
    (ask_code,) = await bot.send(alice, PASSPHRASE)
    assert bot.last_user_message.deleted
    assert "6-digit code from your authenticator app" in ask_code.plain
    (refused,) = await bot.send(alice, PASSWORD)  # the password is not enough with 2FA on
    assert "didn't work" in refused.plain
    clock.advance(seconds=30)
    (done,) = await bot.send(alice, totp.at(clock.now()))
    assert "OKX key okx trading" in done.plain and "#1" in done.plain
    creds = await bot.services.apikeys.credentials(1, 1)
    assert creds.passphrase == PASSPHRASE
    verified = [e for e in await events(bot) if e.event_type == EventType.MFA_VERIFIED]
    assert verified[-1].details["purpose"] == "api_key_add"

    # Deleting asks for a code as well (after the confirmation button).
    (confirm,) = await bot.send(alice, "/apikey_delete 1")
    (ask,) = await bot.press(alice, confirm, "Delete")
    assert "6-digit code" in ask.plain
    assert await db_rows(bot, "SELECT id FROM api_keys") == [(1,)]
    (wrong,) = await bot.send(alice, "000000")
    assert "didn't work" in wrong.plain
    clock.advance(seconds=30)
    (deleted,) = await bot.send(alice, totp.at(clock.now()))
    assert bot.last_user_message.deleted
    assert "OKX key okx trading" in deleted.plain and "was deleted" in deleted.plain
    assert await db_rows(bot, "SELECT id FROM api_keys") == []


async def test_same_exchange_and_label_replaces_the_key(bot: BotHarness) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice)
    await add_key(bot, alice)
    (ask_exchange,) = await bot.send(alice, "/apikey_add")
    await bot.press(alice, ask_exchange, "Binance")
    (ask_key,) = await bot.send(alice, "MAIN")  # labels match case-insensitively
    assert f"You already have a Binance key labelled main (…{KEY[-4:]})" in ask_key.plain
    await bot.send(alice, NEW_KEY)
    await bot.send(alice, NEW_SECRET)
    (done,) = await bot.send(alice, PASSWORD)
    assert f"was replaced; it is now …{NEW_KEY[-4:]} (#1)" in done.plain

    (listing,) = await bot.send(alice, "/apikeys")
    assert listing.plain.count("#") == 1 and "replaced" in listing.plain
    assert f"…{NEW_KEY[-4:]}" in listing.plain and f"…{KEY[-4:]}" not in listing.plain
    creds = await bot.services.apikeys.credentials(1, 1)
    assert (creds.key, creds.secret) == (NEW_KEY, NEW_SECRET)
    kinds = [e.event_type for e in await events(bot) if e.event_type.startswith("API_KEY")]
    assert kinds == ["API_KEY_ADDED", "API_KEY_UPDATED"]
    updated = [e for e in await events(bot) if e.event_type == EventType.API_KEY_UPDATED]
    assert updated[0].details["label"] == "main"  # the stored label, not the case typed
    assert updated[0].details["masked_key"] == f"…{NEW_KEY[-4:]}"

    # The same label on another exchange is another key.
    (done,) = await add_key(bot, alice, exchange="Bybit")
    assert "Bybit key main" in done.plain and "#2" in done.plain


async def test_delete_asks_for_confirmation(bot: BotHarness) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice)
    await add_key(bot, alice)
    (usage,) = await bot.send(alice, "/apikey_delete")
    assert "/apikey_delete ID" in usage.plain
    (confirm,) = await bot.send(alice, "/apikey_delete 1")
    assert f"Delete your Binance key main (…{KEY[-4:]}, #1)?" in confirm.plain
    assert [b.text for b in confirm.buttons] == ["Delete", "Keep it"]
    (kept,) = await bot.press(alice, confirm, "Keep it")
    assert "kept the key" in kept.plain
    assert await db_rows(bot, "SELECT id FROM api_keys") == [(1,)]

    (confirm,) = await bot.send(alice, "/apikey_delete #1")
    (deleted,) = await bot.press(alice, confirm, "Delete")
    assert "was deleted" in deleted.plain and "Revoke it on the exchange" in deleted.plain
    assert await db_rows(bot, "SELECT id FROM api_keys") == []
    (listing,) = await bot.send(alice, "/apikeys")
    assert "no exchange API keys yet" in listing.plain
    (gone,) = [e for e in await events(bot) if e.event_type == EventType.API_KEY_DELETED]
    assert gone.details == {
        "key_id": 1,
        "exchange": "binance",
        "label": "main",
        "masked_key": f"…{KEY[-4:]}",
    }
    # A button of the finished flow no longer does anything.
    await bot.press_data(alice, confirm, "apikey:del:1")
    assert bot.api.callback_answers[-1]["text"].startswith("This button is no longer active")


@pytest.mark.quick_jobs
async def test_the_owners_other_telegram_accounts_are_notified(bot: BotHarness) -> None:
    phone, tablet = bot.user(1), bot.user(2)
    await logged_in(bot, phone)
    assert "You're logged in" in await login(bot, tablet)
    await add_key(bot, phone)
    (confirm,) = await bot.send(phone, "/apikey_delete 1")
    await bot.press(phone, confirm, "Delete")

    def key_notices() -> list[str]:
        return [m.plain for m in bot.api.sent_to(2) if "API key" in m.plain]

    notices = await bot.wait_for(lambda: len(key_notices()) >= 2 and key_notices())
    masked = f"…{KEY[-4:]}"
    assert "was added" in notices[0] and masked in notices[0] and "main" in notices[0]
    assert "was deleted" in notices[1] and masked in notices[1]
    assert KEY not in "".join(notices)


async def test_other_users_keys_are_unreachable_by_id(bot: BotHarness) -> None:
    alice, bob = bot.user(1), bot.user(2)
    await logged_in(bot, alice)
    await add_key(bot, alice)
    await logged_in(bot, bob, BOB_EMAIL, NEW_PASSWORD)
    (listing,) = await bot.send(bob, "/apikeys")
    assert "no exchange API keys yet" in listing.plain

    (theirs,) = await bot.send(bob, "/apikey_delete 1")
    (nothing,) = await bot.send(bob, "/apikey_delete 999")
    assert theirs.plain == "You have no API key with ID 1. See /apikeys."
    assert nothing.plain == "You have no API key with ID 999. See /apikeys."

    # Forged callback data: outside a flow, and inside a delete flow about bob's own key.
    await bot.press_data(bob, listing, "apikey:del:1")
    assert "no longer active" in bot.api.callback_answers[-1]["text"]
    await add_key(bot, bob, confirm=NEW_PASSWORD, key=NEW_KEY, secret=NEW_SECRET)
    (confirm,) = await bot.send(bob, "/apikey_delete 2")
    await bot.press_data(bob, confirm, "apikey:del:1")
    assert "no longer active" in bot.api.callback_answers[-1]["text"]
    assert await db_rows(bot, "SELECT id, account_id FROM api_keys ORDER BY id") == [
        (1, 1),
        (2, 2),
    ]
    # In core too, every read is scoped to the owner.
    with pytest.raises(Refusal) as refused:
        await bot.services.apikeys.credentials(2, 1)
    assert refused.value.reason == ApiKeyNotFound(1)
    assert [k.id for k in await bot.services.apikeys.keys(2)] == [2]


async def test_bad_input_gets_polite_replies_and_writes_nothing(bot: BotHarness) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice)
    (ask_exchange,) = await bot.send(alice, "/apikey_add")
    (pick,) = await bot.send(alice, "kraken")
    assert "choose the exchange with one of the buttons" in pick.plain
    (pick,) = await bot.press_data(alice, ask_exchange, "apikey:ex:evil")
    assert "choose the exchange" in pick.plain
    (ask_label,) = await bot.send(alice, "bybit")  # typing a known exchange works too
    assert "Bybit it is" in ask_label.plain

    (bad,) = await bot.send(alice, "<b>main</b>")
    assert "A label is 1 to 32 characters" in bad.plain and not bot.last_user_message.deleted
    (early_key,) = await bot.send(alice, KEY)  # a key pasted one step early
    assert bot.last_user_message.deleted and "in case it was a key" in early_key.plain
    await bot.send(alice, "  spot   bot ")

    cases = {
        "short": "should be 8 to 512 characters",
        "has a space in it": "without spaces",
        "x" * 513: "should be 8 to 512",
        "ключ-ключ-ключ": "without spaces",
    }
    for text, reason in cases.items():
        (reply,) = await bot.send(alice, text)
        assert reason in reply.plain and "send the API key" not in reply.plain, text
        assert bot.last_user_message.deleted
    (ask_secret,) = await bot.send(alice, f"  {KEY}\n")  # surrounding whitespace is trimmed
    assert "send the API secret" in ask_secret.plain
    (same,) = await bot.send(alice, KEY)
    assert "That is the API key again" in same.plain
    await bot.send(alice, SECRET)
    (cancelled,) = await bot.send(alice, "/cancel")
    assert "Nothing was saved" in cancelled.plain
    assert await db_rows(bot, "SELECT COUNT(*) FROM api_keys") == [(0,)]
    assert not [e for e in await events(bot) if e.event_type.startswith("API_KEY")]

    (not_logged_in,) = await bot.send(bot.user(3), "/apikey_add")
    assert not_logged_in.plain == "Please /login first."


async def test_a_session_that_ended_mid_flow_cannot_finish_it(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice)
    (ask_exchange,) = await bot.send(alice, "/apikey_add")
    await bot.press(alice, ask_exchange, "Binance")
    await bot.send(alice, "main")
    await bot.send(alice, KEY)
    await bot.send(alice, SECRET)
    clock.advance(minutes=31)  # idle timeout of the session
    (reply,) = await bot.send(alice, PASSWORD)
    assert bot.last_user_message.deleted
    assert "This step ended because your session expired" in reply.plain
    assert "/login" in reply.plain and "I deleted your message" in reply.plain
    assert await db_rows(bot, "SELECT COUNT(*) FROM api_keys") == [(0,)]


async def test_the_number_of_keys_is_capped(bot: BotHarness, monkeypatch) -> None:
    monkeypatch.setattr("core.apikeys.service.MAX_KEYS", 1)
    alice = bot.user(1)
    await logged_in(bot, alice)
    await add_key(bot, alice)
    (ask_exchange,) = await bot.send(alice, "/apikey_add")
    await bot.press(alice, ask_exchange, "Binance")
    (full,) = await bot.send(alice, "second")
    assert "already have 1 API keys" in full.plain
    (replace,) = await bot.send(alice, "/apikey_add")
    await bot.press(alice, replace, "Binance")
    (ask_key,) = await bot.send(alice, "main")  # replacing is still fine
    assert "You already have a Binance key" in ask_key.plain
    assert MAX_KEYS == 20


@pytest.mark.sqlite_only(reason="reads the SQLite file and its WAL byte by byte")
async def test_database_files_hold_no_credential_in_plaintext(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = bot.user(1)
    totp, _ = await enable_2fa(bot, alice, clock)
    clock.advance(seconds=30)
    await add_key(
        bot, alice, exchange="KuCoin", passphrase=PASSPHRASE, confirm=totp.at(clock.now())
    )
    clock.advance(seconds=30)
    await add_key(bot, alice, key=NEW_KEY, secret=NEW_SECRET, confirm=totp.at(clock.now()))
    clock.advance(seconds=30)
    # Replace the first key: the replaced credentials must not linger either.
    (done,) = await add_key(
        bot,
        alice,
        exchange="KuCoin",
        key=NEW_KEY[::-1],
        secret=NEW_SECRET[::-1],
        passphrase=PASSPHRASE[::-1],
        confirm=totp.at(clock.now()),
    )
    assert "was replaced" in done.plain
    path: Path = bot.settings.database.path
    files = list(path.parent.glob(path.name + "*"))
    assert {p.name for p in files} >= {path.name, path.name + "-wal"}
    raw = b"".join(p.read_bytes() for p in files)
    for value in (
        KEY,
        SECRET,
        PASSPHRASE,
        NEW_KEY,
        NEW_SECRET,
        NEW_KEY[::-1],
        NEW_SECRET[::-1],
        PASSPHRASE[::-1],
    ):
        assert value.encode() not in raw, value
        assert value[:12].encode() not in raw, value
    rows = await db_rows(bot, "SELECT key_enc, secret_enc, passphrase_enc, key_hint FROM api_keys")
    assert len(rows) == 2 and all(r[0].startswith("gAAAAA") for r in rows)
    assert sorted(r[3] for r in rows) == sorted([NEW_KEY[-4:], NEW_KEY[::-1][-4:]])


async def test_tokens_are_bound_to_account_column_and_row(bot: BotHarness) -> None:
    alice = bot.user(1)
    await logged_in(bot, alice)
    await add_key(bot, alice, label="one")
    await add_key(bot, alice, label="two", key=NEW_KEY, secret=NEW_SECRET)
    apikeys = bot.services.apikeys
    assert (await apikeys.credentials(1, 2)).key == NEW_KEY
    # Row 1's key copied into row 2 (same account, same column): refused.
    await raw_db.execute(
        bot.settings,
        "UPDATE api_keys SET key_enc = (SELECT key_enc FROM api_keys WHERE id = 1) WHERE id = 2",
    )
    # Row 1's secret copied into its own key column: refused.
    await raw_db.execute(bot.settings, "UPDATE api_keys SET key_enc = secret_enc WHERE id = 1")
    for key_id in (1, 2):
        with pytest.raises(DecryptionError, match="does not belong"):
            await apikeys.credentials(1, key_id)


async def test_rotate_key_reencrypts_the_api_key_columns(
    bot: BotHarness, clock: FakeClock, monkeypatch, capsys
) -> None:
    from bot.cli import main

    alice = bot.user(1)
    await logged_in(bot, alice)
    await add_key(bot, alice, exchange="OKX", passphrase=PASSPHRASE)
    before = await db_rows(bot, "SELECT key_enc, secret_enc, passphrase_enc FROM api_keys")
    assert bot.settings.encryption.master_key is not None
    old = bot.settings.encryption.master_key.get()
    new = generate_master_key()
    monkeypatch.setenv("VERZEK_DB", str(bot.settings.database.path))
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", new)
    monkeypatch.setenv("ENCRYPTION_OLD_KEYS", old)
    assert await asyncio.to_thread(main, ["rotate-key"]) == 0
    out = capsys.readouterr()
    for column in ("api_keys.key_enc", "api_keys.secret_enc", "api_keys.passphrase_enc"):
        assert column in out.out + out.err
    [(key_enc, secret_enc, passphrase_enc)] = await db_rows(
        bot, "SELECT key_enc, secret_enc, passphrase_enc FROM api_keys"
    )
    assert (key_enc, secret_enc, passphrase_enc) != before[0]
    only_new = EncryptionService(EncryptionSettings(Secret(new)))
    assert only_new.decrypt(key_enc, owner=1, purpose="apikey.key#1") == KEY
    assert only_new.decrypt(secret_enc, owner=1, purpose="apikey.secret#1") == SECRET
    assert only_new.decrypt(passphrase_enc, owner=1, purpose="apikey.passphrase#1") == PASSPHRASE
