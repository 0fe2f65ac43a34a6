"""Attacker's notebook: get an admin effect without being an admin.

The attacker is as well equipped as a non-admin can be: her own account, a live session, 2FA on
(so she can produce fresh 2FA proofs), and a pending payment of her own she would love to see
approved. The class of trick: find ONE place where the admin check is missing or misreads the
request. Three layers must each hold on their own (SPEC §10):

1. the gate (group -1) refuses admin commands and ``adm:`` buttons to non-admins;
2. every admin handler carries an admin filter of its own (tested with the gate removed);
3. every core operation with an admin effect checks the actor itself
   (:class:`core.authz.AdminRights`), tested by calling core directly.

Variants: whatever follows the command (``/approve. 1``, ``/approve@bot 1``, ``/APPROVE 1``,
``/approve,1``, ``/approve\u200b``), edits, captions, other groups, the admin chat, forged
buttons. Every test asserts what the attacker sees (the neutral "not allowed", or nothing) and
that nothing was written: no approval, no license, no wallet credit, no backup, no restore, no
kill switch.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import CallbackQueryHandler, ConversationHandler, TypeHandler

from bot import texts
from bot.commands import ADMIN_ONLY, USER_COMMANDS
from bot.fake_telegram import BOT_USER, html_to_plain
from core.audit.activity import ActivityService, AuditTarget
from core.audit.alerts import AlertService
from core.audit.stats import StatsService
from core.authz import OPERATOR, Actor, NotAdmin
from core.backups.service import BackupService
from core.clock import FakeClock
from core.payments.service import PaymentService
from core.safety.service import SafetyService
from core.services import Services
from core.withdrawals.service import WithdrawalService
from tests.support.attacker import (
    Equipped,
    all_handlers,
    backup_files,
    changed_tables,
    command_handlers,
    own_pending_payment,
    signed_in_with_2fa,
)
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness, table_rows

pytestmark = [pytest.mark.payments, pytest.mark.roomy_limits]

REFUSED = html_to_plain(texts.NOT_ALLOWED)
UNKNOWN = html_to_plain(texts.UNKNOWN_INPUT)
BOT = str(BOT_USER["username"])
EVE = 4242
# Arguments that would do something if the command were allowed (payment 1 is Eve's own).
ARGS = {
    "approve": "1",
    "reject": "1 fraud",
    "verify": "1",
    "restore": "verzek-20250101T000000Z.tar.gz",
    "killswitch": "on testing the gate",
    "audit": "admin@example.com",
    "complete_withdrawal": "1 " + "ab" * 32,
    "reject_withdrawal": "1 no",
}
# Whatever may follow the command word (Telegram ends the entity before each of these).
TAILS = [" {}", ". {}", ",{}", "\u200b {}", f"@{BOT} {{}}", f"@{BOT.upper()}. {{}}"]
ADMIN_BUTTONS = [
    "adm:audit:a:1:o:999",
    "adm:audit:t:4242:n:1",
    "adm:restore:go",
    "adm:restore:cancel",
]


def forms(name: str) -> list[str]:
    """The command ``name`` dressed up in every way the attacker tries."""
    args = ARGS.get(name, "1")
    return [*(f"/{name}{tail.format(args)}" for tail in TAILS), f"/{name.upper()} {args}"]


@pytest.fixture
async def eve(bot: BotHarness, clock: FakeClock) -> Equipped:
    """The attacker: account, session, 2FA on, and her own pending payment #1."""
    equipped = await signed_in_with_2fa(bot.services, clock, EVE, "eve@example.com")
    await own_pending_payment(bot.services, equipped)
    return equipped


@pytest.fixture
async def admin(bot: BotHarness, clock: FakeClock) -> Equipped:
    """The configured admin, signed in with 2FA on (their trail is what Eve wants to read)."""
    return await signed_in_with_2fa(bot.services, clock, ADMIN_ID, "admin@example.com")


async def nothing_admin_happened(bot: BotHarness, before: dict[str, list[Any]]) -> None:
    """No table but the audit ones changed; no archive; the switch is off; #1 still pending."""
    after = await table_rows(bot.settings)
    assert changed_tables(before, after) == set()
    assert backup_files(bot.services) == []
    assert not (await bot.services.safety.killswitch()).active
    view = await bot.services.payments.view(OPERATOR, 1)
    assert view.payment.status == "pending"
    assert after["licenses"] == [] and after["wallet_entries"] == []


def update(bot: BotHarness, body: dict[str, Any], kind: str = "message") -> Update:
    """An Update as Telegram sends it, bound to the real bot."""
    return Update.de_json({"update_id": 1, kind: body}, bot.app.bot)


def message_from(user_id: int, text: str, chat_id: int | None = None) -> dict[str, Any]:
    chat = (
        {"id": user_id, "type": "private", "first_name": "X"}
        if chat_id is None
        else {"id": chat_id, "type": "supergroup", "title": "G"}
    )
    return {
        "message_id": 1,
        "date": 0,
        "chat": chat,
        "from": {"id": user_id, "is_bot": False, "first_name": "X"},
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
    }


def press_from(user_id: int, data: str) -> dict[str, Any]:
    return {
        "id": "1",
        "from": {"id": user_id, "is_bot": False, "first_name": "X"},
        "chat_instance": "1",
        "data": data,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": user_id, "type": "private", "first_name": "X"},
            "from": BOT_USER,
            "text": "old",
        },
    }


# --- layer 2: every admin handler carries its own filter (the real Application, walked) --------


async def test_every_admin_command_handler_carries_its_own_admin_filter(bot: BotHarness) -> None:
    """Walk every CommandHandler in every group, conversation entry points included."""
    handlers = command_handlers(bot)
    admin_handlers = [h for h in handlers if h.commands & ADMIN_ONLY]
    assert {c for h in admin_handlers for c in h.commands} == ADMIN_ONLY  # none forgotten
    for handler in admin_handlers:
        (name,) = handler.commands
        # PTB matched the command (not None) but the handler's own filter said no (False).
        assert handler.check_update(update(bot, message_from(EVE, f"/{name} 1"))) is False, name
        assert handler.check_update(update(bot, message_from(ADMIN_ID, f"/{name} 1"))), name
    known = {c.name for c in USER_COMMANDS} | ADMIN_ONLY
    unlisted = {c for h in handlers for c in h.commands} - known
    assert unlisted == set(), f"commands the gate's catalogue does not know: {unlisted}"


async def test_every_admin_button_handler_ignores_non_admins(bot: BotHarness) -> None:
    """Walk every CallbackQueryHandler: those for ``adm:`` data answer admins only."""
    taken = set()
    for handler in all_handlers(bot):
        if not isinstance(handler, CallbackQueryHandler) or handler.pattern is None:
            continue
        for data in ADMIN_BUTTONS:
            if handler.check_update(update(bot, press_from(ADMIN_ID, data), "callback_query")):
                taken.add(data)
                eve_press = update(bot, press_from(EVE, data), "callback_query")
                assert not handler.check_update(eve_press), (data, handler.callback.__name__)
    assert taken == set(ADMIN_BUTTONS)  # each admin button has its handler, all filtered


async def test_admin_flow_steps_ignore_non_admins(bot: BotHarness) -> None:
    """The code steps inside /approve, /restore and /killswitch take no text from others."""
    names = {"approve_payment", "restore", "killswitch"}
    flows = [
        h
        for group in bot.app.handlers.values()
        for h in group
        if isinstance(h, ConversationHandler) and h.name in names
    ]
    assert {flow.name for flow in flows} == names
    body = message_from(EVE, "123456")
    del body["entities"]
    for flow in flows:
        for state_handlers in flow.states.values():
            for handler in state_handlers:
                if isinstance(handler, TypeHandler):
                    continue  # the timeout handler: never reached by an update
                assert not handler.check_update(update(bot, body)), flow.name


async def test_with_the_gate_removed_the_handlers_still_refuse(
    bot: BotHarness, eve: Equipped
) -> None:
    """Take the gate out entirely: every admin command and button of Eve's still does nothing."""
    (gate,) = bot.app.handlers[-1]
    bot.app.remove_handler(gate, group=-1)
    user = bot.user(EVE, "Eve")
    before = await table_rows(bot.settings)
    for name in sorted(ADMIN_ONLY):
        for text in forms(name):
            replies = await bot.send(user, text)
            assert [r.plain for r in replies] == [UNKNOWN], repr(text)
    (menu,) = await bot.send(user, "/start")
    for data in ADMIN_BUTTONS:
        await bot.press_data(user, menu, data)
        assert bot.api.callback_answers[-1].get("text") == html_to_plain(texts.STALE_BUTTON)
    await nothing_admin_happened(bot, before)


# --- layer 1 and 2 together: the real bot, every trick ----------------------------------------


async def test_every_admin_command_in_every_disguise_is_refused(
    bot: BotHarness, eve: Equipped, admin: Equipped
) -> None:
    """Private chat: each admin command, each disguise: "not allowed", nothing written."""
    user = bot.user(EVE, "Eve")
    before = await table_rows(bot.settings)
    for name in sorted(ADMIN_ONLY):
        for text in forms(name):
            replies = await bot.send(user, text)
            assert [r.plain for r in replies] == [REFUSED], repr(text)
    await nothing_admin_happened(bot, before)


async def test_edits_captions_and_groups_do_not_help(bot: BotHarness, eve: Equipped) -> None:
    """An edit into /approve. 1, a captioned photo, another group: refused or ignored."""
    user = bot.user(EVE, "Eve")
    await bot.send(user, "hello")
    harmless = bot.last_user_message
    before = await table_rows(bot.settings)
    for name in sorted(ADMIN_ONLY):
        text = f"/{name}. {ARGS.get(name, '1')}"
        assert [r.plain for r in await bot.edit(user, harmless, text)] == [REFUSED], text
        replies = await bot.send(user, None, photo=True, caption=text)
        assert [r.plain for r in replies] == [REFUSED], text
        group = -100_000 - len(name)  # a group of its own: Telegram's 20/minute per group
        replies = await bot.send(user, f"/{name}@{BOT} {ARGS.get(name, '1')}", chat_id=group)
        assert [r.plain for r in replies] == [REFUSED], text
    await nothing_admin_happened(bot, before)


async def test_the_admin_chat_gives_no_rights(bot: BotHarness, eve: Equipped) -> None:
    """Eve in the admin chat (a group): still refused (Telegram: 20 messages/minute there)."""
    user = bot.user(EVE, "Eve")
    before = await table_rows(bot.settings)
    for text in ("/approve. 1", "/pending", f"/backup@{BOT}", "/KILLSWITCH on now"):
        replies = await bot.send(user, text, chat_id=ADMIN_CHAT_ID)
        replies = [r for r in replies if not r.plain.startswith("⚠️ Security alert")]
        assert [r.plain for r in replies] == [REFUSED], text
    await nothing_admin_happened(bot, before)


# --- layer 3: core checks the actor itself -----------------------------------------------------


def core_admin_operations(
    services: Services, eve: Equipped, code: Callable[[], str], proof: Any
) -> dict[str, Callable[[], Awaitable[object]]]:
    """Every core operation with an admin effect, called as Eve (her own session and proof)."""
    me = Actor.of_session(eve.session)
    archive = "verzek-20250101T000000Z.tar.gz"
    return {
        "pending payments": lambda: services.payments.pending(me),
        "payment view": lambda: services.payments.view(me, 1),
        "verify": lambda: services.payments.verify(me, 1),
        "approve": lambda: services.payments.approve_manually(eve.session, proof, 1),
        "reject": lambda: services.payments.reject(eve.session, 1, "mine"),
        "credit": lambda: services.payments.credit_to_wallet(eve.session, proof, 1),
        "payments in review": lambda: services.payments.in_review(me),
        "backup": lambda: services.backups.create(me),
        "backups": lambda: services.backups.list_backups(me),
        "backup verify": lambda: services.backups.verify(me, archive),
        "restore peek": lambda: services.backups.peek(me, archive),
        "restore": lambda: services.backups.restore(me, archive),
        "prune": lambda: services.backups.prune(me),
        "killswitch": lambda: services.safety.set_killswitch(
            eve.session, active=True, reason="mine now", code=code()
        ),
        "alerts": lambda: services.alerts.recent(me),
        "suspicious": lambda: services.alerts.summary(me),
        "audit target": lambda: services.activity.resolve_target(me, "admin@example.com"),
        "audit page": lambda: services.activity.target_page(me, _target(ADMIN_ID)),
        "audit account": lambda: services.activity.account_target(me, 1),
        "audit record": lambda: services.activity.record_admin_view(me, _target(ADMIN_ID)),
        "stats": lambda: services.stats.snapshot(me),
        "withdrawals": lambda: services.withdrawals.pending(me),
        "complete withdrawal": lambda: services.withdrawals.complete(eve.session, 1, "ab" * 32),
        "reject withdrawal": lambda: services.withdrawals.reject(eve.session, 1, "no"),
    }


def _target(telegram_user_id: int) -> AuditTarget:
    return AuditTarget("telegram", telegram_user_id)


async def test_core_refuses_every_admin_operation_to_a_non_admin(
    bot: BotHarness, eve: Equipped, admin: Equipped, clock: FakeClock
) -> None:
    """Called straight, with Eve's live session and a fresh proof from her own 2FA: NotAdmin,
    and nothing written (not even with a backup on disk to restore)."""
    services = bot.services
    await services.backups.create(OPERATOR)  # something real to restore or list
    proof = await services.twofactor.proof_for_action(eve.session, eve.code(clock), "approve")
    operations = core_admin_operations(services, eve, lambda: eve.code(clock), proof)
    before = await table_rows(bot.settings)
    archives = backup_files(services)
    for name, call in operations.items():
        with pytest.raises(NotAdmin):
            await call()
        assert changed_tables(before, await table_rows(bot.settings)) == set(), name
        assert backup_files(services) == archives, name
    assert not (await services.safety.killswitch()).active
    assert (await services.payments.view(OPERATOR, 1)).payment.status == "pending"


async def test_the_same_core_operations_work_for_the_admin(
    bot: BotHarness, eve: Equipped, admin: Equipped, clock: FakeClock
) -> None:
    """The control: the check is not a wall for everyone (read-only operations as the admin)."""
    me = Actor.of_session(admin.session)
    services = bot.services
    assert [v.payment.id for v in await services.payments.pending(me)] == [1]
    assert (await services.stats.snapshot(me)).pending_payments == 1
    assert await services.withdrawals.pending(me) == []
    assert (await services.backups.create(me)).verified
    assert len(await services.backups.list_backups(me)) == 1


# Admin operations by service; whole classes are admin-only, so a method added later is too.
ADMIN_ONLY_SERVICES = (BackupService, StatsService)
ADMIN_METHODS = {
    PaymentService: {"pending", "view", "verify", "approve_manually", "reject"},
    ActivityService: {"target_page", "resolve_target", "record_admin_view", "account_target"},
    AlertService: {"recent", "summary"},
    WithdrawalService: {"pending", "complete", "reject"},
    SafetyService: {"set_killswitch"},
}


def test_admin_operations_cannot_be_called_without_naming_the_actor() -> None:
    """Forgetting is impossible: each admin method's first parameter is a required Actor
    (or the admin's Session), with no default."""
    methods = [
        (cls, name)
        for cls in ADMIN_ONLY_SERVICES
        for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction)
        if not name.startswith("_")
    ] + [(cls, name) for cls, names in ADMIN_METHODS.items() for name in sorted(names)]
    for cls, name in methods:
        first = list(inspect.signature(getattr(cls, name)).parameters.values())[1]
        assert first.annotation in ("Actor", "Session"), (cls.__name__, name)
        assert first.default is inspect.Parameter.empty, (cls.__name__, name)


def test_handlers_can_only_name_the_sender() -> None:
    """No handler module builds the operator or system actor (only the CLI and jobs may)."""
    handlers = Path(__file__).parents[2] / "bot" / "handlers"
    for path in sorted(handlers.glob("*.py")):
        source = path.read_text()
        assert "OPERATOR" not in source and "SYSTEM" not in source, path.name
