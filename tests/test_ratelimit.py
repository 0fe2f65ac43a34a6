"""Rate limiting (SPEC §5): the gate's limits per user, and outgoing flood control.

The in-memory windows run on the injected clock, so windows pass with ``clock.advance``
instead of sleeping. Redis runs where a server is at hand (the ``redis_url`` fixture of
tests/support/redis_server.py).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace

import pytest
from limits.errors import StorageError

from bot.fake_telegram import Message, TelegramUser
from core.adapters.ratelimit_storage import MemoryWindows
from core.audit.log import AuditLog, EventType
from core.clock import FakeClock
from core.config import SecretUrl, Settings
from core.errors import ConfigError
from core.ratelimit import RateLimitService, is_auth_step
from core.services import Services
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.services import build_services

TOO_MANY = "Too many requests — try again in {} s"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The product's auth limit; small tier limits so a test needs only a few messages."""
    limits = replace(
        settings.rate_limits,
        auth="5/minute",
        default="4/minute",
        tiers={"free": "3/minute", "basic": "6/minute", "pro": "10/minute"},
    )
    return replace(settings, rate_limits=limits)


class SettableTiers:
    """A TierResolver whose answer the test sets (licenses will answer in production)."""

    def __init__(self, tier: str = "free") -> None:
        self.tier = tier

    async def tier_for(self, telegram_user_id: int) -> str:
        return self.tier


async def sends(bot: BotHarness, user: TelegramUser, text: str, times: int) -> list[list[Message]]:
    return [await bot.send(user, text) for _ in range(times)]


async def breaches(audit: AuditLog) -> list:
    return [r async for r in audit.export() if r.event_type == EventType.RATE_LIMIT_EXCEEDED]


# --- the two classes of limits ---------------------------------------------------------------


async def test_tier_limit_answers_once_then_drops_silently(bot: BotHarness) -> None:
    alice = bot.user(1)
    for replies in await sends(bot, alice, "/help", 3):  # free: 3/minute
        assert "Commands" in replies[0].plain
    (refused,) = await bot.send(alice, "/help")
    assert refused.plain == TOO_MANY.format(60)
    for replies in await sends(bot, alice, "/help", 5):
        assert replies == []  # no reply storm
    assert await bot.send(alice, "anything at all") == []

    [event] = await breaches(bot.services.audit)
    assert event.telegram_user_id == 1 and event.severity == "warning"
    assert event.details == {
        "limit": "tier",
        "rule": "3 per 1 minute",
        "tier": "free",
        "retry_after_s": 60,
    }


async def test_auth_limit_counts_auth_commands_not_ordinary_steps(bot: BotHarness) -> None:
    alice = bot.user(1)
    for command in ("/login", "/register", "/login", "/register"):  # auth 1-4
        assert await bot.send(alice, command)
    # Email and password steps are tier hits (the login throttle caps password guessing).
    assert "Step 2 of 3" in (await bot.send(alice, "alice@example.com"))[0].plain
    (reply,) = await bot.send(alice, "short pass")
    assert "at least 12 characters" in reply.plain
    assert "Step 1 of 3" in (await bot.send(alice, "/register"))[0].plain  # auth 5
    (refused,) = await bot.send(alice, "/login")  # auth 6: refused
    assert refused.plain == TOO_MANY.format(60)
    assert await bot.send(alice, "/register") == []  # auth, same window: silent

    # /cancel is a tier hit, so a limited user can always end a flow.
    assert "Cancelled" in (await bot.send(alice, "/cancel"))[0].plain
    [event] = await breaches(bot.services.audit)
    assert event.details["limit"] == "auth" and "tier" not in event.details
    assert "alice" not in str(event.details)


async def test_retry_after_comes_from_the_moving_window(bot: BotHarness, clock: FakeClock) -> None:
    alice = bot.user(1)
    await bot.send(alice, "/login")  # t = 0
    clock.advance(seconds=10)
    await sends(bot, alice, "/login", 4)  # t = 10: the window now holds 5
    clock.advance(seconds=15)
    (refused,) = await bot.send(alice, "/login")  # t = 25: the hit of t = 0 leaves at 60
    assert refused.plain == TOO_MANY.format(35)
    assert (await breaches(bot.services.audit))[0].details["retry_after_s"] == 35

    clock.advance(seconds=35)  # t = 60: one slot is free again
    assert "Log in to Verzek" in (await bot.send(alice, "/login"))[0].plain
    assert await bot.send(alice, "/login") == []  # full again, and told already


async def test_next_window_answers_and_audits_again(bot: BotHarness, clock: FakeClock) -> None:
    alice = bot.user(1)
    await sends(bot, alice, "/help", 3)
    assert (await bot.send(alice, "/help"))[0].plain == TOO_MANY.format(60)
    assert await bot.send(alice, "/help") == []
    clock.advance(seconds=61)
    await sends(bot, alice, "/help", 3)
    assert (await bot.send(alice, "/help"))[0].plain == TOO_MANY.format(60)
    assert len(await breaches(bot.services.audit)) == 2


async def test_tier_change_changes_the_limit(bot: BotHarness) -> None:
    tiers = SettableTiers("free")
    bot.services.ratelimit.tiers = tiers
    alice = bot.user(1)
    assert [len(r) for r in await sends(bot, alice, "/help", 4)] == [1, 1, 1, 1]  # 4th: refusal
    assert await bot.send(alice, "/help") == []

    tiers.tier = "basic"  # e.g. a license was just approved: 6/minute
    assert all(r and "Commands" in r[0].plain for r in await sends(bot, alice, "/help", 6))
    (refused,) = await bot.send(alice, "/help")
    assert refused.plain == TOO_MANY.format(60)
    assert [e.details["tier"] for e in await breaches(bot.services.audit)] == ["free", "basic"]

    tiers.tier = "enterprise"  # a tier without a rule gets rate_limits.default (4/minute here)
    bob = bot.user(2)
    assert all(r for r in await sends(bot, bob, "/help", 4))
    assert (await bot.send(bob, "/help"))[0].plain == TOO_MANY.format(60)


async def test_a_limited_user_does_not_affect_others(bot: BotHarness) -> None:
    alice, bob = bot.user(1), bot.user(2)
    await sends(bot, alice, "/help", 4)
    await sends(bot, alice, "/login", 6)
    assert await bot.send(alice, "/help") == []
    for replies in await sends(bot, bob, "/help", 3):
        assert "Commands" in replies[0].plain
    assert "Log in to Verzek" in (await bot.send(bob, "/login"))[0].plain
    assert {e.telegram_user_id for e in await breaches(bot.services.audit)} == {1}


async def test_admins_are_not_exempt_from_the_auth_limit(bot: BotHarness) -> None:
    admin = bot.user(ADMIN_ID)
    for replies in await sends(bot, admin, "/login", 5):
        assert "Log in to Verzek" in replies[0].plain
    (refused,) = await bot.send(admin, "/login")
    assert refused.plain == TOO_MANY.format(60)
    [event] = await breaches(bot.services.audit)
    assert event.telegram_user_id == ADMIN_ID and event.details["limit"] == "auth"


async def test_a_refused_button_press_gets_one_alert(bot: BotHarness) -> None:
    alice = bot.user(1)
    (welcome,) = await bot.send(alice, "/start")
    await sends(bot, alice, "/help", 2)
    await bot.press_data(alice, welcome, "never-issued")  # 4th hit: refused
    assert bot.api.callback_answers[-1]["text"] == TOO_MANY.format(60)
    assert bot.api.callback_answers[-1]["show_alert"] is True
    await bot.press_data(alice, welcome, "never-issued")
    assert len(bot.api.callback_answers) == 1


async def test_group_chatter_costs_nothing(bot: BotHarness) -> None:
    alice = bot.user(1)
    for _ in range(10):
        assert await bot.send(alice, "just chatting", chat_id=-777) == []
    for replies in await sends(bot, alice, "/help", 3):
        assert "Commands" in replies[0].plain


def test_auth_steps_are_auth_commands_and_2fa_code_steps() -> None:
    assert is_auth_step("register", in_code_step=False)
    assert is_auth_step("login", in_code_step=False)
    assert not is_auth_step("2fa_enroll", in_code_step=False)  # only wrong codes count there
    assert is_auth_step(None, in_code_step=True)  # a password or code typed inside a flow
    assert not is_auth_step(None, in_code_step=False)  # email, password, captcha steps
    assert not is_auth_step("cancel", in_code_step=True)
    assert not is_auth_step("help", in_code_step=False)


async def test_every_code_step_belongs_to_a_conversation_of_the_bot(bot: BotHarness) -> None:
    from bot.flows import Flow

    handlers = [h for group in bot.app.handlers.values() for h in group]
    flows = {h.name: h for h in handlers if isinstance(h, Flow)}
    code_steps = {name: flow.guess_states for name, flow in flows.items() if flow.guess_states}
    assert {
        "login",
        "password",
        "email",
        "2fa_enroll",
        "2fa_disable",
        "backup_codes",
        "apikey_add",
        "apikey_delete",
        "approve_payment",
        "restore",
        "killswitch",
        "withdraw",
    } <= set(code_steps)
    for name, states in code_steps.items():
        assert states <= set(flows[name].states)
        assert all(flows[name].is_code_step(state) for state in states)


async def test_guesses_are_judged_by_the_auth_window_and_only_wrong_ones_fill_it(
    settings: Settings, services: Services, clock: FakeClock
) -> None:
    roomy = replace(settings.rate_limits, default="1000/minute", tiers={})
    storage = MemoryWindows(lambda: clock.now().timestamp())
    limiter = RateLimitService(roomy, storage, services.audit)
    for _ in range(20):  # right answers: the auth window (5/minute) stays empty
        assert (await limiter.check_guess(7)).allowed
    for _ in range(5):
        assert (await limiter.check_guess(7)).allowed
        await limiter.charge_failure(7)  # the step found the answer wrong
    refused = await limiter.check_guess(7)
    assert not refused.allowed and refused.notify and refused.limit == "auth"
    assert not (await limiter.check_guess(7)).notify  # told once per window
    assert (await limiter.check(7, auth=False)).allowed  # other updates: the tier decides
    clock.advance(seconds=61)
    assert (await limiter.check_guess(7)).allowed


# --- memory ----------------------------------------------------------------------------------


async def test_ended_windows_are_swept(settings: Settings, services: Services, clock: FakeClock):
    storage = MemoryWindows(lambda: clock.now().timestamp())
    limiter = RateLimitService(settings.rate_limits, storage, services.audit)
    for user_id in range(1, 1001):
        assert (await limiter.check(user_id, auth=False)).allowed
    for _ in range(5):
        await limiter.check(7, auth=True)
    assert not (await limiter.check(7, auth=True)).allowed  # adds a once-per-window mark
    assert len(storage) == 1000 + 1 + 1

    clock.advance(seconds=30)
    assert (await limiter.check(1, auth=False)).allowed  # user 1 stays active
    assert await limiter.sweep() == 0
    clock.advance(seconds=31)  # everyone else's window has ended
    assert await limiter.sweep() == 1000 + 1
    assert len(storage) == 1
    clock.advance(seconds=30)
    assert await limiter.sweep() == 1
    assert len(storage) == 0
    assert (await limiter.check(1, auth=False)).allowed


async def test_the_bot_sweeps_every_minute(bot: BotHarness) -> None:
    assert bot.app.job_queue is not None
    [job] = bot.app.job_queue.get_jobs_by_name("ratelimit-sweep")
    assert job.job.trigger.interval.total_seconds() == 60


async def test_a_failing_storage_lets_updates_pass_and_logs(
    settings: Settings, services: Services, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenWindows(MemoryWindows):
        async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
            raise StorageError(ConnectionError("Redis went away"))

    limiter = RateLimitService(settings.rate_limits, BrokenWindows(), services.audit)
    with caplog.at_level(logging.WARNING, "core.ratelimit"):
        assert (await limiter.check(1, auth=True)).allowed
    assert "letting the update pass: ConnectionError" in caplog.text


# --- outgoing: PTB's AIORateLimiter against 429 answers --------------------------------------


# PTB 22 warns (deprecation) while building RetryAfter from an int; harmless, and the
# warning filter of production ignores it, but this suite turns warnings into errors.
ignore_ptb_deprecation = pytest.mark.filterwarnings(
    "ignore::telegram.warnings.PTBDeprecationWarning"
)


@ignore_ptb_deprecation
async def test_replies_are_delivered_through_429s(bot: BotHarness) -> None:
    bot.api.fail("sendMessage", times=3, status=429, retry_after=1)
    (welcome,) = await bot.send(bot.user(1), "/start")
    assert "Welcome to Verzek Guard" in welcome.plain
    assert [m for m, _ in bot.api.calls].count("sendMessage") == 4  # 3 refused + 1 delivered


@ignore_ptb_deprecation
async def test_a_burst_of_replies_to_many_users_all_arrive(bot: BotHarness) -> None:
    users = [bot.user(5000 + i) for i in range(40)]
    bot.api.fail("sendMessage", times=1, status=429, retry_after=1)
    for user in users:
        bot.api.user_sends(user, "/start")
    await bot.settle()
    for user in users:
        (welcome,) = bot.api.sent_to(user.id)
        assert "Welcome to Verzek Guard" in welcome.plain
    assert [m for m, _ in bot.api.calls].count("sendMessage") == len(users) + 1


# --- Redis: several bot instances share the windows ------------------------------------------


@pytest.mark.slow
async def test_redis_windows_are_shared_by_bot_instances(
    settings: Settings, clock: FakeClock, redis_url: str
) -> None:
    limits = replace(settings.rate_limits, storage=SecretUrl(redis_url))
    shared = replace(settings, rate_limits=limits)
    first, second = await build_services(shared, clock), await build_services(shared, clock)
    try:
        user = 10**12 + secrets.randbelow(10**9)  # fresh keys on a long-lived server too
        for i in range(5):
            instance = (first, second)[i % 2]
            assert (await instance.ratelimit.check(user, auth=True)).allowed
        refused = await first.ratelimit.check(user, auth=True)
        assert not refused.allowed and refused.notify and 55 <= refused.retry_after <= 60
        again = await second.ratelimit.check(user, auth=True)
        assert not again.allowed and not again.notify  # told once, whichever instance
        assert len(await breaches(first.audit)) == 1
        assert (await second.ratelimit.check(user + 1, auth=True)).allowed
        assert await first.ratelimit.sweep() == 0  # Redis expires keys itself
    finally:
        await first.aclose()
        await second.aclose()


async def test_unreachable_redis_stops_start_up_with_one_line(settings: Settings) -> None:
    pytest.importorskip("redis", reason="the redis client is not installed")
    url = "redis://:hunter2@127.0.0.1:1/0"  # nothing listens on port 1
    broken = replace(settings, rate_limits=replace(settings.rate_limits, storage=SecretUrl(url)))
    with pytest.raises(ConfigError) as caught:
        await build_services(broken)
    assert caught.value.problems == ["rate_limits.storage: the Redis server does not answer"]
