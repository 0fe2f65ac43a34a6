"""The admins' withdrawal commands through the real bot: a withdrawal made with a code is
completed by an admin, or rejected with the amount released and the user told; non-admins are
refused and see only their own withdrawals, decisions need the admin's session with 2FA,
tampered rows stop payouts and a pending withdrawal survives a key rotation.
The user's side (/wallet, /referral, /withdraw): tests/test_wallet_and_withdrawing.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from core.clock import FakeClock
from core.config import load_settings
from core.crypto import generate_master_key
from tests.support import raw_db
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fake_tronscan import FakeTronscan, payments_config, tx_hash
from tests.support.harness import BotHarness
from tests.support.services import build_services
from tests.support.sessions_steps import credit, tron_address
from tests.support.steps import db_rows, events, login, register
from tests.support.wallet_steps import (
    ADDRESS,
    ADMIN,
    ALICE,
    BOB,
    balances,
    person,
    wallet,
    withdraw,
)

pytestmark = pytest.mark.payments


MASKED = f"{ADDRESS[:4]}…{ADDRESS[-4:]}"


async def ledger(bot: BotHarness) -> list[tuple]:
    return await db_rows(bot, "SELECT account_id, amount_micro, kind FROM wallet_entries")


@pytest.mark.quick_jobs
async def test_withdraw_with_a_code_then_the_admin_completes_it(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = await person(bot, clock, ADMIN_ID, ADMIN)
    alice = await person(bot, clock, 1, ALICE)
    await credit(bot, alice.account_id, 50_000_000)

    (ask,) = await bot.send(alice.user, f"/withdraw 20.5 {ADDRESS}")
    assert "Withdraw 20.50 USDT" in ask.plain and ADDRESS in ask.plain
    (wrong,) = await bot.send(alice.user, "000000")
    assert bot.last_user_message.deleted and "didn't work" in wrong.plain
    (done,) = await bot.send(alice.user, alice.code(clock))
    assert bot.last_user_message.deleted and "I deleted your message" in done.plain
    assert "Withdrawal #1 requested" in done.plain and "20.50 USDT" in done.plain

    text = await wallet(bot, alice)
    assert balances(text) == ("29.50", "20.50", "0.00")
    assert f"#1 · 20.50 USDT to {MASKED} · ⏳ waiting to be sent" in text
    (requested,) = [e for e in await events(bot) if e.event_type == "WITHDRAWAL_REQUESTED"]
    assert requested.details == {"withdrawal_id": 1, "amount_micro": 20_500_000, "address": MASKED}
    assert requested.account_id == alice.account_id and requested.telegram_user_id == 1
    assert not [e for e in await events(bot) if e.event_type == "SUSPICIOUS_ACTIVITY"]

    (listing,) = await bot.send(admin.user, "/withdrawals")
    assert f"#1 — {ALICE} (account #{alice.account_id}) — 20.50 USDT to {ADDRESS}" in listing.plain
    (usage,) = await bot.send(admin.user, "/complete_withdrawal 1")
    assert "/complete_withdrawal ID TX_HASH" in usage.plain
    (bad,) = await bot.send(admin.user, "/complete_withdrawal 1 not-a-hash")
    assert "64 characters" in bad.plain
    payout = tx_hash(7)
    (completed,) = await bot.send(admin.user, f"/complete_withdrawal #1 {payout.upper()}")
    assert "Withdrawal #1 is completed" in completed.plain
    assert "The user was told" in completed.plain
    told = bot.texts(alice.user.id)[-1]
    assert "Withdrawal #1 sent: 20.50 USDT" in told and payout in told and ADDRESS in told

    text = await wallet(bot, alice)
    assert balances(text) == ("29.50", "0.00", "20.50")
    assert f"✅ sent · tx {payout}" in text
    assert await ledger(bot) == [
        (alice.account_id, 50_000_000, "referral_commission"),
        (alice.account_id, -20_500_000, "withdrawal_hold"),
        (alice.account_id, 20_500_000, "withdrawal_release"),
        (alice.account_id, -20_500_000, "withdrawal_debit"),
    ]
    (event,) = [e for e in await events(bot) if e.event_type == "WITHDRAWAL_COMPLETED"]
    assert event.details["tx_hash"] == payout and event.details["amount_micro"] == 20_500_000
    assert event.account_id == alice.account_id and event.telegram_user_id == ADMIN_ID

    # Deciding again is refused politely and changes nothing.
    (again,) = await bot.send(admin.user, f"/complete_withdrawal 1 {tx_hash(8)}")
    assert "already completed" in again.plain
    (reject,) = await bot.send(admin.user, "/reject_withdrawal 1 changed my mind")
    assert "already completed" in reject.plain
    (none,) = await bot.send(admin.user, "/withdrawals")
    assert "No withdrawals are waiting" in none.plain
    # A payout transaction completes one withdrawal only.
    await withdraw(bot, alice, clock, f"5 {ADDRESS}")
    (reused,) = await bot.send(admin.user, f"/complete_withdrawal 2 {payout}")
    assert "already completed withdrawal #1" in reused.plain
    assert len(await ledger(bot)) == 5


async def test_the_admin_rejects_the_amount_is_released_and_the_user_told(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = await person(bot, clock, ADMIN_ID, ADMIN)
    alice = await person(bot, clock, 1, ALICE)
    await credit(bot, alice.account_id, 10_000_000)
    assert "Withdrawal #1 requested" in await withdraw(bot, alice, clock, f"10 {ADDRESS}")
    assert balances(await wallet(bot, alice)) == ("0.00", "10.00", "0.00")

    (usage,) = await bot.send(admin.user, "/reject_withdrawal 1")
    assert "/reject_withdrawal ID REASON" in usage.plain
    (missing,) = await bot.send(admin.user, "/reject_withdrawal 99 nope")
    assert "There is no withdrawal #99" in missing.plain
    (rejected,) = await bot.send(admin.user, "/reject_withdrawal 1 wrong <b>network</b>")
    assert "Withdrawal #1 is rejected and 10.00 USDT released" in rejected.plain
    told = bot.texts(alice.user.id)[-1]
    assert "Withdrawal #1 (10.00 USDT) was rejected by an admin: wrong <b>network</b>" in told

    text = await wallet(bot, alice)
    assert balances(text) == ("10.00", "0.00", "0.00")
    assert "❌ rejected: wrong <b>network</b>" in text
    (event,) = [
        e
        for e in await events(bot)
        if e.event_type == "ADMIN_ACTION" and e.details.get("action") == "reject_withdrawal"
    ]
    assert event.details["reason"] == "wrong <b>network</b>" and event.account_id == 2
    (again,) = await bot.send(admin.user, f"/complete_withdrawal 1 {tx_hash(1)}")
    assert "already rejected" in again.plain
    (twice,) = await bot.send(admin.user, "/reject_withdrawal 1 again")
    assert "already rejected" in twice.plain
    assert [row[2] for row in await ledger(bot)] == [
        "referral_commission",
        "withdrawal_hold",
        "withdrawal_release",
    ]


async def test_non_admins_are_refused_and_see_only_their_own_withdrawals(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = await person(bot, clock, 1, ALICE)
    bob = await person(bot, clock, 2, BOB, mfa=False)
    await credit(bot, alice.account_id, 10_000_000)
    await withdraw(bot, alice, clock, f"4 {ADDRESS}")
    for command in (
        "/withdrawals",
        f"/complete_withdrawal 1 {tx_hash(1)}",
        "/reject_withdrawal 1 mine now",
    ):
        (reply,) = await bot.send(bob.user, command)
        assert reply.plain == "Sorry, that command is not available.", command
    denied = [e for e in await events(bot) if e.details.get("outcome") == "denied"]
    assert [e.details["action"] for e in denied] == [
        "/withdrawals",
        "/complete_withdrawal",
        "/reject_withdrawal",
    ]
    assert await db_rows(bot, "SELECT status FROM withdrawals") == [("requested",)]
    bobs = (await bot.send(bob.user, "/wallet"))[0].plain
    assert "#1" not in bobs and MASKED not in bobs and balances(bobs) == ("0.00", "0.00", "0.00")
    (help_,) = await bot.send(bob.user, "/help")
    assert "/withdraw " in help_.plain and "/wallet" in help_.plain
    assert "/withdrawals" not in help_.plain and "/complete_withdrawal" not in help_.plain


async def test_admin_decisions_need_the_admins_session_with_2fa(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID)
    for command in (f"/complete_withdrawal 1 {tx_hash(1)}", "/reject_withdrawal 1 no"):
        (reply,) = await bot.send(admin, command)
        assert "Admin actions need your own account with 2FA" in reply.plain, command
        # Emails and addresses never go to a group other than the admin chat.
        (group,) = await bot.send(admin, command, chat_id=-4242)
        assert "only in a private chat with an admin or in the admin chat" in group.plain
    (group,) = await bot.send(admin, "/withdrawals", chat_id=-4242)
    assert "only in a private chat" in group.plain
    (admin_chat,) = await bot.send(admin, "/withdrawals", chat_id=ADMIN_CHAT_ID)
    assert admin_chat.plain == "No withdrawals are waiting."
    await register(bot, admin, email=ADMIN)
    await login(bot, admin, email=ADMIN)
    for command in (f"/complete_withdrawal 1 {tx_hash(1)}", "/reject_withdrawal 1 no"):
        (reply,) = await bot.send(admin, command)
        assert "two-factor authentication on" in reply.plain, command


async def test_tampered_rows_stop_payouts(bot: BotHarness, clock: FakeClock) -> None:
    admin = await person(bot, clock, ADMIN_ID, ADMIN)
    alice = await person(bot, clock, 1, ALICE)
    await credit(bot, alice.account_id, 20_000_000)
    await withdraw(bot, alice, clock, f"5 {ADDRESS}")
    # Someone with database access redirects the payout to their own address.
    await raw_db.execute(bot.settings, "UPDATE withdrawals SET address = ?", tron_address(666))
    (listing,) = await bot.send(admin.user, "/withdrawals")
    assert "fails its integrity check: do NOT pay" in listing.plain
    (refused,) = await bot.send(admin.user, f"/complete_withdrawal 1 {tx_hash(1)}")
    assert "fails its integrity check" in refused.plain
    (refused,) = await bot.send(admin.user, "/reject_withdrawal 1 looks odd")
    assert "fails its integrity check" in refused.plain
    assert await db_rows(bot, "SELECT status FROM withdrawals") == [("requested",)]

    # Shrinking the hold would free money: the entry then fails its signature.
    await raw_db.execute(
        bot.settings, "UPDATE wallet_entries SET amount_micro = -1 WHERE kind = 'withdrawal_hold'"
    )
    (paused,) = await bot.send(alice.user, f"/withdraw 5 {ADDRESS}")
    assert "under review" in paused.plain
    assert "under review" in await wallet(bot, alice)
    findings = {
        (e.details["rule"], e.details.get("row"))
        for e in await events(bot)
        if e.event_type == "SUSPICIOUS_ACTIVITY"
    }
    assert findings == {
        ("signature_invalid", "withdrawal"),
        ("signature_invalid", "wallet_entry"),
        ("wallet_ledger_mismatch", None),  # the hold no longer counts: ledger ≠ withdrawals
    }


async def test_a_pending_withdrawal_survives_a_key_rotation(
    bot: BotHarness,
    clock: FakeClock,
    env: dict[str, str],
    tmp_path: Path,
    fake: FakeTronscan,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`verzek rotate-key` re-signs the withdrawals table (it is in SIGNED_TABLES), so after
    the old key is dropped the request still verifies and the admin can complete it."""
    admin = await person(bot, clock, ADMIN_ID, ADMIN)
    alice = await person(bot, clock, 1, ALICE)
    await credit(bot, alice.account_id, 10_000_000)
    await withdraw(bot, alice, clock, f"4 {ADDRESS}")
    await bot.stop()
    await bot.services.aclose()  # `verzek rotate-key` runs with the bot stopped

    new_key = generate_master_key()
    monkeypatch.setenv("VERZEK_DB", env["VERZEK_DB"])
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", new_key)
    monkeypatch.setenv("ENCRYPTION_OLD_KEYS", env["ENCRYPTION_MASTER_KEY"])
    capsys.readouterr()
    assert await asyncio.to_thread(cli_main, ["rotate-key"]) == 0
    assert "withdrawals: 1 re-signed" in capsys.readouterr().out

    settings = load_settings(payments_config(tmp_path), {**env, "ENCRYPTION_MASTER_KEY": new_key})
    services = await build_services(settings, clock, chain=fake.client(settings.tronscan))
    restarted = BotHarness(settings, services)
    await restarted.start()
    try:
        (listing,) = await restarted.send(admin.user, "/withdrawals")
        assert "#1 — alice@example.com" in listing.plain and "integrity" not in listing.plain
        (done,) = await restarted.send(admin.user, f"/complete_withdrawal 1 {tx_hash(3)}")
        assert "Withdrawal #1 is completed" in done.plain
        (text,) = await restarted.send(alice.user, "/wallet")
        assert balances(text.plain) == ("6.00", "0.00", "4.00")
        assert "under review" not in text.plain
    finally:
        await restarted.stop()
        await services.aclose()
