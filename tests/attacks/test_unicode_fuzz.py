"""Any Unicode at any step of any flow: the bot answers politely and writes nothing it shouldn't.

The trick class: text a parser never expected. Hypothesis walks every flow to a chosen step
with valid answers, then sends generated text there and at the next step: the whole Unicode
range (surrogates excluded) mixed with right-to-left and zero-width marks, combining marks,
look-alike digits, the right 2FA code spelled in another script, and messages up to Telegram's
4096 characters. Codes included: the login, enrolment, disable, backup-codes, API-key,
kill-switch and withdrawal code steps all see the fuzz.

After every example: every fuzzed message got a reply (or, for a ``/`` command, possibly
none), no reply is "something went wrong", nothing was logged at ERROR, and the effect tables
are unchanged (accounts, live sessions, 2FA state, backup codes, API keys, money rows, kill
switch; a login, verification or registration never happened), except the one change a
fuzzed text may legitimately make: a new password or email that passes the real rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot import texts
from bot.fake_telegram import TelegramUser
from core.accounts.service import normalise_email
from core.clock import FakeClock, to_iso
from core.config import Settings, load_settings
from core.errors import Refusal
from core.services import Services
from tests.support import raw_db
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.throttle_steps import VICTIM_PASSWORD, enrol_2fa

NEW_PASSWORD = "quiet harbour lantern 77 meadow"  # a good new password, fuzzed at its 2nd typing

FUZZ = hypothesis_settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MARKS = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",  # zero-width
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2069",  # bidi
    "\u0301",
    "\u0336",
    "\u20e3",
    "\u0651",  # combining
]
SCRIPTS = {"arabic-indic": 0x0660, "persian": 0x06F0, "devanagari": 0x0966, "full-width": 0xFF10}
PIECE = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30),
    st.sampled_from(MARKS),
    st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=8),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=12),
)
TEXT = st.lists(PIECE, min_size=1, max_size=6).map("".join)


def _telegram_sized(text: str, size: int) -> str:
    """Repeat to ``size`` UTF-16 units at most (how Telegram counts its 4096 limit)."""
    out = (text * (size // max(1, len(text)) + 1))[:size]
    while len(out.encode("utf-16-le")) // 2 > 4096:
        out = out[:-1]
    return out


HUGE = st.builds(_telegram_sized, TEXT, st.integers(1000, 4096))
# ("text", t) is sent as is; ("code", script) is the user's current code in that script.
FUZZ_VALUE = st.one_of(
    TEXT.map(lambda t: ("text", t)),
    HUGE.map(lambda t: ("text", t)),
    st.sampled_from(sorted(SCRIPTS)).map(lambda s: ("code", s)),
)


@dataclass(frozen=True)
class Press:
    """A step that presses a button of the last reply."""

    button: str


CODE = "<code>"  # a code step (never sent with a right code: the fuzz goes there)
ADDRESS = "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE"
# flow -> (who, steps). A "§" in a step is replaced by the fuzz when that step is fuzzed.
FLOWS: dict[str, tuple[str, list[str | Press]]] = {
    "register": (
        "stranger",
        ["/register", "new.person@example.com", VICTIM_PASSWORD, VICTIM_PASSWORD, "§"],
    ),
    "login": ("stranger", ["/login", "member@example.com", VICTIM_PASSWORD, CODE]),
    "login: no 2FA": ("stranger", ["/login", "plain@example.com", "§"]),
    "password": ("plain", ["/password", VICTIM_PASSWORD, "§"]),
    "password: typed twice": ("plain", ["/password", VICTIM_PASSWORD, NEW_PASSWORD, "§"]),
    "email": ("plain", ["/email", VICTIM_PASSWORD, "§"]),
    "2fa enrol": ("plain", ["/2fa_enroll", VICTIM_PASSWORD, CODE]),
    "2fa disable": ("member", ["/2fa_disable", VICTIM_PASSWORD, CODE]),
    "backup codes": ("member", ["/backup_codes", CODE]),
    "api key add": ("member", ["/apikey_add", Press("Binance"), "main", "K" * 24, "S" * 32, CODE]),
    "api key delete": ("member", ["/apikey_delete §"]),
    "withdraw amount": ("member", [f"/withdraw § {ADDRESS}"]),
    "withdraw address": ("member", ["/withdraw 5 §"]),
    "pay": ("member", ["/pay § §"]),
    "activity": ("member", ["/activity §"]),
    "admin audit": ("admin", ["/audit §"]),
    "admin approve": ("admin", ["/approve §"]),
    "admin reject": ("admin", ["/reject § §"]),
    "admin verify": ("admin", ["/verify §"]),
    "admin restore": ("admin", ["/restore §"]),
    "admin withdrawal": ("admin", ["/complete_withdrawal § §"]),
    "admin kill switch": ("admin", ["/killswitch on fuzzing", CODE]),
    "admin kill switch args": ("admin", ["/killswitch §"]),
}
ACCOUNTS = {"member": (7001, "member@example.com"), "plain": (7002, "plain@example.com")}
ACCOUNTS["admin"] = (ADMIN_ID, "admin@example.com")
SNAPSHOT = {
    "users": "SELECT id, email, password_hash FROM users ORDER BY id",
    "live sessions": "SELECT account_id, telegram_user_id FROM sessions WHERE ended_at IS NULL"
    " ORDER BY 1, 2",
    "2fa on": "SELECT account_id FROM mfa WHERE enabled_at IS NOT NULL ORDER BY 1",
    "backup codes": "SELECT id, used_at FROM backup_codes ORDER BY id",
    "api keys": "SELECT id, account_id FROM api_keys ORDER BY id",
    "invoices": "SELECT id, status FROM invoices ORDER BY id",
    "payments": "SELECT id, status FROM payments ORDER BY id",
    "licenses": "SELECT id FROM licenses ORDER BY id",
    "wallet": "SELECT id FROM wallet_entries ORDER BY id",
    "withdrawals": "SELECT id, status FROM withdrawals ORDER BY id",
    "kill switch": "SELECT * FROM safety_state",
    "successes": "SELECT event_type, COUNT(*) FROM audit_events WHERE event_type IN"
    " ('LOGIN_SUCCESS', 'MFA_VERIFIED', 'MFA_ENABLED', 'MFA_DISABLED', 'REGISTERED')"
    " GROUP BY 1 ORDER BY 1",
}


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "fuzz.toml"
    # The fuzz must reach the handlers, not the limiter (tested on its own).
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "100000/minute"\n'
        'default = "100000/minute"\n[rate_limits.tiers]\nfree = "100000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
    )
    return load_settings(config, env)


@dataclass
class World:
    """Three logged-in accounts made once per test, and what must stay as it is."""

    bot: BotHarness
    clock: FakeClock
    caplog: pytest.LogCaptureFixture
    totps: dict[str, pyotp.TOTP] = field(default_factory=dict)
    originals: list[tuple[Any, ...]] = field(default_factory=list)
    stamps: list[tuple[Any, ...]] = field(default_factory=list)
    strangers: int = 300_000

    async def ensure(self) -> None:
        if self.originals:
            return
        services: Services = self.bot.services
        password_hash = await services.accounts.passwords.hash(VICTIM_PASSWORD)
        for who, (telegram_id, email) in ACCOUNTS.items():
            await services.accounts.register(
                email=email,
                password_hash=password_hash,
                referral_code=None,
                telegram_user_id=telegram_id,
            )
            attempt = await services.accounts.check_credentials(email, VICTIM_PASSWORD, telegram_id)
            session = (await services.accounts.complete_login(attempt, telegram_id)).session
            if who != "plain":
                self.totps[who] = await enrol_2fa(services, session, self.clock)
        self.originals = await self.rows(SNAPSHOT["users"])
        self.stamps = await self.rows("SELECT * FROM account_security")

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return await raw_db.rows(self.bot.settings, sql)

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return {name: await self.rows(sql) for name, sql in SNAPSHOT.items()}

    async def reset(self) -> None:
        """Between examples: fresh throttles (so each example reaches its step), the
        accounts' original email/password and security stamps (a fuzzed text may legitimately
        change them), and sessions kept fresh while the clock moves on."""
        self.clock.advance(seconds=31)  # a fresh TOTP step each example
        now = self.clock.now()
        place = self.bot.settings
        await raw_db.execute(place, "DELETE FROM account_security")
        for stamp in self.stamps:
            await raw_db.execute(
                place, "INSERT INTO account_security VALUES (?, ?, ?, ?, ?, ?)", *stamp
            )
        await raw_db.execute(
            place,
            "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE ended_at IS NULL",
            to_iso(now),
            to_iso(now + timedelta(hours=12)),
        )
        await raw_db.execute(place, "DELETE FROM login_failures")
        await raw_db.execute(place, "DELETE FROM mfa_failures")
        for account_id, email, password_hash in self.originals:
            await raw_db.execute(
                place,
                "UPDATE users SET email = ?, password_hash = ? WHERE id = ?",
                email,
                password_hash,
                account_id,
            )

    def user(self, who: str) -> TelegramUser:
        if who == "stranger":
            self.strangers += 1
            return self.bot.user(self.strangers)
        return self.bot.user(ACCOUNTS[who][0])

    def text_of(self, value: tuple[str, str], who: str) -> str:
        kind, payload = value
        if kind == "text":
            return payload
        totp = self.totps.get("member" if who == "stranger" else who, self.totps["member"])
        return "".join(chr(SCRIPTS[payload] + int(d)) for d in totp.at(self.clock.now()))

    def errors(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
def world(bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> World:
    caplog.set_level(logging.WARNING)
    return World(bot, clock, caplog)


async def send_step(world: World, user: TelegramUser, step: str | Press, fuzz: str | None):
    bot = world.bot
    if isinstance(step, Press):
        last = bot.api.sent_to(user.id)[-1]
        return await bot.press(user, last, step.button)
    if fuzz is None:
        return await bot.send(user, step)
    text = step.replace("§", fuzz) if "§" in step else fuzz
    return await bot.send(user, text)


async def legitimate_change(
    world: World, before: dict[str, Any], after: dict[str, Any], flow: str, fuzzed: list[str]
) -> bool:
    """A fuzzed new password or email that passes the real rules may change the account."""
    if before["users"] == after["users"] or flow not in {"password", "email"}:
        return False
    changed = [row for row in after["users"] if row not in before["users"]]
    if len(changed) != 1 or changed[0][0] != 2:  # only the "plain" account (id 2)
        return False
    _, email, password_hash = changed[0]
    services = world.bot.services
    for text in fuzzed:
        if flow == "email":
            try:
                if normalise_email(text) == email:
                    return True
            except Refusal:
                continue
        elif await services.accounts.passwords.verify(password_hash, text):
            return True
    return False


@FUZZ
@given(
    flow=st.sampled_from(sorted(FLOWS)),
    position=st.integers(0, 10),
    values=st.lists(FUZZ_VALUE, min_size=1, max_size=2),
)
async def test_every_step_of_every_flow_survives_any_unicode(
    world: World, flow: str, position: int, values: list[tuple[str, str]]
) -> None:
    await world.ensure()
    await world.reset()
    bot = world.bot
    who, steps = FLOWS[flow]
    user = world.user(who)
    await bot.send(user, "/cancel")
    fuzz_at = min(position, len(steps) - 1)
    for step in steps[:fuzz_at]:
        await send_step(world, user, step, None)
    before = await world.snapshot()
    errors = len(world.errors())
    fuzzed = [world.text_of(value, who) for value in values]
    for index, text in enumerate(fuzzed):
        # The first fuzz goes into the chosen step (a command keeps its name); the next one
        # is whatever step the bot is at then.
        step = steps[fuzz_at] if index == 0 else "§"
        if isinstance(step, Press):
            step = "§"
        sent = step.replace("§", text) if "§" in step else text
        replies = await send_step(world, user, step, text)
        if not sent.lstrip().startswith("/"):
            assert replies, (flow, fuzz_at, sent[:80])
        for reply in replies:
            assert reply.plain.strip(), (flow, fuzz_at)
            assert texts.INTERNAL_ERROR not in reply.plain, (flow, fuzz_at, sent[:80])
    assert world.errors()[errors:] == [], (flow, fuzz_at)
    after = await world.snapshot()
    if before != after and not await legitimate_change(world, before, after, flow, fuzzed):
        changed = {name for name in SNAPSHOT if before[name] != after[name]}
        raise AssertionError(f"{flow} step {fuzz_at} wrote {changed}")
