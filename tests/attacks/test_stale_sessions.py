"""Stale sessions: finishing a flow that began in a session which has ended since.

The attacker has the victim's unlocked phone for a minute. They start something sensitive
(/password, /email, /apikey_add, /withdraw, /2fa_disable, /backup_codes), get as far as the
last step, and leave it pending, or come back to it later. Meanwhile the victim logs out, or
changes the password from their laptop, or the session runs out, or an admin restores a
backup. Whatever the attacker sends to the last step must end the flow with the reason, and
nothing may be written. The same holds for a login whose password was checked before the
owner changed it, or too long ago.

Defence (core/accounts/sessions.py): every committing final step calls ``require_live`` in the
transaction that writes, against the session the flow began in and a random per-account
security stamp that password/email/2FA changes, logouts and restores replace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from core.accounts.sessions import EndReason, FlowEnded
from core.authz import OPERATOR, Actor
from core.clock import FakeClock
from core.money import MICRO
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.sessions_steps import (
    ADDRESS,
    ATTACKER,
    EMAIL,
    ENDED,
    Victim,
    credit,
    enrol,
    login,
    make_victim,
    register,
)
from tests.support.steps import NEW_PASSWORD, PASSWORD, db_rows

Step = Callable[[BotHarness, Victim, FakeClock], Awaitable[Any]]


@dataclass(frozen=True)
class Flow:
    """A sensitive flow: how to reach its last step, answer it, and read what it writes."""

    begin: Step
    final: Callable[[BotHarness, Victim, FakeClock], Awaitable[str]]
    written: Callable[[BotHarness, Victim], Awaitable[Any]]


async def _final_text(bot: BotHarness, victim: Victim, text: str) -> str:
    """The bot's answer to the final step. The outbox job may deliver the restore notice to the
    same chat meanwhile (its tick is not ordered with the step), so that notice is skipped."""
    replies = await bot.send(victim.phone, text)
    answers = [r.plain for r in replies if "An admin restored the Verzek database" not in r.plain]
    return answers[-1] if answers else replies[-1].plain


async def _begin_password(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    await bot.send(victim.phone, "/password")
    await bot.send(victim.phone, PASSWORD)
    await bot.send(victim.phone, "attacker chose this 31 zebra")  # the final step types it again


async def _begin_email(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    await bot.send(victim.phone, "/email")
    await bot.send(victim.phone, PASSWORD)


async def _begin_apikey(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    (ask,) = await bot.send(victim.phone, "/apikey_add")
    await bot.press(victim.phone, ask, "Binance")
    await bot.send(victim.phone, "main")
    await bot.send(victim.phone, "A" * 64)
    (ask_code,) = await bot.send(victim.phone, "B" * 64)
    assert "code" in ask_code.plain


async def _begin_withdraw(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    await credit(bot, victim.account_id, 50 * MICRO)
    (ask,) = await bot.send(victim.phone, f"/withdraw 10 {ADDRESS}")
    assert "Send the 6-digit code" in ask.plain, ask.plain


async def _begin_disable(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    await bot.send(victim.phone, "/2fa_disable")
    await bot.send(victim.phone, PASSWORD)


async def _begin_codes(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    (ask,) = await bot.send(victim.phone, "/backup_codes")
    assert "code" in ask.plain


async def _answer_code(bot: BotHarness, victim: Victim, clock: FakeClock) -> str:
    return await _final_text(bot, victim, victim.code(clock))


async def _users(bot: BotHarness, victim: Victim) -> Any:
    return await db_rows(bot, "SELECT email, password_hash FROM users")


FLOWS = {
    "/password": Flow(
        _begin_password,
        lambda bot, victim, clock: _final_text(bot, victim, "attacker chose this 31 zebra"),
        _users,
    ),
    "/email": Flow(
        _begin_email,
        lambda bot, victim, clock: _final_text(bot, victim, "attacker@evil.example"),
        _users,
    ),
    "/apikey_add": Flow(
        _begin_apikey,
        _answer_code,
        lambda bot, victim: db_rows(bot, "SELECT * FROM api_keys"),
    ),
    "/withdraw": Flow(
        _begin_withdraw,
        _answer_code,
        lambda bot, victim: db_rows(
            bot,
            "SELECT (SELECT count(*) FROM withdrawals), (SELECT count(*) FROM wallet_entries)",
        ),
    ),
    "/2fa_disable": Flow(
        _begin_disable,
        _answer_code,
        lambda bot, victim: db_rows(bot, "SELECT account_id, enabled_at FROM mfa"),
    ),
    "/backup_codes": Flow(
        _begin_codes,
        _answer_code,
        lambda bot, victim: db_rows(bot, "SELECT id, code_hash, used_at FROM backup_codes"),
    ),
}


async def _logs_out_on_laptop(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    (done,) = await bot.send(victim.laptop, "/logout")
    assert "logged out" in done.plain.lower()


async def _logs_out_on_the_phone(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    """The victim gets the phone back and logs out; the attacker's step is still pending
    in that chat when they pick the phone up again."""
    (done,) = await bot.send(victim.phone, "/logout")
    assert "logged out" in done.plain.lower()


async def _changes_password_on_laptop(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    await bot.send(victim.laptop, "/password")
    await bot.send(victim.laptop, PASSWORD)
    await bot.send(victim.laptop, NEW_PASSWORD)
    (done,) = await bot.send(victim.laptop, NEW_PASSWORD)  # typed twice
    assert "changed" in done.plain


async def _session_idles_out(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    clock.advance(minutes=31)


async def _admin_restores(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    backup = await bot.services.backups.create(OPERATOR)
    await bot.services.backups.restore(OPERATOR, backup.name)


# event -> (what happens, the reason the attacker is told, whether the phone's session ended)
EVENTS: dict[str, tuple[Step, str, bool]] = {
    "victim logs out on the laptop": (_logs_out_on_laptop, "you logged out", False),
    "victim logs out on the phone itself": (_logs_out_on_the_phone, "you logged out", True),
    "victim changes the password on the laptop": (
        _changes_password_on_laptop,
        "the account's password was changed",
        True,
    ),
    "the session idles out": (_session_idles_out, "your session expired", True),
    "an admin restores a backup": (_admin_restores, "restored from a backup", True),
}


@pytest.mark.parametrize("event", list(EVENTS))
@pytest.mark.parametrize("flow", list(FLOWS))
async def test_the_last_step_of_a_flow_from_an_ended_session_writes_nothing(
    bot: BotHarness, clock: FakeClock, flow: str, event: str
) -> None:
    """Start a sensitive flow on the unlocked phone, let the victim end things elsewhere,
    then answer the last step: a clear reason, the answer deleted, nothing written."""
    victim = await make_victim(bot, clock)
    spec = FLOWS[flow]
    await spec.begin(bot, victim, clock)
    happen, reason, session_ended = EVENTS[event]
    await happen(bot, victim, clock)
    before = await spec.written(bot, victim)

    reply = await spec.final(bot, victim, clock)

    assert ENDED in reply and reason in reply, reply
    assert f"Start again with {flow}" in reply
    assert ("Log in again with /login" in reply) is session_ended
    assert "nothing was changed" in reply
    assert await spec.written(bot, victim) == before
    assert bot.last_user_message.deleted  # the answer may have been a secret
    assert flow.strip("/") not in (bot.app.user_data.get(victim.phone.id) or {})


async def test_a_password_change_in_the_same_session_ends_its_other_pending_flows(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Proof from before a security change: /email confirmed with the password, then
    /password changed in the same session; the old /email proof no longer counts."""
    victim = await make_victim(bot, clock)
    await bot.send(victim.phone, "/email")
    await bot.send(victim.phone, PASSWORD)
    services = bot.services
    session = await services.sessions.current(victim.phone.id)
    assert session is not None
    email_flow = bot.app.user_data[victim.phone.id]["email"]
    await services.accounts.change_password(
        session, await services.accounts.reauthenticate(session, PASSWORD), NEW_PASSWORD
    )
    with pytest.raises(FlowEnded) as ended:
        await services.accounts.change_email(
            email_flow.session, email_flow.proof, "attacker@evil.example"
        )
    assert ended.value.reason is EndReason.PASSWORD_CHANGED
    assert await db_rows(bot, "SELECT email FROM users") == [(EMAIL,)]


async def test_a_proof_older_than_the_flow_timeout_is_refused(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The attacker confirms /email with the password, waits 6 minutes (keeping the session
    awake), then sends the new address: the proof is stale."""
    victim = await make_victim(bot, clock)
    await bot.send(victim.phone, "/email")
    await bot.send(victim.phone, PASSWORD)
    clock.advance(minutes=6)
    (reply,) = await bot.send(victim.phone, "attacker@evil.example")
    assert ENDED in reply.plain and "more than 5 minutes ago" in reply.plain
    assert await db_rows(bot, "SELECT email FROM users") == [(EMAIL,)]


async def test_a_session_past_its_absolute_end_cannot_finish_a_flow(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Kept awake by activity every 25 minutes, the session still ends after 12 hours; a
    password-change proof made in it is worthless then."""
    victim = await make_victim(bot, clock)
    services = bot.services
    session = await services.sessions.current(victim.phone.id)
    assert session is not None
    for _ in range(29):  # 29 × 25 min > 12 h
        clock.advance(minutes=25)
        await services.sessions.current(victim.phone.id)
    proof = await services.accounts.reauthenticate(session, PASSWORD)
    with pytest.raises(FlowEnded) as ended:
        await services.accounts.change_password(session, proof, NEW_PASSWORD)
    assert ended.value.reason is EndReason.EXPIRED
    [(hash_after,)] = await db_rows(bot, "SELECT password_hash FROM users")
    assert await services.accounts.passwords.verify(hash_after, PASSWORD)


# --- login attempts ------------------------------------------------------------------------


async def _attacker_reaches_code_step(bot: BotHarness) -> None:
    reply = await login(bot, bot.user(ATTACKER, "Attacker"))
    assert "Two-factor" in reply


async def _attacker_sessions(bot: BotHarness) -> list[tuple[Any, ...]]:
    return await db_rows(
        bot, "SELECT id FROM sessions WHERE telegram_user_id = ? AND ended_at IS NULL", ATTACKER
    )


async def test_a_login_whose_password_was_checked_before_a_password_change_cannot_finish(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Stolen password, checked; the owner changes it on the laptop; the attacker then sends
    a valid (phished) code: refused before the code is even looked at, no session."""
    victim = await make_victim(bot, clock)
    await _attacker_reaches_code_step(bot)
    await _changes_password_on_laptop(bot, victim, clock)
    code = victim.code(clock)
    (reply,) = await bot.send(bot.user(ATTACKER), code)
    assert ENDED in reply.plain and "password was changed" in reply.plain
    assert "Start again with /login" in reply.plain
    assert await _attacker_sessions(bot) == []
    # The phished code was never looked at, so it is still unused: the victim's own login
    # with the new password may use it.
    await login(bot, victim.phone, password=NEW_PASSWORD)
    (ok,) = await bot.send(victim.phone, code)
    assert "You're logged in" in ok.plain


async def test_a_login_whose_password_was_checked_six_minutes_ago_cannot_finish(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The attacker checks the password, then takes 6 minutes to get a code."""
    victim = await make_victim(bot, clock)
    await _attacker_reaches_code_step(bot)
    clock.advance(minutes=6)
    (reply,) = await bot.send(bot.user(ATTACKER), victim.code(clock))
    assert ENDED in reply.plain and "more than 5 minutes ago" in reply.plain
    assert await _attacker_sessions(bot) == []


async def test_a_login_attempt_ends_when_the_owner_logs_out_or_turns_2fa_off(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Core variants: a checked password then a logout elsewhere, or a 2FA change, or a
    restore: complete_login refuses each, inside its transaction."""
    victim = await make_victim(bot, clock, mfa=False)
    accounts = bot.services.accounts
    attempt = await accounts.check_credentials(EMAIL, PASSWORD, ATTACKER)
    assert attempt.ok
    await bot.send(victim.laptop, "/logout")
    with pytest.raises(FlowEnded) as ended:
        await accounts.complete_login(attempt, ATTACKER)
    assert ended.value.reason is EndReason.LOGGED_OUT

    attempt = await accounts.check_credentials(EMAIL, PASSWORD, ATTACKER)
    backup = await bot.services.backups.create(OPERATOR)
    await bot.services.backups.restore(OPERATOR, backup.name)
    with pytest.raises(FlowEnded) as ended:
        await accounts.complete_login(attempt, ATTACKER)
    assert ended.value.reason is EndReason.RESTORED
    assert await _attacker_sessions(bot) == []


# --- admin final steps -----------------------------------------------------------------------


async def _admin(bot: BotHarness, clock: FakeClock) -> Victim:
    """The admin: their own account with 2FA, on the admin Telegram account and a second one."""
    admin, other = bot.user(ADMIN_ID, "Admin"), bot.user(ADMIN_ID + 1, "Admin laptop")
    await register(bot, admin, email="admin@example.com")
    assert "You're logged in" in await login(bot, admin, email="admin@example.com")
    [(account_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = 'admin@example.com'")
    who = Victim(account_id, admin, other)
    who.totp, _ = await enrol(bot, admin, clock)
    assert "Two-factor" in await login(bot, other, email="admin@example.com")
    await bot.send(other, who.code(clock))
    return who


async def test_a_kill_switch_change_from_an_idled_out_admin_session_is_refused(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The admin asks for /killswitch on and walks away; 31 minutes later someone at the
    admin's desk sends a code: the switch does not move."""
    admin = await _admin(bot, clock)
    (ask,) = await bot.send(admin.phone, "/killswitch on maintenance window")
    assert "Send the 6-digit code" in ask.plain
    clock.advance(minutes=31)
    (reply,) = await bot.send(admin.phone, admin.code(clock))
    assert ENDED in reply.plain and "expired" in reply.plain
    assert await db_rows(bot, "SELECT count(*) FROM safety_state WHERE active = 1") == [(0,)]


async def test_a_restore_confirmed_after_the_admin_logged_out_elsewhere_is_refused(
    bot: BotHarness, clock: FakeClock
) -> None:
    """/restore NAME, Restore pressed; the admin logs out on their other device; a code sent
    now restores nothing (the account registered after the backup is still there)."""
    admin = await _admin(bot, clock)
    backup = await bot.services.backups.create(OPERATOR)
    await register(bot, bot.user(3003, "Later"), email="later@example.com")
    (confirm,) = await bot.send(admin.phone, f"/restore {backup.name}")
    (ask,) = await bot.press(admin.phone, confirm, "Restore")
    assert "6-digit code" in ask.plain
    await bot.send(admin.laptop, "/logout")
    (reply,) = await bot.send(admin.phone, admin.code(clock))
    assert ENDED in reply.plain and "you logged out" in reply.plain
    assert ("later@example.com",) in await db_rows(bot, "SELECT email FROM users")


async def test_the_restore_guard_runs_with_everything_else_held_off(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Core: a restore whose admin session ended after the code was checked stops inside
    the exclusive section, before the safety backup and the swap."""
    admin = await _admin(bot, clock)
    services = bot.services
    session = await services.sessions.current(admin.phone.id)
    assert session is not None
    backup = await services.backups.create(OPERATOR)
    await register(bot, bot.user(3003, "Later"), email="later@example.com")
    proof = await services.twofactor.proof_for_action(session, admin.code(clock), "restore")
    await services.sessions.logout(admin.phone.id)
    archives = len(await services.backups.list_backups(OPERATOR))
    with pytest.raises(FlowEnded) as ended:
        await services.backups.restore(
            Actor.of_session(session),
            backup.name,
            guard=lambda uow: services.sessions.require_live(uow, session, proof),
        )
    assert ended.value.reason is EndReason.LOGGED_OUT
    assert ("later@example.com",) in await db_rows(bot, "SELECT email FROM users")
    assert len(await services.backups.list_backups(OPERATOR)) == archives  # no safety backup either


async def test_an_approval_from_a_stale_admin_session_is_refused_before_anything_is_read(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Core: approve_manually checks the admin's session and proof first, in its own
    transaction; an admin whose password changed since the code was checked approves
    nothing."""
    admin = await _admin(bot, clock)
    services = bot.services
    session = await services.sessions.current(admin.phone.id)
    laptop = await services.sessions.current(admin.laptop.id)
    assert session is not None and laptop is not None
    proof = await services.twofactor.proof_for_action(session, admin.code(clock), "approve")
    await services.accounts.change_password(
        laptop, await services.accounts.reauthenticate(laptop, PASSWORD), NEW_PASSWORD
    )
    with pytest.raises(FlowEnded) as ended:
        await services.payments.approve_manually(session, proof, 1)
    assert ended.value.reason is EndReason.PASSWORD_CHANGED
    assert await db_rows(bot, "SELECT count(*) FROM licenses") == [(0,)]


async def test_every_step_of_every_flow_checks_its_session_first(bot: BotHarness) -> None:
    """No flow can be added that forgets the check: every state handler of every
    conversation runs behind the stale-flow guard of bot/flows.py."""
    from telegram.ext import ConversationHandler

    flows = [
        handler
        for group in bot.app.handlers.values()
        for handler in group
        if isinstance(handler, ConversationHandler)
    ]
    assert {"password", "email", "2fa_enroll", "withdraw", "restore", "killswitch"} <= {
        flow.name for flow in flows
    }
    for flow in flows:
        for state, handlers in flow.states.items():
            if state == ConversationHandler.TIMEOUT:
                continue
            for handler in handlers:
                assert handler.callback.__qualname__ == "_ends_when_stale.<locals>.step", (
                    flow.name,
                    state,
                )
