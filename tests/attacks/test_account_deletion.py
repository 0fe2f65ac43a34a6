"""Attacker's notebook: /delete_account as a weapon, and a deleted account as a way back in.

The tricks: delete the victim's account (to destroy their setup, or to free the email and
register it as one's own) with a stolen password but no code; from the victim's unlocked
phone without the password; by pressing the victim's confirmation button from another
Telegram account (a stranger, the victim's own laptop, an attacker with a deletion of their
own pending), or a forged one; delete while money is in flight, so a withdrawal escapes its
checks; or keep using a session, a pending step or a login begun before the deletion.
Then the way back: register the freed email and hope for the old account's sessions, keys,
2FA or referral code.

Defence (core/accounts/deletion.py): the password, a current code when 2FA is on, and a
button whose opaque reference core made for this session and this password check, all
checked again in the deleting transaction; pending withdrawals block it; the deletion ends
every session and replaces the stamp, so every pending step and login ends; the email is a
tombstone, the password hash unusable, the secrets deleted; a new registration with the
email is a new account that inherits nothing. Each test checks the replies and the database.
"""

from __future__ import annotations

import pytest

from bot import texts
from bot.fake_telegram import html_to_plain
from core.accounts.deletion import UNUSABLE_HASH, tombstone
from core.clock import FakeClock
from core.money import MICRO
from tests.support import steps
from tests.support.care_steps import (
    account_state,
    confirm_data,
    deletion_events,
    up_to_the_confirmation,
)
from tests.support.harness import BotHarness
from tests.support.sessions_steps import (
    ADDRESS,
    ATTACKER,
    ATTACKER_PASSWORD,
    EMAIL,
    ENDED,
    Victim,
    credit,
    login,
    make_victim,
    register,
    texts_to,
)
from tests.support.steps import NEW_PASSWORD, PASSWORD, add_key, db_rows

STALE = html_to_plain(texts.DELETE_BUTTON_STALE)


async def untouched(bot: BotHarness, victim: Victim) -> tuple[object, ...]:
    """The victim's account as it stands; compared after each trick."""
    state = await account_state(bot, victim.account_id)
    assert state[0] == EMAIL and state[2] is None  # the email is there, not closed
    return state


def last_alert(bot: BotHarness) -> str:
    return str(bot.api.callback_answers[-1].get("text", ""))


# --- a stolen password, but no code -----------------------------------------------------------


@pytest.mark.parametrize("guess", ["000000", PASSWORD, "ABCDE-FGHJK", "", "1234567"])
async def test_a_stolen_password_without_the_code_deletes_nothing(
    bot: BotHarness, clock: FakeClock, guess: str
) -> None:
    """The attacker has the phone and the password, not the authenticator: every code they
    try is refused (and deleted from the chat), no confirmation is ever shown."""
    victim = await make_victim(bot, clock)
    before = await untouched(bot, victim)
    await bot.send(victim.phone, "/delete_account")
    (ask_code,) = await bot.send(victim.phone, PASSWORD)
    assert "current code" in ask_code.plain
    replies = await bot.send(victim.phone, guess or " ")
    assert bot.last_user_message.deleted
    assert all(texts.DELETE_BUTTON not in [b.text for b in m.buttons] for m in replies)
    assert await account_state(bot, victim.account_id) == before
    assert await deletion_events(bot) == []


async def test_core_refuses_a_deletion_without_a_code_check(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Calling core directly with the password's proof and the right reference but no code
    check: refused inside the transaction; nothing written."""
    victim = await make_victim(bot, clock)
    before = await untouched(bot, victim)
    services = bot.services
    session = await services.sessions.current(victim.phone.id)
    assert session is not None
    proof = await services.deletion.check_password(session, PASSWORD)
    reference = await services.deletion.confirmation(session, proof)
    with pytest.raises(Exception, match="SecondFactorNeeded"):
        await services.deletion.delete(session, proof, None, reference)
    assert await account_state(bot, victim.account_id) == before


# --- the unlocked phone, no password ----------------------------------------------------------


@pytest.mark.parametrize("guess", ["wrong password entirely 1", EMAIL, PASSWORD.upper(), "123456"])
async def test_an_unlocked_phone_without_the_password_deletes_nothing(
    bot: BotHarness, clock: FakeClock, guess: str
) -> None:
    victim = await make_victim(bot, clock)
    before = await untouched(bot, victim)
    await bot.send(victim.phone, "/delete_account")
    replies = await bot.send(victim.phone, guess)
    assert bot.last_user_message.deleted
    assert "not correct" in replies[-1].plain
    # Pressing a made-up confirmation afterwards: there is no deletion pending.
    await bot.press_data(victim.phone, replies[-1], "del:yes:" + "0" * 16)
    assert last_alert(bot) == STALE
    assert await account_state(bot, victim.account_id) == before
    assert await deletion_events(bot) == []


# --- someone else presses the victim's confirmation ---------------------------------------------


async def test_another_telegram_account_pressing_the_confirmation_deletes_nothing(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The victim reached the confirmation on the phone. A stranger, the victim's own laptop
    (same account, another session) and an attacker with a deletion of their own pending
    press the phone's button data: refused, and nobody's account goes."""
    victim = await make_victim(bot, clock)
    confirmation = await up_to_the_confirmation(bot, victim.phone, victim.code(clock))
    data = confirm_data(confirmation)
    before = await untouched(bot, victim)

    stranger = bot.user(424_242, "Stranger")
    await bot.press_data(stranger, confirmation, data)
    assert last_alert(bot) == STALE
    await bot.press_data(victim.laptop, confirmation, data)
    assert last_alert(bot) == STALE

    attacker = bot.user(ATTACKER, "Attacker")
    await register(bot, attacker, "attacker@example.com")
    [(attacker_account,)] = await db_rows(
        bot, "SELECT id FROM users WHERE email = 'attacker@example.com'"
    )
    own = await up_to_the_confirmation(bot, attacker, None)
    await bot.press_data(attacker, own, data)  # the victim's reference, in the attacker's flow
    assert "not a deletion you are confirming" in last_alert(bot)
    assert await account_state(bot, victim.account_id) == before
    [(attacker_email,)] = await db_rows(
        bot, "SELECT email FROM users WHERE id = ?", attacker_account
    )
    assert attacker_email == "attacker@example.com"
    assert await deletion_events(bot) == []

    # The victim's own button still does what it says.
    (done,) = await bot.press(victim.phone, confirmation, data)
    assert "account is deleted" in done.plain
    assert await deletion_events(bot) == [(victim.account_id, victim.phone.id)]


async def test_an_edited_confirmation_deletes_nothing(bot: BotHarness, clock: FakeClock) -> None:
    victim = await make_victim(bot, clock)
    confirmation = await up_to_the_confirmation(bot, victim.phone, victim.code(clock))
    before = await untouched(bot, victim)
    data = confirm_data(confirmation)
    for forged in ("del:yes:" + "f" * 16, data[:-1], data + "0", "del:yes:", "del:yes:../1"):
        await bot.press_data(victim.phone, confirmation, forged)
        assert await account_state(bot, victim.account_id) == before
    assert await deletion_events(bot) == []


# --- while something is pending -----------------------------------------------------------------


async def test_a_pending_withdrawal_blocks_deletion(bot: BotHarness, clock: FakeClock) -> None:
    """Money in flight: /delete_account says so at once; a withdrawal requested from the
    laptop while the phone sits at the confirmation blocks the press too."""
    victim = await make_victim(bot, clock)
    await credit(bot, victim.account_id, 50 * MICRO)
    confirmation = await up_to_the_confirmation(bot, victim.phone, victim.code(clock))
    await bot.send(victim.laptop, f"/withdraw 10 {ADDRESS}")
    (requested,) = await bot.send(victim.laptop, victim.code(clock))
    assert "requested" in requested.plain, requested.plain
    before = await untouched(bot, victim)

    await bot.press(victim.phone, confirmation, confirm_data(confirmation))
    assert "waiting for an admin" in last_alert(bot)
    (refused,) = await bot.send(victim.phone, "/delete_account")
    assert "waiting for an admin" in refused.plain
    assert await account_state(bot, victim.account_id) == before
    assert await db_rows(bot, "SELECT status FROM withdrawals") == [("requested",)]
    assert await deletion_events(bot) == []


async def test_a_withdrawal_step_pending_on_the_laptop_ends_with_the_account(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock)
    await credit(bot, victim.account_id, 50 * MICRO)
    (ask,) = await bot.send(victim.laptop, f"/withdraw 10 {ADDRESS}")
    assert "code" in ask.plain
    confirmation = await up_to_the_confirmation(bot, victim.phone, victim.code(clock))
    await bot.press(victim.phone, confirmation, confirm_data(confirmation))
    replies = await bot.send(victim.laptop, victim.code(clock))
    assert f"{ENDED} the account was deleted" in replies[-1].plain
    assert bot.last_user_message.deleted  # the code sent to a step that is gone
    assert await db_rows(bot, "SELECT count(*) FROM withdrawals") == [(0,)]
    assert await db_rows(
        bot, "SELECT count(*) FROM wallet_entries WHERE kind = 'withdrawal_hold'"
    ) == [(0,)]


async def test_a_login_waiting_for_its_code_ends_with_the_account(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The attacker typed the stolen password on their own Telegram account and waits at the
    2FA step; the owner deletes the account; the code then opens nothing."""
    victim = await make_victim(bot, clock)
    attacker = bot.user(ATTACKER, "Attacker")
    assert "Two-factor" in await login(bot, attacker)
    confirmation = await up_to_the_confirmation(bot, victim.phone, victim.code(clock))
    await bot.press(victim.phone, confirmation, confirm_data(confirmation))
    replies = await bot.send(attacker, victim.code(clock))
    assert f"{ENDED} the account was deleted" in replies[-1].plain
    assert await db_rows(
        bot,
        "SELECT count(*) FROM sessions WHERE telegram_user_id = ? AND ended_at IS NULL",
        ATTACKER,
    ) == [(0,)]


# --- after: the email again, the old sessions, the old secrets ---------------------------------


@pytest.mark.quick_jobs
async def test_the_deleted_account_stays_closed_and_its_email_starts_afresh(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock)
    replies = await add_key(bot, victim.phone)
    if "code" in replies[-1].plain:
        await bot.send(victim.phone, victim.code(clock))
    assert await db_rows(bot, "SELECT count(*) FROM api_keys") == [(1,)]
    [(old_code,)] = await db_rows(
        bot, "SELECT referral_code FROM users WHERE id = ?", victim.account_id
    )
    confirmation = await up_to_the_confirmation(bot, victim.phone, victim.code(clock))
    (done,) = await bot.press(victim.phone, confirmation, confirm_data(confirmation))
    assert "account is deleted" in done.plain and "(also 1 on other devices)" in done.plain
    # Live sessions, 2FA secret, backup codes, API keys: all gone.
    assert (await account_state(bot, victim.account_id))[3:] == (0, 0, 0, 0)
    [(email, password_hash, closed_at)] = await db_rows(
        bot, "SELECT email, password_hash, closed_at FROM users WHERE id = ?", victim.account_id
    )
    assert (email, password_hash) == (tombstone(victim.account_id), UNUSABLE_HASH)
    assert closed_at is not None
    # The laptop hears of it (a critical notice: no setting silences it).
    await bot.wait_for(lambda: any("was deleted" in t for t in texts_to(bot, victim.laptop.id)))

    # The old sessions never work again; the old password opens nothing.
    for device in (victim.phone, victim.laptop):
        (reply,) = await bot.send(device, "/me")
        assert "/login" in reply.plain
    assert "not correct" in await login(bot, victim.laptop)
    # The tombstone cannot even be typed as a login email (a reserved domain).
    await bot.send(victim.laptop, "/login")
    (refused,) = await bot.send(victim.laptop, tombstone(victim.account_id))
    assert "doesn't look like an email" in refused.plain
    await bot.send(victim.laptop, "/cancel")

    # The email registers again: a new account with nothing of the old one.
    newcomer = bot.user(ATTACKER, "Newcomer")
    assert "logged in" in await steps.register(bot, newcomer, EMAIL, ATTACKER_PASSWORD)
    [(new_id, new_code)] = await db_rows(
        bot, "SELECT id, referral_code FROM users WHERE email = ?", EMAIL
    )
    assert new_id != victim.account_id and new_code != old_code
    fresh = await account_state(bot, new_id)
    assert fresh[0] == EMAIL and fresh[2] is None and fresh[3:] == (1, 0, 0, 0)
    assert "not correct" in await login(bot, victim.laptop, EMAIL, PASSWORD)
    # The old referral code invites nobody any more.
    (invite,) = await bot.send(bot.user(31337, "Invited"), f"/start ref_{old_code}")
    assert "I don't know that referral code" in invite.plain
    # Audit rows stay, the old one's email masked.
    [(details,)] = await db_rows(
        bot, "SELECT details FROM audit_events WHERE event_type = 'ACCOUNT_DELETED'"
    )
    assert EMAIL not in details and "v***@example.com" in details
    assert NEW_PASSWORD not in details
