"""One truth across instances (SPEC §13, issue 21): two bot instances on one database, and a
user whose updates land on either of them, step by step.

Each instance has its own Application and Services (its own memory); they share the
database and a per-user lock (:class:`core.user_locks.InProcessUserLocks` with
``shared=True``, what the PostgreSQL advisory locks give a real fleet). Every update is
handled as a turn of its user (bot/user_turns.py): state read under the lock, written before
it is released. The harness flushes nothing itself (tests/support/instances.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.ext import ConversationHandler

from bot import texts
from bot.fake_telegram import TelegramUser
from core.audit.log import AuditEvent, EventType
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from core.user_locks import InProcessUserLocks
from tests.support.attacker import changed_tables
from tests.support.harness import table_rows
from tests.support.instances import TwoInstances, two_instances
from tests.support.steps import EMAIL, PASSWORD, add_key, db_rows, logged_in

ALICE = 7_400_000_001


@pytest.fixture
async def fleet(
    settings: Settings, services: Services, clock: FakeClock
) -> AsyncIterator[TwoInstances]:
    async with two_instances(settings, services, clock) as both:
        yield both


def flow(fleet: TwoInstances, instance: int, name: str) -> ConversationHandler[Any]:
    """The persistent conversation ``name`` of one instance."""
    for group in fleet.apps[instance].handlers.values():
        for handler in group:
            if isinstance(handler, ConversationHandler) and handler.name == name:
                return handler
    raise AssertionError(f"no flow {name}")


def answer(fleet: TwoInstances) -> str:
    return str(fleet.api.callback_answers[-1].get("text", ""))


async def test_each_step_of_a_flow_on_the_other_instance(fleet: TwoInstances) -> None:
    alice = fleet.user(ALICE, "Alice")
    for n, text in enumerate(["/register", EMAIL, PASSWORD]):
        await fleet.use(n % 2).send(alice, text)
    (prompt,) = await fleet.use(1).send(alice, PASSWORD)  # typed twice: the same, elsewhere
    assert "referral code" in prompt.plain
    (done,) = await fleet.use(0).press(alice, prompt, "Skip")  # a button shown by instance 1
    assert "account" in done.plain.lower()
    await fleet.use(1).send(alice, "/login")
    await fleet.use(0).send(alice, EMAIL)
    (welcome,) = await fleet.use(1).send(alice, PASSWORD)
    assert "You're logged in" in welcome.plain
    (me,) = await fleet.use(0).send(alice, "/me")
    assert EMAIL in me.plain


async def test_without_shared_turns_the_other_instance_knows_nothing(
    fleet: TwoInstances,
) -> None:
    """The control: what the turns fix (each instance alone owns what it holds in memory)."""
    for services in fleet.all_services:
        services.user_locks = InProcessUserLocks(shared=False)
    alice = fleet.user(ALICE, "Alice")
    await fleet.use(0).send(alice, "/register")
    (reply,) = await fleet.use(1).send(alice, EMAIL)
    assert "Step 2 of 3" not in reply.plain


async def test_a_flow_cancelled_elsewhere_is_over_here(fleet: TwoInstances) -> None:
    alice = fleet.user(ALICE, "Alice")
    await fleet.use(0).send(alice, "/register")
    await fleet.use(1).send(alice, "/cancel")
    (reply,) = await fleet.use(0).send(alice, EMAIL)  # no longer an answer to step 1
    assert "Step 2 of 3" not in reply.plain
    assert not [k for k in flow(fleet, 0, "register")._conversations if k[-1] == ALICE]


async def test_a_timeout_here_does_not_end_the_flow_continued_elsewhere(
    fleet: TwoInstances,
) -> None:
    alice = fleet.user(ALICE, "Alice")
    await fleet.use(0).send(alice, "/register")
    (key,) = flow(fleet, 0, "register").timeout_jobs  # instance 0 would time the flow out
    timeout = flow(fleet, 0, "register").timeout_jobs[key]
    await fleet.use(1).send(alice, EMAIL)  # ... but the user went on elsewhere
    before = len(fleet.api.sent_to(ALICE))
    await timeout.run(fleet.apps[0])  # its 5 minutes are up
    assert fleet.api.sent_to(ALICE)[before:] == []  # no "timed out" told
    (reply,) = await fleet.use(0).send(alice, PASSWORD)  # the flow is where instance 1 left it
    assert "send the same password once more" in reply.plain


async def test_a_timeout_of_a_flow_still_here_ends_it_everywhere(fleet: TwoInstances) -> None:
    alice = fleet.user(ALICE, "Alice")
    await fleet.use(0).send(alice, "/register")
    await fleet.use(1).send(alice, EMAIL)
    (key,) = flow(fleet, 1, "register").timeout_jobs
    before = len(fleet.api.sent_to(ALICE))
    await flow(fleet, 1, "register").timeout_jobs[key].run(fleet.apps[1])
    told = [m.plain for m in fleet.api.sent_to(ALICE)[before:]]
    assert any("/register" in text for text in told), told
    (reply,) = await fleet.use(0).send(alice, PASSWORD)  # not read as a step on instance 0
    assert "send the same password once more" not in reply.plain


# --- buttons: a token shown by one instance, pressed on the other ---------------------------


@pytest.fixture
async def alice(fleet: TwoInstances) -> TelegramUser:
    user = fleet.user(ALICE, "Alice")
    await logged_in(fleet.use(0), user, email="alice@example.com")
    await add_key(fleet, user, label="main")
    return user


async def test_a_picker_shown_here_is_pressed_there(fleet: TwoInstances, alice) -> None:
    (pick,) = await fleet.use(0).send(alice, "/apikey_delete")
    (confirm,) = await fleet.use(1).press(alice, pick, pick.buttons[0].text)
    assert "Delete your Binance key main" in confirm.plain


async def test_a_double_press_on_two_instances_decides_once(fleet: TwoInstances, alice) -> None:
    (pick,) = await fleet.use(0).send(alice, "/apikey_delete")
    data = pick.buttons[0].callback_data or ""
    (confirm,) = await fleet.use(1).press_data(alice, pick, data)
    assert "Delete your Binance key main" in confirm.plain
    before = await table_rows(fleet.settings)
    # instance 0 still holds the sheet in its memory: the database overrules it
    assert await fleet.use(0).press_data(alice, pick, data) == []
    assert answer(fleet) == texts.PICKER_EXPIRED
    assert changed_tables(before, await table_rows(fleet.settings)) == set()


async def test_a_double_press_reaching_both_instances_at_once_decides_once(
    fleet: TwoInstances, alice
) -> None:
    """The two presses arrive together, one at each instance: the user's lock makes one wait
    for the other's turn, which used the sheet up (without the lock both confirm)."""
    (pick,) = await fleet.use(0).send(alice, "/apikey_delete")
    data = pick.buttons[0].callback_data or ""
    before = len(fleet.api.sent_to(ALICE))
    answered = len(fleet.api.callback_answers)
    for _ in range(2):
        fleet.api.user_presses(alice, pick, data)
    await fleet.spread()
    sent = [m.plain for m in fleet.api.sent_to(ALICE)[before:]]
    assert len([t for t in sent if "Delete your Binance key main" in t]) == 1, sent
    answers = [str(a.get("text", "")) for a in fleet.api.callback_answers[answered:]]
    assert answers.count(texts.PICKER_EXPIRED) == 1, answers


async def test_another_account_pressing_on_the_other_instance(fleet: TwoInstances, alice) -> None:
    (pick,) = await fleet.use(0).send(alice, "/apikey_delete")
    mallory = fleet.user(ALICE + 1, "Mallory")
    await logged_in(fleet.use(1), mallory, email="mallory@example.com")
    data = pick.buttons[0].callback_data or ""
    own = fleet.api.user_sends(mallory, "hi")  # her own chat: the data replayed there
    fleet.api.pending_updates.clear()
    before = await table_rows(fleet.settings)
    assert await fleet.use(1).press_data(mallory, own, data) == []
    assert answer(fleet) == texts.PICKER_NOT_YOURS
    assert changed_tables(before, await table_rows(fleet.settings)) == set()
    (confirm,) = await fleet.use(1).press(alice, pick, pick.buttons[0].text)  # still hers
    assert "Delete your Binance key main" in confirm.plain


async def test_stored_sheets_hold_no_token_and_are_sealed(fleet: TwoInstances, alice) -> None:
    (pick,) = await fleet.use(0).send(alice, "/apikey_delete")
    rows = await db_rows(fleet, "SELECT token_hash, sealed FROM button_sheets")
    tokens = [(b.callback_data or "").removeprefix("pk:") for b in pick.buttons]
    assert rows and all(token not in str(row) for row in rows for token in tokens)
    assert all("main" not in str(row) and "apikey_delete" not in str(row) for row in rows)


async def test_an_activity_page_shown_here_turns_there(fleet: TwoInstances, alice) -> None:
    session = await fleet.services.sessions.current(ALICE)
    assert session is not None
    for i in range(15):
        await fleet.services.audit.record(
            AuditEvent(
                EventType.SETTINGS_CHANGED,
                account_id=session.account_id,
                telegram_user_id=ALICE,
                details={"change": f"setting {i}"},
            )
        )
    (page,) = await fleet.use(0).send(alice, "/activity")
    older = page.buttons[0].callback_data or ""
    assert older.startswith("act:")
    await fleet.use(1).press_data(alice, page, older)  # the page turns in place
    assert answer(fleet) == ""
    assert page.edits == 1 and page.plain != ""
    assert await fleet.use(0).press_data(alice, page, older) == []  # replaced: stale now
    assert answer(fleet) == texts.STALE_BUTTON
