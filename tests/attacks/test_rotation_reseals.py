"""A key rotation re-seals users' flows and buttons (SPEC §10: a leaked master key is rotated away).

The threat: the old master key leaked, together with a copy of the disk taken later. The
operator runs ``verzek rotate-key`` and drops the old key. Before, two tables were left out of
the rotation: ``conversation_state`` (where each user is in a flow; a half-done registration
holds the password's hash) and ``button_sheets`` (what the buttons shown on shared instances
stand for). Their rows stayed under the old key: the leaked key still opened them, and once it
was dropped from the configuration a user mid-flow silently lost their place and their buttons
stopped working. Now every row is re-sealed, bound to the same row as before.

Each test has a user mid-flow and another with a live picker, rotates with the real command
while the bot is stopped, then starts both instances with ONLY the new key: the flow goes on
and the button works. What is stored is checked too: no row of either table opens under the
old key alone, every row opens under the new key alone, bound to its own row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.fake_telegram import Message, TelegramUser
from core.clock import FakeClock
from core.config import Settings
from core.crypto import EncryptionService, generate_master_key
from core.errors import DecryptionError
from core.services import Services
from tests.support import raw_db
from tests.support.instances import TwoInstances, two_instances
from tests.support.rotation_steps import fleet_under, only, rotate_key, settings_with_key
from tests.support.steps import PASSWORD, add_key, db_rows, enable_2fa, logged_in, login

ALICE, BOB = 7_700_000_201, 7_700_000_202
ALICE_EMAIL, BOB_EMAIL = "alice@example.com", "bob@example.com"


@pytest.fixture
def new_key() -> str:
    return generate_master_key()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"  # the one the settings fixture wrote


async def sealed_rows(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """Each stored flow row and sheet row as (the owner it is bound to, its token)."""
    flows = await raw_db.rows(settings, "SELECT kind, name, key, sealed FROM conversation_state")
    sheets = await raw_db.rows(settings, "SELECT store, sheet_id, sealed FROM button_sheets")
    return {
        "conversation-state": [
            (json.dumps([kind, name, key], separators=(",", ":")), str(sealed))
            for kind, name, key, sealed in flows
        ],
        "button-sheet": [(f"{store}:{sheet}", str(sealed)) for store, sheet, sealed in sheets],
    }


def opens(crypto: EncryptionService, purpose: str, owner: str, token: str) -> bool:
    try:
        crypto.decrypt(token, owner=owner, purpose=purpose)
    except DecryptionError:
        return False
    return True


async def assert_resealed(settings: Settings, old: str, new: str) -> dict[str, int]:
    """Every flow and sheet row opens under ``new`` alone (bound to its own row) and none
    under ``old`` alone; how many rows of each there are."""
    rows = await sealed_rows(settings)
    for purpose, pairs in rows.items():
        for owner, token in pairs:
            assert not opens(only(old), purpose, owner, token), f"{purpose} {owner}: old key"
            assert opens(only(new), purpose, owner, token), f"{purpose} {owner}: new key"
    return {purpose: len(pairs) for purpose, pairs in rows.items()}


async def bob_with_a_picker(fleet: TwoInstances) -> tuple[TelegramUser, Message]:
    """Bob, logged in with one exchange key, has /apikey_delete's picker on screen."""
    bob = fleet.user(BOB, "Bob")
    await logged_in(fleet.use(0), bob, email=BOB_EMAIL)
    await add_key(fleet, bob, label="main")
    (pick,) = await fleet.send(bob, "/apikey_delete")
    assert pick.buttons
    return bob, pick


async def stopped(services: Services) -> None:
    await services.aclose()  # `verzek rotate-key` runs with the bot stopped


def line_of(out: str, column: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"{column}:"))


async def test_a_half_done_registration_and_a_picker_go_on_under_the_new_key_alone(
    settings: Settings,
    services: Services,
    clock: FakeClock,
    master_key: str,
    new_key: str,
    config: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Alice typed her password twice in /register (the draft holds its hash) and is asked for
    a referral code; Bob has a picker on screen. Rotate, drop the old key, start again: Alice
    skips the code and her account exists with her password; Bob's button works."""
    async with two_instances(settings, services, clock) as fleet:
        bob, pick = await bob_with_a_picker(fleet)
        alice = fleet.user(ALICE, "Alice")
        await fleet.use(0).send(alice, "/register")
        await fleet.send(alice, ALICE_EMAIL)
        await fleet.send(alice, PASSWORD)
        prompt = (await fleet.send(alice, PASSWORD))[-1]  # typed twice
        api = fleet.api
    await stopped(services)
    before = await sealed_rows(settings)

    code, out = await rotate_key(settings, monkeypatch, capsys, new_key, master_key)
    assert code == 0, out
    flows, sheets = len(before["conversation-state"]), len(before["button-sheet"])
    assert flows >= 1 and sheets >= 1
    assert line_of(out, "conversation_state.sealed") == (
        f"conversation_state.sealed: {flows} re-encrypted, 0 already current, 0 undecryptable"
    )
    assert line_of(out, "button_sheets.sealed") == (
        f"button_sheets.sealed: {sheets} re-encrypted, 0 already current, 0 undecryptable"
    )
    counts = await assert_resealed(settings, master_key, new_key)
    assert counts == {"conversation-state": flows, "button-sheet": sheets}

    async with fleet_under(settings_with_key(config, env, new_key), clock, api) as fresh:
        (done,) = await fresh.use(1).press(alice, prompt, "Skip")
        assert f"Your account {ALICE_EMAIL} is ready" in done.plain, done.plain
        assert await db_rows(fresh, "SELECT email FROM users WHERE email = ?", ALICE_EMAIL) == [
            (ALICE_EMAIL,)
        ]
        await fresh.send(alice, "/logout")
        assert "You're logged in" in await login(fresh.use(0), alice, ALICE_EMAIL)
        (confirm,) = await fresh.use(1).press(bob, pick, pick.buttons[0].text)
        assert "Delete your Binance key main" in confirm.plain


async def test_a_second_factor_step_goes_on_under_the_new_key_alone(
    settings: Settings,
    services: Services,
    clock: FakeClock,
    master_key: str,
    new_key: str,
    config: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Variant: Alice (2FA on) gave /login her password and is asked for her code; Bob's
    picker is on screen. After the rotation, under the new key alone, her code logs her in
    (the flow, and the TOTP secret, both re-sealed) and Bob's button works."""
    async with two_instances(settings, services, clock) as fleet:
        alice = fleet.user(ALICE, "Alice")
        totp, _ = await enable_2fa(fleet.use(0), alice, clock)
        await fleet.send(alice, "/logout")
        asked = await login(fleet, alice)
        assert "Two-factor authentication is on for this account" in asked, asked
        bob, pick = await bob_with_a_picker(fleet)
        api = fleet.api
    await stopped(services)

    code, out = await rotate_key(settings, monkeypatch, capsys, new_key, master_key)
    assert code == 0, out
    counts = await assert_resealed(settings, master_key, new_key)
    assert counts["conversation-state"] >= 2 and counts["button-sheet"] >= 1

    clock.advance(seconds=30)
    async with fleet_under(settings_with_key(config, env, new_key), clock, api) as fresh:
        replies = await fresh.use(1).send(alice, totp.at(clock.now()))
        assert fresh.last_user_message.deleted
        assert "You're logged in" in replies[-1].plain, replies[-1].plain
        (confirm,) = await fresh.use(0).press(bob, pick, pick.buttons[0].text)
        assert "Delete your Binance key main" in confirm.plain


async def test_a_row_no_configured_key_opens_is_counted_and_left_as_it_is(
    settings: Settings,
    services: Services,
    clock: FakeClock,
    master_key: str,
    new_key: str,
    config: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Trick (or an old key forgotten): a flow row and a sheet row sealed under a key that is
    not configured. The rotation counts each as undecryptable, exits non-zero and leaves both
    exactly as they were (never destroyed: add the key and run again); every other row is
    re-sealed, and Alice's real flow still goes on under the new key alone."""
    lost = generate_master_key()
    async with two_instances(settings, services, clock) as fleet:
        bob, pick = await bob_with_a_picker(fleet)
        alice = fleet.user(ALICE, "Alice")
        await logged_in(fleet.use(0), alice, email=ALICE_EMAIL)
        await fleet.send(alice, "/password")
        await fleet.send(alice, PASSWORD)  # past the current password's check
        api = fleet.api
    await stopped(services)
    flow_owner = json.dumps(["conversation", "x", "[1, 1]"], separators=(",", ":"))
    planted_flow = only(lost).encrypt("{}", owner=flow_owner, purpose="conversation-state")
    planted_sheet = only(lost).encrypt("{}", owner="pk:lost", purpose="button-sheet")
    await raw_db.execute(
        settings,
        "INSERT INTO conversation_state (kind, name, key, sealed, updated_at, user_id)"
        " VALUES ('conversation', 'x', '[1, 1]', ?, 'x', 1)",
        planted_flow,
    )
    await raw_db.execute(
        settings,
        "INSERT INTO button_sheets (token_hash, store, sheet_id, telegram_user_id, created,"
        " expires_at, sealed) VALUES ('lost', 'pk:', 'lost', 1, 0, '9999', ?)",
        planted_sheet,
    )

    code, out = await rotate_key(settings, monkeypatch, capsys, new_key, master_key)
    assert code != 0
    assert line_of(out, "conversation_state.sealed").endswith("1 undecryptable"), out
    assert line_of(out, "button_sheets.sealed").endswith("1 undecryptable"), out
    kept = "SELECT sealed FROM conversation_state WHERE name = 'x'"
    assert await raw_db.rows(settings, kept) == [(planted_flow,)]
    kept = "SELECT sealed FROM button_sheets WHERE token_hash = 'lost'"
    assert await raw_db.rows(settings, kept) == [(planted_sheet,)]
    await raw_db.execute(settings, "DELETE FROM conversation_state WHERE name = 'x'")
    await raw_db.execute(settings, "DELETE FROM button_sheets WHERE token_hash = 'lost'")
    await assert_resealed(settings, master_key, new_key)

    async with fleet_under(settings_with_key(config, env, new_key), clock, api) as fresh:
        await fresh.use(1).send(alice, "quiet harbour lantern 77 meadow")
        (done,) = await fresh.send(alice, "quiet harbour lantern 77 meadow")  # typed twice
        assert "changed" in done.plain.lower(), done.plain
        (confirm,) = await fresh.use(1).press(bob, pick, pick.buttons[0].text)
        assert "Delete your Binance key main" in confirm.plain


async def test_a_second_rotation_finds_everything_current_and_changes_nothing(
    settings: Settings,
    services: Services,
    clock: FakeClock,
    master_key: str,
    new_key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Running the command again (with or without the old key) re-seals nothing more: every
    row is already under the new key, and stays byte for byte as the first run left it."""
    async with two_instances(settings, services, clock) as fleet:
        await bob_with_a_picker(fleet)
        alice = fleet.user(ALICE, "Alice")
        await fleet.use(1).send(alice, "/register")
        await fleet.send(alice, ALICE_EMAIL)
    await stopped(services)
    code, _ = await rotate_key(settings, monkeypatch, capsys, new_key, master_key)
    assert code == 0
    first = await sealed_rows(settings)
    for old in ((master_key,), ()):
        code, out = await rotate_key(settings, monkeypatch, capsys, new_key, *old)
        assert code == 0, out
        flows, sheets = len(first["conversation-state"]), len(first["button-sheet"])
        assert line_of(out, "conversation_state.sealed") == (
            f"conversation_state.sealed: 0 re-encrypted, {flows} already current, 0 undecryptable"
        )
        assert line_of(out, "button_sheets.sealed") == (
            f"button_sheets.sealed: 0 re-encrypted, {sheets} already current, 0 undecryptable"
        )
        assert await sealed_rows(settings) == first
