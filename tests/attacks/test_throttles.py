"""Walking around the login and 2FA throttles by racing them, and locking the owner out.

The trick: the throttle says "5 wrong passwords per 10 minutes", but if the check and the
recording of a failure are separate steps with a slow argon2 in between, 20 Telegram accounts
guessing at the same instant all pass the check before any failure is written. Variants: many
ids on one email, one id on many emails, two processes on one database file, the 2FA code
step, the unknown-email path. The other side of the coin: an attacker who only knows the
victim's email must not be able to lock the victim's own phone out by hammering it.

Every test counts how many passwords (or codes) were really verified and reads the database
for what was written: the proof is "at most 5 were ever checked", not "the 6th reply said no".
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from bot import texts
from core.accounts.service import LoginAttempt
from core.clock import FakeClock
from core.config import Settings
from core.errors import Refusal
from core.services import Services
from core.twofactor.service import CodeBlocked
from tests.support.harness import BotHarness
from tests.support.services import build_services
from tests.support.throttle_steps import (
    VICTIM_EMAIL,
    VICTIM_PASSWORD,
    VICTIM_TELEGRAM_ID,
    VerifyCounter,
    enrol_2fa,
    log_in,
    register_victim,
    rows,
)

ATTACKERS = range(5000, 5030)  # 30 distinct Telegram accounts
LIMIT = 5


async def guess_all(services: Services, email: str, guesses: dict[int, str]) -> list[LoginAttempt]:
    """Every attacker id sends its guess at the same instant."""
    return list(
        await asyncio.gather(
            *(
                services.accounts.check_credentials(email, password, telegram_id)
                for telegram_id, password in guesses.items()
            )
        )
    )


def wrong_guesses(ids: range = ATTACKERS) -> dict[int, str]:
    return {telegram_id: f"wrong guess {telegram_id} sunflower" for telegram_id in ids}


async def failure_reasons(settings: Settings) -> Counter[str]:
    found = await rows(
        settings, "SELECT details FROM audit_events WHERE event_type = 'LOGIN_FAILED'"
    )
    return Counter(str(json.loads(details).get("reason")) for (details,) in found)


# --- many accounts, one email ---------------------------------------------------------------


async def test_thirty_accounts_guessing_at_once_get_five_verifications(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 Telegram ids send a wrong password for the victim's email in the same instant."""
    _, victim_hash = await register_victim(services)
    counter = VerifyCounter(services, monkeypatch, delay=0.05)
    results = await guess_all(services, VICTIM_EMAIL, wrong_guesses())
    assert counter.against(victim_hash) == LIMIT
    assert sum(1 for r in results if r.locked_seconds) == len(ATTACKERS) - LIMIT
    assert not any(r.ok for r in results)
    assert await failure_reasons(settings) == {
        "bad_credentials": LIMIT,
        "locked": len(ATTACKERS) - LIMIT,
    }
    assert len(await rows(settings, "SELECT * FROM login_failures")) == LIMIT
    assert await rows(settings, "SELECT * FROM sessions") == []


async def test_the_right_password_in_the_crowd_is_refused_once_locked(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker hides the real password (say from a leak list) among 30 simultaneous
    guesses, and again right after: once locked, even the right password is not verified."""
    _, victim_hash = await register_victim(services)
    counter = VerifyCounter(services, monkeypatch, delay=0.05)
    await guess_all(services, VICTIM_EMAIL, wrong_guesses())
    late = await services.accounts.check_credentials(VICTIM_EMAIL, VICTIM_PASSWORD, 6001)
    assert late.locked_seconds > 0 and not late.ok
    assert counter.against(victim_hash) == LIMIT
    assert await rows(settings, "SELECT * FROM sessions") == []


async def test_the_lock_holds_its_full_ten_minutes_then_reopens(
    services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Racing again just before the lock ends, and just after."""
    _, victim_hash = await register_victim(services)
    counter = VerifyCounter(services, monkeypatch, delay=0.02)
    await guess_all(services, VICTIM_EMAIL, wrong_guesses())
    clock.advance(minutes=9, seconds=59)
    results = await guess_all(services, VICTIM_EMAIL, wrong_guesses(range(6000, 6020)))
    assert all(r.locked_seconds for r in results)
    assert counter.against(victim_hash) == LIMIT
    clock.advance(seconds=2)
    await guess_all(services, VICTIM_EMAIL, wrong_guesses(range(7000, 7020)))
    assert counter.against(victim_hash) == 2 * LIMIT


async def test_one_account_spraying_many_emails_at_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Telegram id tries 20 different addresses at the same instant (password spraying):
    its own bucket fills just the same."""
    for n in range(20):
        # 20 people's accounts (one Telegram user registers at most a few).
        await register_victim(services, email=f"user{n}@example.com", telegram_user_id=9000 + n)
    counter = VerifyCounter(services, monkeypatch, delay=0.05)
    results = await asyncio.gather(
        *(
            services.accounts.check_credentials(f"user{n}@example.com", "wrong sunflower 9", 5000)
            for n in range(20)
        )
    )
    assert len(counter.hashes) == LIMIT
    assert sum(1 for r in results if r.locked_seconds) == 20 - LIMIT


async def test_two_processes_sharing_the_database_file(
    services: Services, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two bot processes (separate connections, separate in-process locks) on one file, 15
    guesses each at the same instant: the database, not the process, holds the line."""
    _, victim_hash = await register_victim(services)
    other = await build_services(settings, clock)
    try:
        first = VerifyCounter(services, monkeypatch, delay=0.05)
        second = VerifyCounter(other, monkeypatch, delay=0.05)
        guesses = wrong_guesses()
        ids = list(guesses)
        await asyncio.gather(
            guess_all(services, VICTIM_EMAIL, {i: guesses[i] for i in ids[:15]}),
            guess_all(other, VICTIM_EMAIL, {i: guesses[i] for i in ids[15:]}),
        )
        assert first.against(victim_hash) + second.against(victim_hash) == LIMIT
    finally:
        await other.aclose()
    assert len(await rows(settings, "SELECT * FROM login_failures")) == LIMIT


async def test_an_unknown_email_locks_exactly_like_a_real_one(
    services: Services, settings: Settings
) -> None:
    """No enumeration: a racing crowd on an address nobody owns sees what it would see on a
    real one (five plain failures, then the same locked reply), and nothing is created."""
    await register_victim(services)
    real = await guess_all(services, VICTIM_EMAIL, wrong_guesses())
    ghost = await guess_all(services, "nobody@example.com", wrong_guesses(range(6000, 6030)))

    def shape(results: list[LoginAttempt]) -> Counter[tuple[bool, bool]]:
        return Counter((r.ok, r.locked_seconds > 0) for r in results)

    assert shape(real) == shape(ghost) == {(False, False): LIMIT, (False, True): 25}
    assert {r.locked_seconds for r in real if r.locked_seconds} == {
        r.locked_seconds for r in ghost if r.locked_seconds
    }
    assert len(await rows(settings, "SELECT * FROM users")) == 1


# --- the owner is not locked out -------------------------------------------------------------


async def test_strangers_hammering_the_email_do_not_lock_the_owners_phone(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker knows only the victim's email and locks the shared bucket on purpose;
    the phone that logged in last week still logs in."""
    await register_victim(services)
    await log_in(services, VICTIM_TELEGRAM_ID)
    await services.sessions.logout(VICTIM_TELEGRAM_ID)
    VerifyCounter(services, monkeypatch, delay=0.02)
    await guess_all(services, VICTIM_EMAIL, wrong_guesses())
    stranger = await services.accounts.check_credentials(VICTIM_EMAIL, VICTIM_PASSWORD, 6001)
    assert stranger.locked_seconds > 0
    owner = await services.accounts.check_credentials(
        VICTIM_EMAIL, VICTIM_PASSWORD, VICTIM_TELEGRAM_ID
    )
    assert owner.ok and owner.locked_seconds == 0


async def test_the_owners_own_typos_still_lock_the_owner(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trusted bucket is a bucket, not a bypass: 5 wrong passwords from the owner's
    phone at once lock that phone (and only 5 are verified)."""
    _, victim_hash = await register_victim(services)
    await log_in(services, VICTIM_TELEGRAM_ID)
    counter = VerifyCounter(services, monkeypatch, delay=0.05)
    results = await asyncio.gather(
        *(
            services.accounts.check_credentials(VICTIM_EMAIL, f"typo {n} x", VICTIM_TELEGRAM_ID)
            for n in range(20)
        )
    )
    assert counter.against(victim_hash) == LIMIT
    assert sum(1 for r in results if r.locked_seconds) == 15
    again = await services.accounts.check_credentials(
        VICTIM_EMAIL, VICTIM_PASSWORD, VICTIM_TELEGRAM_ID
    )
    assert again.locked_seconds > 0


async def test_a_stolen_password_login_trusts_only_that_one_id(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attacker who logged in once with a stolen password is trusted for that id only:
    their other 29 accounts still share (and fill) the stranger bucket."""
    _, victim_hash = await register_victim(services)
    await log_in(services, 4999)  # the attacker's "legitimate" login
    counter = VerifyCounter(services, monkeypatch, delay=0.05)
    await guess_all(services, VICTIM_EMAIL, wrong_guesses())
    assert counter.against(victim_hash) == LIMIT


async def test_trust_expires_after_thirty_days(
    services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone that last logged in 31 days ago is a stranger again and shares the lock."""
    await register_victim(services)
    await log_in(services, VICTIM_TELEGRAM_ID)
    await services.sessions.logout(VICTIM_TELEGRAM_ID)
    clock.advance(days=31)
    VerifyCounter(services, monkeypatch, delay=0.02)
    await guess_all(services, VICTIM_EMAIL, wrong_guesses())
    owner = await services.accounts.check_credentials(
        VICTIM_EMAIL, VICTIM_PASSWORD, VICTIM_TELEGRAM_ID
    )
    assert owner.locked_seconds > 0 and not owner.ok


async def test_a_good_login_forgets_only_its_own_failures(
    services: Services, settings: Settings
) -> None:
    """The attacker's failures are not wiped when the owner logs in, so the owner logging in
    every few minutes does not hand the attacker fresh guesses."""
    await register_victim(services)
    await log_in(services, VICTIM_TELEGRAM_ID)
    await guess_all(services, VICTIM_EMAIL, wrong_guesses(range(5000, 5004)))
    await services.accounts.check_credentials(VICTIM_EMAIL, "owner typo 1 x", VICTIM_TELEGRAM_ID)
    await log_in(services, VICTIM_TELEGRAM_ID)
    left = await rows(settings, "SELECT telegram_user_id FROM login_failures")
    assert sorted(i for (i,) in left) == [5000, 5001, 5002, 5003]


# --- the 2FA code step -----------------------------------------------------------------------


async def test_thirty_accounts_racing_two_factor_codes(
    services: Services, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password is stolen; 30 ids race backup-code guesses (checked with argon2 in a
    thread) at the victim's code step. At most 5 are compared; then the right TOTP code is
    refused as blocked."""
    account_id, _ = await register_victim(services)
    session = await log_in(services, VICTIM_TELEGRAM_ID)
    totp = await enrol_2fa(services, session, clock)
    compared: list[str] = []
    codes = services.twofactor._code_hasher
    original = codes.matching

    async def counting(candidates: list[tuple[int, str]], code: str) -> int | None:
        compared.append(code)
        return await original(candidates, code)

    monkeypatch.setattr(codes, "matching", counting)
    outcomes = await asyncio.gather(
        *(
            services.twofactor.verify(account_id, telegram_id, "ABCDE-FGH12", purpose="login")
            for telegram_id in ATTACKERS
        ),
        return_exceptions=True,
    )
    assert len(compared) == LIMIT
    assert all(isinstance(o, Refusal) for o in outcomes)
    assert sum(isinstance(o, CodeBlocked) for o in outcomes) == len(ATTACKERS) - LIMIT
    with pytest.raises(CodeBlocked):
        await services.twofactor.verify(account_id, 5000, totp.at(clock.now()), purpose="login")
    path = settings
    assert len(await rows(path, "SELECT * FROM mfa_failures")) == LIMIT
    found = await rows(path, "SELECT details FROM audit_events WHERE event_type = 'MFA_FAILED'")
    reasons = Counter(json.loads(details)["reason"] for (details,) in found)
    assert reasons == {"throttled": len(ATTACKERS) - LIMIT + 1, "wrong_code": LIMIT}
    assert await rows(path, "SELECT * FROM audit_events WHERE event_type = 'MFA_VERIFIED'") == []


async def test_a_right_code_does_not_count_as_a_failure(
    services: Services, settings: Settings, clock: FakeClock
) -> None:
    """The reservation made before checking is withdrawn when the code is right."""
    account_id, _ = await register_victim(services)
    session = await log_in(services, VICTIM_TELEGRAM_ID)
    totp = await enrol_2fa(services, session, clock)
    for _ in range(4):
        with pytest.raises(Refusal):
            await services.twofactor.verify(account_id, VICTIM_TELEGRAM_ID, "000000", purpose="x")
    code = totp.at(clock.now())
    await services.twofactor.verify(account_id, VICTIM_TELEGRAM_ID, code, purpose="x")
    assert len(await rows(settings, "SELECT * FROM mfa_failures")) == 4


# --- through the real bot --------------------------------------------------------------------


async def test_twenty_telegram_accounts_race_the_login_through_the_bot(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 attackers each open /login, type the victim's email, then all send a password in
    the same instant. Five are verified; everyone else is told login is paused; nobody is
    logged in; the victim's own phone still gets in, a new phone with the right password
    does not."""
    services = bot.services
    _, victim_hash = await register_victim(services)
    await log_in(services, VICTIM_TELEGRAM_ID)
    await services.sessions.logout(VICTIM_TELEGRAM_ID)
    counter = VerifyCounter(services, monkeypatch, delay=0.05)
    attackers = [bot.user(5000 + n) for n in range(20)]
    for step in ("/login", VICTIM_EMAIL):
        for attacker in attackers:
            bot.api.user_sends(attacker, step)
        await bot.settle()
    for n, attacker in enumerate(attackers):
        bot.api.user_sends(attacker, f"wrong guess {n} sunflower")
    await bot.settle(timeout=30)

    last = [bot.texts(a.id)[-1] for a in attackers]
    assert counter.against(victim_hash) == LIMIT
    assert sum(texts.LOGIN_FAILED in t for t in last) == LIMIT
    assert sum("password login is paused" in t for t in last) == 20 - LIMIT
    path = bot.settings
    assert await rows(path, "SELECT * FROM sessions WHERE ended_at IS NULL") == []

    newcomer = bot.user(6001)
    await bot.send(newcomer, "/login")
    await bot.send(newcomer, VICTIM_EMAIL)
    (paused,) = await bot.send(newcomer, VICTIM_PASSWORD)
    assert "password login is paused" in paused.plain

    owner = bot.user(VICTIM_TELEGRAM_ID)
    await bot.send(owner, "/login")
    await bot.send(owner, VICTIM_EMAIL)
    replies = await bot.send(owner, VICTIM_PASSWORD)
    assert "You're logged in as victim@example.com" in replies[-1].plain
    assert counter.against(victim_hash) == LIMIT + 1
    live = await rows(path, "SELECT telegram_user_id FROM sessions WHERE ended_at IS NULL")
    assert live == [(VICTIM_TELEGRAM_ID,)]


async def test_twenty_accounts_race_the_code_step_through_the_bot(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password leaked: 20 attackers reach the victim's 2FA code step and send wrong
    codes at once. Five count; the rest are told code entry is paused; nobody gets in."""
    services = bot.services
    account_id, _ = await register_victim(services)
    session = await log_in(services, VICTIM_TELEGRAM_ID)
    totp = await enrol_2fa(services, session, clock)
    attackers = [bot.user(5000 + n) for n in range(20)]
    for attacker in attackers:  # one after the other: each is a good password, not a guess
        for step in ("/login", VICTIM_EMAIL, VICTIM_PASSWORD):
            await bot.send(attacker, step)
    assert all("Two-factor" in bot.texts(a.id)[-1] for a in attackers)
    for attacker in attackers:
        bot.api.user_sends(attacker, "ABCDE-FGH12")
    await bot.settle(timeout=30)
    last = [bot.texts(a.id)[-1] for a in attackers]
    assert sum("code entry is paused" in t for t in last) == 20 - LIMIT
    path = bot.settings
    assert len(await rows(path, "SELECT * FROM mfa_failures")) == LIMIT
    # One whose wrong code counted is still at the code step (which five count depends on
    # the order the bot took them in); even the right code is now refused.
    pairs = zip(attackers, last, strict=True)
    counted = next(a for a, t in pairs if "code entry is paused" not in t)
    (retry,) = await bot.send(counted, totp.at(clock.now()))
    assert "code entry is paused" in retry.plain
    live = await rows(path, "SELECT telegram_user_id FROM sessions WHERE ended_at IS NULL")
    assert live == [(VICTIM_TELEGRAM_ID,)]
    assert account_id == session.account_id


async def test_the_bot_says_the_same_for_a_real_and_an_unknown_email(bot: BotHarness) -> None:
    """Racing the bot on an address nobody owns gives the same replies, in the same numbers,
    as racing it on the victim's: the lock is no way to find out who has an account."""
    await register_victim(bot.services)

    async def race(email: str, first_id: int) -> Counter[str]:
        crowd = [bot.user(first_id + n) for n in range(12)]
        for step in ("/login", email):
            for someone in crowd:
                bot.api.user_sends(someone, step)
            await bot.settle()
        for n, someone in enumerate(crowd):
            bot.api.user_sends(someone, f"wrong guess {n} sunflower")
        await bot.settle(timeout=30)
        return Counter(bot.texts(someone.id)[-1] for someone in crowd)

    real = await race(VICTIM_EMAIL, 5000)
    ghost = await race("nobody@example.com", 6000)
    assert real == ghost
    assert sum(real.values()) == 12
    assert sum(n for text, n in real.items() if texts.LOGIN_FAILED in text) == LIMIT
