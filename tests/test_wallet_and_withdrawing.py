"""/wallet, /referral and /withdraw through the real bot, the user's side: amounts are decimal
micro-USDT and addresses Base58Check, the commands need a session, a referral commission shows
in both, bad amounts and addresses get clear replies, the kill switch refuses withdrawals even
mid-flow, concurrent withdrawals cannot overdraw and a large one alerts the admins.
The admins' withdrawal commands: tests/test_withdrawal_admin_review.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.flows import Flow
from bot.jobs.outbox import OutboxDelivery
from core.clock import FakeClock
from core.config import Settings
from core.payments.tron import is_valid_tron_address
from core.safety.ports import SafetyRecord
from core.withdrawals.refusals import InsufficientBalance
from core.withdrawals.rules import WithdrawalRefused, parse_amount
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fake_tronscan import RECEIVE_ADDRESS, SUCCESS_HASH, FakeTronscan, success
from tests.support.harness import BotHarness
from tests.support.services import build_services
from tests.support.sessions_steps import credit, tron_address
from tests.support.steps import db_rows, events, login, register
from tests.support.wallet_steps import ADDRESS, ALICE, BOB, balances, person, wallet, withdraw

pytestmark = pytest.mark.payments


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
