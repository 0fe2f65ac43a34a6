"""Two real ``verzek run`` processes behind one webhook (SPEC §13, issue #21).

The fleet of tests/support/fleet.py: two instances in webhook mode on one PostgreSQL database
and one Redis, the fake Telegram spreading updates over both round robin like a load balancer
(so every flow hops instances at each step), the fake TronScan over HTTP. Users register and
log in at once, an admin approves a USDT payment with 2FA, attackers raise an alert storm, and
the job leader is killed with SIGKILL in the middle (between deliveries; a kill while updates
are in flight is tests/test_webhook_ack_kill.py): nothing is lost or said twice, and the other
instance takes the jobs over within the lease.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path

import httpx
import pyotp
import pytest

from bot.fake_telegram import TelegramUser
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fake_tronscan import RECEIVE_ADDRESS, tx_hash
from tests.support.fleet import Fleet, fleet

PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"
SECRET_RE = re.compile(r"\b([A-Z2-7]{32})\b")
ALERT_RE = re.compile(r"Repeated failed logins\nWho: Telegram user (\d+)\n")
LEASE_SECONDS = 6
EXTRA = f"""[payments]
receive_address = "{RECEIVE_ADDRESS}"
[alerts]
failed_logins = 2
"""
# Replies each step gives (what the chats must hold at the end, no more, no less).
REGISTER_REPLIES, LOGIN_REPLIES, ATTACK_REPLIES = 5, 4, 4

pytestmark = pytest.mark.slow


async def register(f: Fleet, user: TelegramUser, email: str) -> None:
    await f.say(user, "/register")
    await f.say(user, email)
    await f.say(user, PASSWORD)
    (prompt,) = await f.say(user, PASSWORD)
    (done,) = await f.press(user, prompt, "Skip")
    assert f"Your account {email} is ready, and you're logged in" in done.plain, done.plain


async def login(f: Fleet, user: TelegramUser, email: str) -> None:
    (bye,) = await f.say(user, "/logout")
    assert "logged out" in bye.plain.lower(), bye.plain
    await f.say(user, "/login")
    await f.say(user, email)
    (welcome,) = await f.say(user, PASSWORD)
    assert f"You're logged in as {email}" in welcome.plain, welcome.plain


async def admin_with_2fa(f: Fleet, admin: TelegramUser) -> pyotp.TOTP:
    await register(f, admin, "admin@example.com")
    await f.say(admin, "/2fa_enroll")
    _photo, manual, _prompt = await f.say(admin, PASSWORD, replies=3)
    (secret,) = SECRET_RE.findall(manual.plain.replace(" ", ""))
    totp = pyotp.TOTP(secret)
    (done,) = await f.say(admin, totp.now())
    assert "Two-factor authentication is on" in done.plain, done.plain
    return totp


async def attack(f: Fleet, attacker: TelegramUser) -> None:
    """Two wrong passwords for an email nobody has: a failed_logins alert (threshold 2)."""
    await f.say(attacker, "/login")
    await f.say(attacker, f"nobody{attacker.id}@example.com")
    for _ in range(2):
        (wrong,) = await f.say(attacker, WRONG)
        assert "The email or password is not correct" in wrong.plain, wrong.plain


def alerted(f: Fleet) -> Counter[int]:
    """How many failed-login alerts the admin chat got, by Telegram user."""
    return Counter(int(m) for t in f.texts(ADMIN_CHAT_ID) for m in ALERT_RE.findall(t))


@pytest.mark.postgres_only
async def test_two_instances_one_truth_and_a_kill_9(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    async with fleet(
        tmp_path,
        2,
        database_url=postgres_url,
        spread="round_robin",
        redis_url=redis_url,
        lease_seconds=LEASE_SECONDS,
        extra_config=EXTRA,
    ) as f:
        await f.wait("one job leader", lambda: len(f.leaders()) == 1)
        async with httpx.AsyncClient(timeout=5) as client:  # the proxy's health check
            for port in f.ports:
                probe = await client.get(f"http://127.0.0.1:{port}/telegram/hook")
                assert probe.status_code == 405, "deploy/Caddyfile's health_status"
        admin = TelegramUser(ADMIN_ID, "Admin")
        totp = await admin_with_2fa(f, admin)

        # Registrations and logins, three users at once, spread over both instances.
        traders = [TelegramUser(6000 + i, f"Trader {i}") for i in range(3)]
        await asyncio.gather(*(register(f, t, f"t{t.id}@example.com") for t in traders))
        await asyncio.gather(*(login(f, t, f"t{t.id}@example.com") for t in traders))
        assert set(f.delivery.delivered_to.values()) == set(f.delivery.targets), "both served"

        # A USDT payment the chain does not show yet, approved by the admin with 2FA.
        payer = traders[0]
        (pick,) = await f.say(payer, "/subscribe")
        (invoice,) = await f.press(payer, pick, "sub:basic")
        assert "Invoice #1" in invoice.plain and "exactly 29.00 USDT" in invoice.plain
        # The reply, and the first check's word may follow it before the fake is read.
        paid, *_ = await f.say(payer, f"/pay 1 {tx_hash(1)}")
        await f.wait("the pending check", lambda: "isn't on the chain yet" in f.texts(payer.id)[-1])
        (ask,) = await f.say(admin, "/approve 1")
        assert "Send your 6-digit 2FA code" in ask.plain and "t6000@example.com" in ask.plain
        (approved,) = await f.say(admin, totp.at(time.time() + 30))  # a newer step than enrolment
        assert "Payment #1 approved by you" in approved.plain, approved.plain
        await f.wait("the payer told", lambda: "Payment #1 confirmed" in f.texts(payer.id)[-1])

        # An alert storm; the leader is killed (SIGKILL: no lease handed back) in its middle.
        attackers = [TelegramUser(7000 + i, f"Attacker {i}") for i in range(4)]
        await asyncio.gather(*(attack(f, a) for a in attackers[:2]))
        (leader,) = f.leaders()
        (survivor,) = [i for i in f.alive() if i != leader]
        await f.kill(leader)
        killed_at = time.monotonic()
        await asyncio.gather(*(attack(f, a) for a in attackers[2:]))
        await f.wait("the take-over", lambda: f.leaders() == [survivor], timeout=4 * LEASE_SECONDS)
        took = time.monotonic() - killed_at
        assert took < 2 * LEASE_SECONDS + 5, f"jobs moved after {took:.1f} s"
        await f.wait("every alert", lambda: set(alerted(f)) == {a.id for a in attackers})

        # Everyone is still served (by the survivor): sessions live in the database.
        for trader in traders:
            (me,) = await f.say(trader, "/me")
            assert f"t{trader.id}@example.com" in me.plain, me.plain
            assert ("basic" in me.plain) == (trader is payer), me.plain  # one license

        await asyncio.sleep(2 * 1.0 + 1)  # outbox ticks: anything sent twice shows up now
        assert alerted(f) == Counter({a.id: 1 for a in attackers}), f.texts(ADMIN_CHAT_ID)
        for trader in traders[1:]:
            assert len(f.texts(trader.id)) == REGISTER_REPLIES + LOGIN_REPLIES + 1
        for attacker in attackers:
            assert len(f.texts(attacker.id)) == ATTACK_REPLIES
        confirmed = [t for t in f.texts(payer.id) if "Payment #1 confirmed" in t]
        assert len(confirmed) == 1 and paid.plain
        delivered = f.delivery.delivered
        assert f.api.pending_updates == [] and len(delivered) == len(set(delivered))
        assert f.server.errors == []
        for i in f.alive():
            assert "Traceback" not in f.bots[i].stderr, f.bots[i].stderr
