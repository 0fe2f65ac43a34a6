"""/wallet, /referral, /withdraw and the admins' withdrawal commands through the real bot."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pyotp
import pytest

from bot.cli import main as cli_main
from bot.fake_telegram import TelegramUser
from bot.flows import Flow
from bot.jobs.outbox import OutboxDelivery
from core.clock import FakeClock
from core.config import Settings, load_settings
from core.crypto import generate_master_key
from core.payments.tron import is_valid_tron_address
from core.safety.ports import SafetyRecord
from core.withdrawals.refusals import InsufficientBalance
from core.withdrawals.rules import WithdrawalRefused, parse_amount
from tests.support import raw_db
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fake_tronscan import (
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    FakeTronscan,
    payments_config,
    success,
    tx_hash,
)
from tests.support.harness import BotHarness
from tests.support.services import build_services
from tests.support.sessions_steps import credit, tron_address
from tests.support.steps import PASSWORD, db_rows, events, login, register

pytestmark = pytest.mark.payments

ALICE, BOB, ADMIN = "alice@example.com", "bob@example.com", "admin@example.com"
_BACKUP_CODE = re.compile(r"\b([0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5})\b")


ADDRESS = tron_address(1)
MASKED = f"{ADDRESS[:4]}…{ADDRESS[-4:]}"


class Person:
    """A Telegram user with an account, logged in, optionally with 2FA on."""

    def __init__(self, user: TelegramUser, account_id: int) -> None:
        self.user = user
        self.account_id = account_id
        self.totp: pyotp.TOTP | None = None
        self.backup_codes: list[str] = []

    def code(self, clock: FakeClock) -> str:
        """A fresh TOTP code (the clock moves one step on, so it was never used)."""
        assert self.totp is not None
        clock.advance(seconds=30)
        return self.totp.at(clock.now())


async def person(
    bot: BotHarness, clock: FakeClock, user_id: int, email: str, *, mfa: bool = True
) -> Person:
    await register(bot, bot.user(user_id), email=email)
    await login(bot, bot.user(user_id), email=email)
    [(account_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", email)
    who = Person(bot.user(user_id), account_id)
    if mfa:
        await bot.send(who.user, "/2fa_enroll")
        _photo, manual, _ask = await bot.send(who.user, PASSWORD)
        secret = manual.plain.split("key:")[1].replace(" ", "").strip()
        who.totp = pyotp.TOTP(secret)
        (done,) = await bot.send(who.user, who.totp.at(clock.now()))
        who.backup_codes = _BACKUP_CODE.findall(done.plain)
        assert len(who.backup_codes) == 10
    return who


async def withdraw(bot: BotHarness, who: Person, clock: FakeClock, text: str) -> str:
    """/withdraw … then the code; returns the final reply."""
    (ask,) = await bot.send(who.user, f"/withdraw {text}")
    assert "Send the 6-digit code" in ask.plain, ask.plain
    (done,) = await bot.send(who.user, who.code(clock))
    assert bot.last_user_message.deleted
    return done.plain


async def wallet(bot: BotHarness, who: Person) -> str:
    (reply,) = await bot.send(who.user, "/wallet")
    return reply.plain


def balances(text: str) -> tuple[str, str, str]:
    available = re.search(r"Available: ([\d.]+) USDT", text)
    held = re.search(r"Held for pending withdrawals: ([\d.]+) USDT", text)
    withdrawn = re.search(r"Withdrawn so far: ([\d.]+) USDT", text)
    assert available and held and withdrawn, text
    return available[1], held[1], withdrawn[1]


async def ledger(bot: BotHarness) -> list[tuple]:
    return await db_rows(bot, "SELECT account_id, amount_micro, kind FROM wallet_entries")


def test_amounts_are_decimal_micro_usdt_and_addresses_base58check() -> None:
    assert parse_amount("12.345678") == 12_345_678
    assert parse_amount("12,5") == 12_500_000 and parse_amount("1") == 1_000_000
    assert parse_amount("1.1") + parse_amount("2.2") == 3_300_000  # no float drift
    assert is_valid_tron_address(ADDRESS) and is_valid_tron_address(tron_address(2))


async def test_wallet_referral_and_withdraw_need_a_session(bot: BotHarness) -> None:
    stranger = bot.user(77)
    for command in ("/wallet", "/referral", f"/withdraw 5 {ADDRESS}"):
        (reply,) = await bot.send(stranger, command)
        assert reply.plain == "Please /login first.", command
    handlers = [h for group in bot.app.handlers.values() for h in group]
    [withdraw] = [h for h in handlers if isinstance(h, Flow) and h.name == "withdraw"]
    assert withdraw.guess_states == {0}  # the code step counts against the auth limit


async def test_a_real_referral_commission_shows_in_wallet_and_referral(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    referrer = await person(bot, clock, 1, ALICE, mfa=False)
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users")
    (empty,) = await bot.send(referrer.user, "/referral")
    assert f"Your referral code: {code}" in empty.plain
    assert "signed up with it: 0" in empty.plain and "Earned so far: 0.00 USDT" in empty.plain

    trader = bot.user(2)
    await register(bot, trader, email=BOB, referral=code)
    await login(bot, trader, email=BOB)
    (pick,) = await bot.send(trader, "/subscribe")
    await bot.press(trader, pick, "sub:basic")
    fake.add(success())
    await bot.send(trader, f"/pay 1 {SUCCESS_HASH}")
    await bot.wait_for(lambda: any("confirmed" in t for t in bot.texts(trader.id)))
    # The referrer's commission notice, delivered now (by us or by the bot's own outbox job,
    # whichever claims it first), so it does not arrive in the middle of the replies below.
    await OutboxDelivery().deliver_notices(bot.app.bot, bot.services)
    await bot.wait_for(lambda: any("referral commission" in t for t in bot.texts(referrer.user.id)))

    (referral,) = await bot.send(referrer.user, "/referral")
    assert "signed up with it: 1" in referral.plain
    assert "Earned so far: 2.90 USDT" in referral.plain and "10% of every plan" in referral.plain
    text = await wallet(bot, referrer)
    assert balances(text) == ("2.90", "0.00", "0.00")
    assert "Referral earnings (total): 2.90 USDT" in text
    (bobs,) = await bot.send(trader, "/wallet")
    assert balances(bobs.plain) == ("0.00", "0.00", "0.00")

    # Withdrawing needs 2FA: a clear pointer to /2fa_enroll, nothing held.
    (refused,) = await bot.send(referrer.user, f"/withdraw 1 {ADDRESS}")
    assert "need two-factor authentication" in refused.plain and "/2fa_enroll" in refused.plain
    assert await db_rows(bot, "SELECT COUNT(*) FROM withdrawals") == [(0,)]


async def test_bad_amounts_and_addresses_get_clear_replies(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = await person(bot, clock, 1, ALICE)
    await credit(bot, alice.account_id, 30_000_000)
    broken = ADDRESS[:-1] + ("1" if ADDRESS[-1] != "1" else "2")  # checksum no longer fits
    cases = {
        "/withdraw 5": "/withdraw AMOUNT ADDRESS",
        f"/withdraw abc {ADDRESS}": "isn't a number",
        f"/withdraw -5 {ADDRESS}": "isn't a number",
        f"/withdraw 1e3 {ADDRESS}": "isn't a number",
        f"/withdraw 0 {ADDRESS}": "smallest withdrawal is 1.00 USDT",
        f"/withdraw 0.5 {ADDRESS}": "smallest withdrawal is 1.00 USDT",
        f"/withdraw 1.1234567 {ADDRESS}": "at most 6 decimals",
        f"/withdraw 5 {broken}": "isn't a valid TRON address",
        "/withdraw 5 0x52908400098527886E0F7030069857D2E4169EE7": "isn't a valid TRON address",
        f"/withdraw 5 {RECEIVE_ADDRESS}": "Verzek's own payment address",
        f"/withdraw 30.000001 {ADDRESS}": "at most 30.00 USDT right now",
    }
    for command, expected in cases.items():
        (reply,) = await bot.send(alice.user, command)
        assert expected in reply.plain, (command, reply.plain)
    # None of them started a flow: a code now is just text the bot doesn't understand.
    (reply,) = await bot.send(alice.user, "123456")
    assert "I didn't understand that" in reply.plain
    assert await db_rows(bot, "SELECT COUNT(*) FROM withdrawals") == [(0,)]
    kinds = {e.event_type for e in await events(bot)}
    assert not kinds & {"WITHDRAWAL_REQUESTED", "MFA_VERIFIED", "MFA_FAILED"}  # no code asked


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


async def test_the_kill_switch_refuses_withdrawals_even_mid_flow(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = await person(bot, clock, 1, ALICE)
    await credit(bot, alice.account_id, 10_000_000)

    async def switch(active: bool) -> None:
        async with bot.services.uow() as uow:
            await uow.safety.put(
                SafetyRecord("killswitch", active, "test", clock.now(), None, ADMIN_ID)
            )
            await uow.commit()

    await switch(True)
    (refused,) = await bot.send(alice.user, f"/withdraw 5 {ADDRESS}")
    assert "Withdrawals are paused platform-wide" in refused.plain
    await switch(False)
    (ask,) = await bot.send(alice.user, f"/withdraw 5 {ADDRESS}")
    assert "Send the 6-digit code" in ask.plain
    await switch(True)  # pulled while Alice types her code
    (refused,) = await bot.send(alice.user, alice.code(clock))
    assert bot.last_user_message.deleted and "Withdrawals are paused" in refused.plain
    (reply,) = await bot.send(alice.user, alice.code(clock))
    assert "I didn't understand that" in reply.plain  # the flow ended
    assert await db_rows(bot, "SELECT COUNT(*) FROM withdrawals") == [(0,)]
    await switch(False)
    assert "Withdrawal #1 requested" in await withdraw(bot, alice, clock, f"5 {ADDRESS}")


@pytest.mark.parametrize("processes", [1, 2])
async def test_concurrent_withdrawals_cannot_overdraw(
    bot: BotHarness,
    clock: FakeClock,
    settings: Settings,
    fake: FakeTronscan,
    monkeypatch: pytest.MonkeyPatch,
    processes: int,
) -> None:
    """Two requests that each fit the balance but not together: exactly one is held. With
    two processes (two bootstraps on the same file) BEGIN IMMEDIATE is what serialises them."""
    alice = await person(bot, clock, 1, ALICE)
    await credit(bot, alice.account_id, 30_000_000)
    first = bot.services
    second = (
        await build_services(settings, clock, chain=fake.client(settings.tronscan))
        if processes == 2
        else first
    )
    # Both requests pass their 2FA check, then go on together, so neither can finish before
    # the other starts (a balance read apart from the hold would let both through).
    together = asyncio.Barrier(2)
    for services in {id(s): s for s in (first, second)}.values():
        checked = services.twofactor.proof_for_action

        async def then_wait(
            *args: object, _checked: Callable[..., Awaitable[object]] = checked
        ) -> object:
            proof = await _checked(*args)
            await together.wait()
            return proof

        monkeypatch.setattr(services.twofactor, "proof_for_action", then_wait)
    try:
        session = await first.sessions.current(alice.user.id)
        assert session is not None
        drafts = [
            await services.withdrawals.prepare(session, "20", tron_address(n))
            for n, services in enumerate((first, second))
        ]
        results = await asyncio.gather(
            *(
                services.withdrawals.request(session, draft, code)
                for services, draft, code in zip(
                    (first, second), drafts, alice.backup_codes[:2], strict=True
                )
            ),
            return_exceptions=True,
        )
    finally:
        if second is not first:
            await second.aclose()
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], WithdrawalRefused), results
    assert refused[0].reason == InsufficientBalance(20_000_000, 10_000_000)
    assert await db_rows(bot, "SELECT COUNT(*), SUM(amount_micro) FROM withdrawals") == [
        (1, 20_000_000)
    ]
    assert balances(await wallet(bot, alice)) == ("10.00", "20.00", "0.00")


@pytest.mark.quick_jobs
async def test_a_large_withdrawal_alerts_the_admins(bot: BotHarness, clock: FakeClock) -> None:
    alice = await person(bot, clock, 1, ALICE)
    await credit(bot, alice.account_id, 2_000_000_000)
    await withdraw(bot, alice, clock, f"999.999999 {ADDRESS}")
    assert not [e for e in await events(bot) if e.event_type == "SUSPICIOUS_ACTIVITY"]
    await withdraw(bot, alice, clock, f"1000 {ADDRESS}")
    (finding,) = [e for e in await events(bot) if e.event_type == "SUSPICIOUS_ACTIVITY"]
    assert finding.details["rule"] == "large_withdrawal" and finding.severity == "critical"
    assert finding.details["amount_micro"] == 1_000_000_000
    assert finding.account_id == alice.account_id
    delivered = await bot.wait_for(
        lambda: [m for m in bot.api.sent_to(ADMIN_CHAT_ID) if "Large withdrawal" in m.plain]
    )
    assert "1000.00 USDT (threshold 1000.00 USDT)" in delivered[0].plain


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
