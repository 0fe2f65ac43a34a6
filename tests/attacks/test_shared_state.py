"""State shared by instances (SPEC §13): the attacker can write the database both read.

With several instances, a user's flow state and what their buttons stand for are read from
the database on every turn (bot/user_turns.py), not only at start-up: whatever an attacker
plants there is met by a running bot, on whichever instance the user's next update lands.
Conversation rows are sealed and bound to their row; button sheets are sealed, bound to
their store and sheet, found by a token's hash (the token is never stored) and trusted only
when the pressed token is one of the sheet's own. Every test asserts what the user sees and
that nothing was written.
"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator

import pytest

from bot import texts
from bot.button_sheets import token_hash
from bot.fake_telegram import TelegramUser
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.support import raw_db
from tests.support.attacker import changed_tables
from tests.support.harness import table_rows
from tests.support.instances import TwoInstances, two_instances
from tests.support.steps import NEW_PASSWORD, PASSWORD, add_key, db_rows, logged_in, login

ALICE, MALLORY = 7_700_000_001, 7_700_000_002


@pytest.fixture
async def fleet(
    settings: Settings, services: Services, clock: FakeClock
) -> AsyncIterator[TwoInstances]:
    async with two_instances(settings, services, clock) as both:
        yield both


async def password_hash(fleet: TwoInstances) -> str:
    ((value,),) = await db_rows(fleet, "SELECT password_hash FROM users WHERE id = 1")
    return str(value)


def answer(fleet: TwoInstances) -> str:
    return str(fleet.api.callback_answers[-1].get("text", ""))


async def mid_password_change(fleet: TwoInstances, user: TelegramUser) -> str:
    """/password on instance 0, past the current password's check; the hash before."""
    await logged_in(fleet.use(0), user)
    await fleet.send(user, "/password")
    await fleet.send(user, PASSWORD)
    return await password_hash(fleet)


# --- conversation state ----------------------------------------------------------------------


async def test_a_planted_pickle_is_met_by_the_other_instance_and_dropped(
    fleet: TwoInstances,
) -> None:
    """Trick: while Alice is inside /password, replace her stored flow data with a pickle
    (code, if it were ever unpickled); her next answer lands on the other instance."""
    alice = fleet.user(ALICE, "Alice")
    before = await mid_password_change(fleet, alice)
    planted = pickle.dumps({"state": 1}).hex()
    await raw_db.execute(
        fleet.settings,
        "UPDATE conversation_state SET sealed = ? WHERE kind = 'user_data' AND user_id = ?",
        planted,
        ALICE,
    )
    (reply,) = await fleet.use(1).send(alice, NEW_PASSWORD)
    assert fleet.last_user_message.deleted
    assert "deleted it" in reply.plain and "/password" in reply.plain
    assert await password_hash(fleet) == before
    sealed = [str(r[0]) for r in await db_rows(fleet, "SELECT sealed FROM conversation_state")]
    assert planted not in sealed


async def test_a_flow_copied_onto_another_user_does_not_open_on_any_instance(
    fleet: TwoInstances,
) -> None:
    """Variant: copy Alice's sealed /password state (past her password check) into a row for
    Mallory (her key, her user id): bound to Alice's row, it does not open."""
    alice, mallory = fleet.user(ALICE, "Alice"), fleet.user(MALLORY, "Mallory")
    before = await mid_password_change(fleet, alice)
    ((sealed,),) = await db_rows(
        fleet, "SELECT sealed FROM conversation_state WHERE kind = 'conversation'"
    )
    await raw_db.execute(
        fleet.settings,
        "INSERT INTO conversation_state (kind, name, key, sealed, updated_at, user_id)"
        " VALUES ('conversation', 'password', ?, ?, 'x', ?)",
        f"[{MALLORY}, {MALLORY}]",
        sealed,
        MALLORY,
    )
    (reply,) = await fleet.use(1).send(mallory, NEW_PASSWORD)
    assert fleet.last_user_message.deleted and "deleted it" in reply.plain
    assert await password_hash(fleet) == before
    assert await db_rows(fleet, "SELECT COUNT(*) FROM users") == [(1,)]


async def test_a_flow_continued_elsewhere_after_its_timeout_is_over(
    fleet: TwoInstances, clock: FakeClock
) -> None:
    """Trick: answer the step on the other instance after the 5 minutes (that instance never
    scheduled the flow's timeout): the flow is not brought back, the text is deleted with a
    word on how to start again, nothing changed."""
    alice = fleet.user(ALICE, "Alice")
    before = await mid_password_change(fleet, alice)
    clock.advance(minutes=6)
    (reply,) = await fleet.use(1).send(alice, NEW_PASSWORD)
    assert fleet.last_user_message.deleted and "/password" in reply.plain
    assert await password_hash(fleet) == before


# --- button sheets ---------------------------------------------------------------------------


@pytest.fixture
async def alice(fleet: TwoInstances) -> TelegramUser:
    user = fleet.user(ALICE, "Alice")
    await logged_in(fleet.use(0), user, email="alice@example.com")
    await add_key(fleet, user, label="main")
    return user


@pytest.fixture
async def mallory(fleet: TwoInstances) -> TelegramUser:
    user = fleet.user(MALLORY, "Mallory")
    await logged_in(fleet.use(1), user, email="mallory@example.com")
    assert "You're logged in" in await login(fleet, user, "mallory@example.com")
    return user


async def test_a_sheet_handed_to_another_user_in_its_column_stays_the_owners(
    fleet: TwoInstances, alice: TelegramUser, mallory: TelegramUser
) -> None:
    """Trick: rewrite the sheet's telegram_user_id column to Mallory's and press Alice's
    token from Mallory's chat on the other instance: who may press comes from the sealed
    sheet, not the column."""
    (pick,) = await fleet.use(0).send(alice, "/apikey_delete")
    data = pick.buttons[0].callback_data or ""
    await raw_db.execute(fleet.settings, "UPDATE button_sheets SET telegram_user_id = ?", MALLORY)
    own = fleet.api.user_sends(mallory, "hi")
    fleet.api.pending_updates.clear()
    before = await table_rows(fleet.settings)
    assert await fleet.use(1).press_data(mallory, own, data) == []
    assert answer(fleet) == texts.PICKER_NOT_YOURS
    assert changed_tables(before, await table_rows(fleet.settings)) == set()
    assert "Delete your Binance key" not in " ".join(m.plain for m in fleet.api.sent_to(MALLORY))


async def test_a_token_of_the_attackers_choosing_planted_on_a_sheet_stands_for_nothing(
    fleet: TwoInstances, alice: TelegramUser
) -> None:
    """Trick: add a row for a token Alice never saw (its hash, with her sheet's id and sealed
    sheet copied) and press it: the sheet does not hold that token, so it is refused."""
    (pick,) = await fleet.use(0).send(alice, "/apikey_delete")
    real = (pick.buttons[0].callback_data or "").removeprefix("pk:")
    chosen = "A" * 12
    ((sheet_id, created, expires, sealed),) = await db_rows(
        fleet,
        "SELECT sheet_id, created, expires_at, sealed FROM button_sheets WHERE token_hash = ?",
        token_hash(real),
    )
    await raw_db.execute(
        fleet.settings,
        "INSERT INTO button_sheets (token_hash, store, sheet_id, telegram_user_id, created,"
        " expires_at, sealed) VALUES (?, 'pk:', ?, ?, ?, ?, ?)",
        token_hash(chosen),
        sheet_id,
        ALICE,
        created,
        expires,
        sealed,
    )
    before = await table_rows(fleet.settings)
    assert await fleet.use(1).press_data(alice, pick, "pk:" + chosen) == []
    assert answer(fleet) == texts.PICKER_EXPIRED
    assert changed_tables(before, await table_rows(fleet.settings)) == set()
    (confirm,) = await fleet.use(1).press(alice, pick, pick.buttons[0].text)  # the real one
    assert "Delete your Binance key main" in confirm.plain


async def test_a_sheet_sealed_for_another_sheet_does_not_open(
    fleet: TwoInstances, alice: TelegramUser
) -> None:
    """Variant: put another sheet's sealed value on this sheet's rows: bound to its own
    sheet, it does not open here, and the press is refused."""
    (first,) = await fleet.use(0).send(alice, "/apikey_delete")
    (second,) = await fleet.use(0).send(alice, "/apikey_delete")
    token = (first.buttons[0].callback_data or "").removeprefix("pk:")
    await raw_db.execute(
        fleet.settings,
        "UPDATE button_sheets SET sealed = (SELECT sealed FROM button_sheets"
        " WHERE sheet_id != (SELECT sheet_id FROM button_sheets WHERE token_hash = ?)"
        " LIMIT 1) WHERE token_hash = ?",
        token_hash(token),
        token_hash(token),
    )
    before = await table_rows(fleet.settings)
    assert await fleet.use(1).press(alice, first, first.buttons[0].text) == []
    assert answer(fleet) == texts.PICKER_EXPIRED
    assert changed_tables(before, await table_rows(fleet.settings)) == set()
    (confirm,) = await fleet.use(1).press(alice, second, second.buttons[0].text)
    assert "Delete your Binance key main" in confirm.plain
