"""Conversation state on disk: the attacker can write the database file.

Flows survive a restart because their state is stored (bot/persistence.py). With write access
to the file, an attacker would like that state to be code (pickle), or to be editable: move a
flow past its password step, copy another user's half-finished flow, or bring back one that
timed out. Rows are sealed JSON bound to their place; whatever does not open is dropped, and
the user is told politely. Every test asserts what the user sees and that nothing was written.
"""

from __future__ import annotations

import json
import pickle

from core.clock import FakeClock
from core.config import Settings
from tests.support.harness import BotHarness
from tests.support.secrets_steps import db_execute, restart, stop_restarted
from tests.support.steps import EMAIL, NEW_PASSWORD, PASSWORD, db_rows, login, register

PURPOSE = "conversation-state"


async def _rows(bot: BotHarness, kind: str) -> list[tuple]:
    return await db_rows(
        bot, "SELECT kind, name, key, sealed FROM conversation_state WHERE kind = ?", kind
    )


async def _password_hash(bot: BotHarness) -> str:
    ((value,),) = await db_rows(bot, "SELECT password_hash FROM users")
    return str(value)


async def test_a_password_change_continues_after_a_restart(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Not an attack: the bot restarts between two steps of /password; the next answer
    continues the flow where it was."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/password")
    await bot.send(alice, PASSWORD)
    before = await _password_hash(bot)
    fresh = await restart(bot, settings, clock)
    try:
        await fresh.send(alice, NEW_PASSWORD)
        (done,) = await fresh.send(alice, NEW_PASSWORD)  # typed twice
        assert fresh.last_user_message.deleted
        assert "changed" in done.plain.lower()
        assert await _password_hash(fresh) != before
    finally:
        await stop_restarted(fresh)


async def test_a_login_continues_after_a_restart(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Variant: /login, email, restart, password: logged in."""
    alice = bot.user(1)
    await register(bot, alice)
    await bot.send(alice, "/login")
    await bot.send(alice, EMAIL)
    fresh = await restart(bot, settings, clock)
    try:
        (done,) = await fresh.send(alice, PASSWORD)
        assert "logged in" in done.plain.lower()
        assert await fresh.services.sessions.current(alice.id) is not None
    finally:
        await stop_restarted(fresh)


async def test_stored_state_is_sealed_json_never_pickle(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Trick: read the file for the flow's data (the email, the proof of a fresh password),
    or plant a pickle. The rows show nothing in clear, open only with the master key, and
    hold JSON."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/password")
    await bot.send(alice, PASSWORD)
    await bot.app.update_persistence()
    assert bot.app.persistence is not None
    await bot.app.persistence.flush()
    rows = await _rows(bot, "user_data") + await _rows(bot, "conversation")
    assert rows
    for kind, name, key, sealed in rows:
        assert EMAIL not in sealed and "proof" not in sealed
        owner = json.dumps([kind, name, key], separators=(",", ":"))
        opened = json.loads(bot.services.crypto.decrypt(sealed, owner=owner, purpose=PURPOSE))
        assert set(opened) == {"at", "v"}
    (user_row,) = await _rows(bot, "user_data")
    owner = json.dumps(list(user_row[:3]), separators=(",", ":"))
    text = bot.services.crypto.decrypt(user_row[3], owner=owner, purpose=PURPOSE)
    assert '"ReauthProof"' in text and '"Session"' in text


async def test_a_tampered_row_is_dropped_and_the_flow_ends_politely(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Trick: edit the stored flow (here: a pickle in place of the sealed value, which would
    run code if it were ever unpickled). The row is dropped, the user's next answer is
    deleted with a polite word, and the password stays as it was."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/password")
    await bot.send(alice, PASSWORD)
    before = await _password_hash(bot)
    await bot.stop()
    planted = pickle.dumps({"state": 1}).hex()
    await db_execute(
        bot, "UPDATE conversation_state SET sealed = ? WHERE kind = 'user_data'", planted
    )
    fresh = await restart(bot, settings, clock)
    try:
        (reply,) = await fresh.send(alice, NEW_PASSWORD)
        assert fresh.last_user_message.deleted
        assert "deleted it" in reply.plain and "/password" in reply.plain
        assert await _password_hash(fresh) == before
        await fresh.settle()
        await fresh.app.update_persistence()
        assert fresh.app.persistence is not None
        await fresh.app.persistence.flush()
        sealed = [row[3] for row in await _rows(fresh, "user_data")]
        assert planted not in sealed
    finally:
        await stop_restarted(fresh)


async def test_a_state_copied_from_another_row_does_not_open(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Variant: copy Alice's sealed /password state (past her password check) into a row for
    Bob, who has no account: the copy is bound to Alice's row and does not open."""
    alice, bob = bot.user(1), bot.user(2)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/password")
    await bot.send(alice, PASSWORD)
    await bot.send(bob, "/password")  # not logged in: no flow for Bob
    await bot.stop()
    ((alice_sealed,),) = await db_rows(
        bot, "SELECT sealed FROM conversation_state WHERE kind = 'conversation'"
    )
    await db_execute(
        bot,
        "INSERT INTO conversation_state (kind, name, key, sealed, updated_at)"
        " VALUES ('conversation', 'password', '[2, 2]', ?, 'x')",
        alice_sealed,
    )
    fresh = await restart(bot, settings, clock)
    try:
        (reply,) = await fresh.send(bob, NEW_PASSWORD)
        assert fresh.last_user_message.deleted and "deleted it" in reply.plain
        assert await db_rows(fresh, "SELECT COUNT(*) FROM users") == [(1,)]
    finally:
        await stop_restarted(fresh)


async def test_a_flow_older_than_its_timeout_is_not_brought_back(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Trick: keep the bot down past the 5-minute timeout (PTB keeps no timeout jobs across a
    restart) and answer later: the flow is over, the text is deleted, nothing changes."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/password")
    await bot.send(alice, PASSWORD)
    before = await _password_hash(bot)
    await bot.stop()
    clock.advance(minutes=6)
    fresh = await restart(bot, settings, clock)
    try:
        (reply,) = await fresh.send(alice, NEW_PASSWORD)
        assert fresh.last_user_message.deleted and "/password" in reply.plain
        assert await _password_hash(fresh) == before
    finally:
        await stop_restarted(fresh)


async def test_a_restored_flow_still_times_out(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Variant: restart inside the 5 minutes, answer after them: answered as a timeout."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    await bot.send(alice, "/password")
    await bot.send(alice, PASSWORD)
    before = await _password_hash(bot)
    fresh = await restart(bot, settings, clock)
    try:
        clock.advance(minutes=6)
        replies = await fresh.send(alice, NEW_PASSWORD)
        assert fresh.last_user_message.deleted
        assert "longer than 5 minutes" in replies[0].plain
        assert await _password_hash(fresh) == before
    finally:
        await stop_restarted(fresh)


async def test_api_credentials_never_reach_the_disk(
    bot: BotHarness, settings: Settings, clock: FakeClock
) -> None:
    """Trick: read the file for an API key typed into a half-finished /apikey_add. The
    credentials stay in memory (not even sealed on disk); after a restart that flow is gone
    and the next text (the secret) is deleted."""
    alice = bot.user(1)
    await register(bot, alice)
    await login(bot, alice)
    (ask,) = await bot.send(alice, "/apikey_add")
    await bot.press(alice, ask, ask.buttons[0].text)
    await bot.send(alice, "main")
    key = "AKIAKEYVALUE1234567890abcdefghijklmnop"
    await bot.send(alice, key)
    await bot.app.update_persistence()
    assert bot.app.persistence is not None
    await bot.app.persistence.flush()
    for kind, name, row_key, sealed in await _rows(bot, "user_data"):
        owner = json.dumps([kind, name, row_key], separators=(",", ":"))
        text = bot.services.crypto.decrypt(sealed, owner=owner, purpose=PURPOSE)
        assert key not in text and "apikey_add" in json.loads(text)["v"]["unsaved"]
    fresh = await restart(bot, settings, clock)
    try:
        (reply,) = await fresh.send(alice, "the-api-secret-value-0987654321")
        assert fresh.last_user_message.deleted and "/apikey_add" in reply.plain
        assert await db_rows(fresh, "SELECT * FROM api_keys") == []
    finally:
        await stop_restarted(fresh)
