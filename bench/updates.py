"""Updates/s and latency of a logged-in command (/me) over real HTTP, next to a bare PTB bot.

Run from the repository root (everything lives in a temp folder):

    python -m bench.updates [--quick] [--users 400] [--updates 3000] [--rate 50]
                            [--seconds 5] [--profile FILE]

Both bots run as separate processes, started the way they are deployed: ours is
``build_application(settings)`` with long polling (services built in ``post_init``, SQLite
file, JobQueue jobs and all) and its own ``bot/bot_request.py`` (one-connection httpx clients,
one per request in flight; PTB's ``HTTPXRequest`` for getUpdates); the baseline is a bare
python-telegram-bot ``Application`` as PTB ships it (``HTTPXRequest``, one pool) with one
``MessageHandler`` that echoes the text, with the same concurrency (256 updates at a time) and
the same outgoing rate limiter. So "CPU per /me" compares the bots as each is deployed: part
of ours' lead at the same concurrency is the HTTP client, not less work in our code
(``bench/me_inprocess.py`` measures our code alone). This process serves each bot its own
:class:`tests.support.fakeapi_http.FakeBotAPIServer`, plays the users and times each update from the
moment it is queued in the fake to the moment the fake receives the reply (``sendMessage``).
The fake never shares a process (or the GIL) with a bot.

Users and their sessions are made directly through core services before the bot starts
(``accounts.register(sign_in=True)``, as after /register), with ``security.captcha`` off and
rate limits far above the traffic, so every update passes the whole gate and the /me handler.

Scenarios (the two bots take turns, so load from other processes hits both alike):

1. burst: N updates queued at once from U users; updates/s = N / (last reply − first queued).
   Latencies here include the wait in the queue. Also the CPU time each bot's process used
   per update (all its threads, from /proc): on a machine shared with other work, a steadier
   comparison than the rate. For scale, the bare bot also runs one update at a time (PTB's
   default): with 256 requests in flight httpcore's connection pool costs more per request.
2. paced: /me at a steady ``--rate`` per second; p50/p99 latency.
3. logins: the same paced /me stream while 20 users' passwords (argon2id checks) are in flight
   at once; p50/p99 of the /me updates queued during that window (target p99 < 100 ms).
4. as shipped: ``telegram.max_messages_per_second = 30`` (Telegram's limit for the whole
   bot) for the logins scenario, and (full mode) a burst of each bot.

Both bots use the same outgoing limiter, ``bot/outgoing.py``'s ``LaneRateLimiter`` at the
mode's ``telegram.max_messages_per_second`` (ours builds it from its config, as deployed).
Scenarios 1–3 set it to 0 (no cap, still retrying 429s): with the cap both bots answer at
most 30 updates/s and the comparison would show Telegram's limit, not the bots.
``--profile FILE`` runs ours under cProfile (scenarios 1–3), saves the statistics to FILE and
prints where its main thread spends the time (SQLite work happens in aiosqlite's thread and
shows as waiting).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import platform
import pstats
import signal
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseRateLimiter,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.fake_telegram import FakeBotAPI, Message, TelegramUser
from tests.support.fakeapi_http import FakeBotAPIServer

REPO = Path(__file__).resolve().parent.parent
VERZEK, ECHO = "verzek", "echo"
SEQUENTIAL = "echo-1"  # results key of the bare bot one update at a time (PTB's default)
LIFTED, SHIPPED = "lifted", "shipped"
LOGINS = 20
PASSWORD = "violet canyon trumpet 42 orbit"
ME_USER_BASE = 5_000_000
LOGIN_USER_BASE = 6_000_000
TOKEN = "123456789:AAbenchmarkTOKENforTheFakeBotAPI000000"
WAIT_SECONDS = 120.0
P99_TARGET_MS = 100.0
RATIO_TARGET = 0.7
CPU_TARGET = 1.15


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the bots (child processes) ------------------------------------------------------------


LANES, SINGLE = "lanes", "single"  # outgoing limiters: ours (two lanes), PTB's (one queue)
NOTICES_COMMAND = "/bench_notices"  # ours in a child: queue N bulk notices (bench/lanes.py)
NOTICE_BASE = 7_000_000  # the chats the notices go to


def outgoing_limiter(settings: Any, limiter: str) -> BaseRateLimiter[Any]:
    """The same limiter for both bots, at ``telegram.max_messages_per_second`` of the mode's
    config (30 as shipped, 0 lifted): ours (two lanes) or PTB's ``AIORateLimiter``."""
    from bot.outgoing import LaneRateLimiter

    rate = settings.telegram.max_messages_per_second
    if limiter == SINGLE:
        return AIORateLimiter(overall_max_rate=rate, group_max_rate=20 if rate else 0)
    return LaneRateLimiter(rate)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The whole baseline bot: answer with the text received."""
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


async def queue_notices(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/bench_notices N``: queue N notices to N chats at once, as a job would (no update's
    reply: bulk), and let the update go no further."""
    from bot.outgoing import REPLYING_TO

    message = update.effective_message
    count = int(message.text.split()[1]) if message is not None and message.text else 0
    token = REPLYING_TO.set(None)  # the tasks copy this: what they send is not a reply
    try:
        for k in range(count):
            context.application.create_task(
                context.bot.send_message(NOTICE_BASE + k, f"notice {k}")
            )
    finally:
        REPLYING_TO.reset(token)
    raise ApplicationHandlerStop


def run_bot(
    kind: str, mode: str, profile: Path | None, concurrency: int = 256, limiter: str = LANES
) -> None:
    """Child process: run one bot with long polling until SIGTERM."""
    from bot.app import build_application
    from bot.logging_setup import configure_logging
    from core.config import load_settings

    config = os.environ["BENCH_CONFIG" if mode == SHIPPED else "BENCH_CONFIG_LIFTED"]
    settings = load_settings(Path(config), os.environ)
    configure_logging("WARNING", [TOKEN])
    if kind == VERZEK:
        # Ours as shipped: its limiter comes from telegram.max_messages_per_second.
        replaced = None if limiter == LANES else outgoing_limiter(settings, limiter)
        application: Any = build_application(settings, rate_limiter=replaced)
        application.add_handler(
            MessageHandler(filters.Regex(rf"^{NOTICES_COMMAND} \d+$"), queue_notices), group=-2
        )
    else:
        application = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(settings.telegram.base_url)
            .concurrent_updates(concurrency)  # 256: what PerUserUpdateProcessor() allows
            .rate_limiter(outgoing_limiter(settings, limiter))
            .build()
        )
        application.add_handler(MessageHandler(filters.TEXT, echo))
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    try:
        application.run_polling(drop_pending_updates=False)
    finally:
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)


# --- users and their sessions, straight through core services --------------------------------


def me_users(count: int) -> list[TelegramUser]:
    return [TelegramUser(ME_USER_BASE + k, f"User{k}") for k in range(count)]


def login_users(count: int = LOGINS) -> list[TelegramUser]:
    return [TelegramUser(LOGIN_USER_BASE + k, f"Login{k}") for k in range(count)]


def email_of(user: TelegramUser) -> str:
    return f"u{user.id}@bench.example.com"


async def create_accounts(
    env: dict[str, str], config: Path, users: int, logins: int = LOGINS
) -> None:
    """Accounts for every user; sessions for the /me users (the login users log in later)."""
    from bot.bootstrap import bootstrap
    from core.config import load_settings

    services = await bootstrap(load_settings(config, env))
    try:
        # One real argon2id hash serves every account: the setup times nothing.
        password_hash = await services.accounts.passwords.hash(PASSWORD)
        for user in [*me_users(users), *login_users(logins)]:
            await services.accounts.register(
                email=email_of(user),
                password_hash=password_hash,
                referral_code=None,
                telegram_user_id=user.id,
                # Signed in as /register does, in the same transaction: no password check (it
                # is what scenario 3 times; here it would only cost minutes) and no hand-made
                # LoginAttempt, which complete_login rightly refuses (no check time: expired).
                sign_in=user.id < LOGIN_USER_BASE,
            )
    finally:
        await services.aclose()


# --- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    chat_id: int
    queued_at: float
    replied_at: float
    text: str

    @property
    def latency(self) -> float:
        return self.replied_at - self.queued_at


class Replies:
    """Pairs each reply the fake receives with the oldest unanswered update of that chat."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.queued: dict[int, deque[float]] = {}
        self.samples: list[Sample] = []
        self.unexpected = 0
        self._changed = asyncio.Event()
        api.listeners.append(self._on_event)

    def send(self, user: TelegramUser, text: str) -> None:
        message = self.api.user_sends(user, text)
        self.queued.setdefault(user.id, deque()).append(message.sent_at)

    def _on_event(self, kind: str, message: Message) -> None:
        if kind != "sent":
            return
        waiting = self.queued.get(message.chat_id)
        if not waiting:
            self.unexpected += 1
            return
        queued_at = waiting.popleft()
        self.samples.append(Sample(message.chat_id, queued_at, time.monotonic(), message.plain))
        self._changed.set()

    def outstanding(self, chats: Iterable[int] | None = None) -> int:
        keys = self.queued.keys() if chats is None else chats
        return sum(len(self.queued.get(chat, ())) for chat in keys)

    async def settle(
        self, chats: Iterable[int] | None = None, bot: BotProcess | None = None
    ) -> None:
        """Wait until every update sent (to ``chats``) has its reply."""
        wanted = None if chats is None else list(chats)
        deadline = time.monotonic() + WAIT_SECONDS
        while self.outstanding(wanted):
            if bot is not None and bot.returncode is not None:
                raise SystemExit(f"the {bot.label} bot exited ({bot.returncode}):\n{bot.stderr}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.outstanding(wanted)} updates got no reply in time")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=0.5)
            except TimeoutError:
                pass


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Figures:
    """Latencies (seconds) of one kind of run, pooled over rounds, plus per-round rates and
    CPU seconds per update of the bot's process and of the fake (this process)."""

    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    bot_cpu: list[float] = field(default_factory=list)
    fake_cpu: list[float] = field(default_factory=list)

    def add(self, samples: list[Sample], count_rate: bool = False) -> None:
        self.latencies += [s.latency for s in samples]
        if count_rate and samples:
            first = min(s.queued_at for s in samples)
            last = max(s.replied_at for s in samples)
            self.rates.append(len(samples) / (last - first))

    def add_cpu(self, bot: float, fake: float, updates: int) -> None:
        self.bot_cpu.append(bot / updates)
        self.fake_cpu.append(fake / updates)

    def cpu_line(self) -> str:
        if not self.bot_cpu:
            return ""
        bot = statistics.median(self.bot_cpu) * 1000
        fake = statistics.median(self.fake_cpu) * 1000
        spread = f"{min(self.bot_cpu) * 1000:.2f}–{max(self.bot_cpu) * 1000:.2f}"
        return f"CPU per update: bot {bot:.2f} ms (rounds {spread}), fake {fake:.2f} ms"

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    def p(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) if self.latencies else float("nan")

    def line(self) -> str:
        rate = f"{self.rate:8,.0f} updates/s   " if self.rates else ""
        if len(self.rates) > 1:  # the spread of the rounds: the machine is shared
            rate += f"(rounds {min(self.rates):,.0f}–{max(self.rates):,.0f})  "
        return (
            f"{rate}p50 {ms(self.p(0.5)):>9}  p99 {ms(self.p(0.99)):>9}  "
            f"max {ms(max(self.latencies)):>9}  ({len(self.latencies):,} updates)"
        )


# --- scenarios ---------------------------------------------------------------------------------


async def burst(
    replies: Replies,
    users: list[TelegramUser],
    count: int,
    bot: BotProcess,
    figures: Figures | None = None,
) -> list[Sample]:
    mark = len(replies.samples)
    bot_cpu, fake_cpu = bot.cpu_seconds(), time.process_time()
    for k in range(count):
        replies.send(users[k % len(users)], "/me")
    await replies.settle(bot=bot)
    samples = replies.samples[mark:]
    if figures is not None:
        figures.add(samples, count_rate=True)
        figures.add_cpu(bot.cpu_seconds() - bot_cpu, time.process_time() - fake_cpu, count)
    return samples


async def paced(
    replies: Replies,
    users: list[TelegramUser],
    rate: float,
    *,
    seconds: float | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Open loop: one /me every 1/rate s (catching up if a sleep overshoots)."""
    start = time.monotonic()
    k = 0
    while not (stop is not None and stop.is_set()) and (seconds is None or k < rate * seconds):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        replies.send(users[k % len(users)], "/me")
        k += 1


async def paced_run(
    replies: Replies, users: list[TelegramUser], rate: float, seconds: float, bot: BotProcess
) -> list[Sample]:
    mark = len(replies.samples)
    await paced(replies, users, rate, seconds=seconds)
    await replies.settle(bot=bot)
    return replies.samples[mark:]


@dataclass
class LoginRound:
    me: list[Sample]
    login_seconds: float
    logged_in: int


async def logins_under_load(
    replies: Replies, users: list[TelegramUser], rate: float, bot: BotProcess, count: int
) -> LoginRound:
    """``count`` logins' password checks at once, inside a steady /me stream."""
    logins = login_users(count)
    chats = [u.id for u in logins]
    for user in logins:  # to the password step: /login, then the email
        replies.send(user, "/login")
    await replies.settle(chats, bot)
    for user in logins:
        replies.send(user, email_of(user))
    await replies.settle(chats, bot)
    await asyncio.sleep(1.0)  # quiet again (as shipped, the outgoing limiter's bucket drains)
    stop = asyncio.Event()
    stream = asyncio.create_task(paced(replies, users, rate, stop=stop))
    await asyncio.sleep(0.5)  # the stream runs steadily before the logins start
    mark = len(replies.samples)
    started = time.monotonic()
    for user in logins:
        replies.send(user, PASSWORD)
    await replies.settle(chats, bot)
    ended = time.monotonic()
    await asyncio.sleep(0.2)
    stop.set()
    await stream
    await replies.settle(bot=bot)
    new = replies.samples[mark:]
    me = [s for s in new if s.chat_id not in chats and started <= s.queued_at <= ended]
    done = [s for s in new if s.chat_id in chats and "You're logged in" in s.text]
    return LoginRound(me, ended - started, len(done))


# --- orchestration -----------------------------------------------------------------------------


class BotProcess:
    """One bot in a child process, with its own fake Bot API server in this process."""

    def __init__(
        self,
        kind: str,
        mode: str,
        workdir: Path,
        env: dict[str, str],
        concurrency: int = 256,
        limiter: str = LANES,
    ) -> None:
        self.kind, self.mode, self.concurrency, self.limiter = kind, mode, concurrency, limiter
        self.label = f"{kind} ({mode})" if concurrency == 256 else f"{kind} ({mode}, {concurrency})"
        self.workdir = workdir
        self.env = env
        self.server = FakeBotAPIServer(FakeBotAPI())
        self.replies = Replies(self.server.api)
        self.process: asyncio.subprocess.Process | None = None
        self.profile: Path | None = None
        self._log = workdir / f"{kind}-{mode}-{concurrency}-{limiter}.log"
        self._log_file: IO[bytes] | None = None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    @property
    def stderr(self) -> str:
        return self._log.read_text(errors="replace")[-3000:]

    def cpu_seconds(self) -> float:
        return process_cpu(self.process.pid) if self.process else float("nan")

    async def start(self, profile: Path | None, warm_users: list[TelegramUser]) -> None:
        await self.server.start()
        env = {**self.env, "TELEGRAM_BASE_URL": self.server.base_url}
        args = ["--child", self.kind, "--mode", self.mode, "--concurrency", str(self.concurrency)]
        args += ["--limiter", self.limiter]
        if profile:
            self.profile = profile
            args += ["--profile-to", str(self.profile)]
        self._log_file = self._log.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.updates",
            *args,
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
        )
        # Warm-up: every user once (imports, connections, caches), then a short burst.
        for user in warm_users:
            self.replies.send(user, "/me")
        await self.replies.settle(bot=self)
        await burst(self.replies, warm_users, len(warm_users), self)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
        await self.server.stop()


@dataclass(frozen=True)
class Plan:
    users: int
    updates: int
    rounds: int
    rate: float
    paced_seconds: float
    login_rounds: int
    shipped_burst: int
    logins: int = LOGINS


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"load average {load} at the start"
    )


def print_profile(path: Path, limit: int = 25) -> None:
    print(f"\nprofile of ours (main thread; SQLite runs in aiosqlite's thread): {path}")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(limit)


def environment(workdir: Path) -> dict[str, str]:
    """The bots' configuration: captcha off, limits far above the traffic, all in ``workdir``."""
    from core.crypto import generate_master_key

    config, lifted = workdir / "config.toml", workdir / "config-lifted.toml"
    room = "1000000/minute"
    common = (
        "[security]\ncaptcha = false\n"
        f'[rate_limits]\nauth = "{room}"\ndefault = "{room}"\n'
        f'[rate_limits.tiers]\nfree = "{room}"\nbasic = "{room}"\npro = "{room}"\n'
        f'[backups]\ndir = "{workdir / "backups"}"\n'
    )
    config.write_text(common + "[telegram]\nmax_messages_per_second = 30\n")  # as shipped
    lifted.write_text(common + "[telegram]\nmax_messages_per_second = 0\n")  # no cap
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "TRONSCAN_", "ADMIN_"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "BENCH_CONFIG": str(config),
            "BENCH_CONFIG_LIFTED": str(lifted),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "ADMIN_CHAT_ID": "-100500",
            "VERZEK_ADMINS": "9001",
            "VERZEK_DB": str(workdir / "data" / "verzek.db"),
            "ENCRYPTION_MASTER_KEY": generate_master_key(),
        }
    )
    return env


@dataclass
class Results:
    """Everything measured, by (bot, scenario)."""

    lifted: dict[tuple[str, str], Figures] = field(default_factory=dict)
    login_seconds: list[float] = field(default_factory=list)
    shipped_logins: Figures = field(default_factory=Figures)
    shipped_bursts: dict[str, Figures] = field(default_factory=dict)

    def get(self, kind: str, scenario: str) -> Figures:
        return self.lifted.setdefault((kind, scenario), Figures())


async def lifted_phase(
    plan: Plan, workdir: Path, env: dict[str, str], profile: Path | None, results: Results
) -> Path | None:
    """Scenarios 1–3, both bots without the 30 messages/s cap; returns ours' profile."""
    users = me_users(plan.users)
    ours = BotProcess(VERZEK, LIFTED, workdir, env)
    bare = BotProcess(ECHO, LIFTED, workdir, env)
    sequential = BotProcess(ECHO, LIFTED, workdir, env, concurrency=1)
    bots = [ours, bare]
    keys = {id(ours): VERZEK, id(bare): ECHO, id(sequential): SEQUENTIAL}
    try:
        progress("starting the bots …")
        await asyncio.gather(
            *(b.start(profile if b is ours else None, users) for b in [*bots, sequential])
        )
        for round_ in range(plan.rounds):
            turn = bots if round_ % 2 == 0 else bots[::-1]
            for bot in [*turn, sequential]:
                progress(f"round {round_ + 1}: {bot.label} burst of {plan.updates:,}")
                figures = results.get(keys[id(bot)], "burst")
                await burst(bot.replies, users, plan.updates, bot, figures)
            for bot in turn:
                progress(f"round {round_ + 1}: {bot.label} paced {plan.rate:g}/s")
                samples = await paced_run(bot.replies, users, plan.rate, plan.paced_seconds, bot)
                results.get(bot.kind, "paced").add(samples)
        for round_ in range(plan.login_rounds):
            progress(
                f"logins round {round_ + 1}: {plan.logins} logins under /me at {plan.rate:g}/s"
            )
            result = await logins_under_load(ours.replies, users, plan.rate, ours, plan.logins)
            if result.logged_in != plan.logins:
                raise SystemExit(f"only {result.logged_in} of {plan.logins} logins succeeded")
            results.get(VERZEK, "logins").add(result.me)
            results.login_seconds.append(result.login_seconds)
    finally:
        await asyncio.gather(*(b.stop() for b in [*bots, sequential]))
    return ours.profile


async def shipped_phase(
    plan: Plan, workdir: Path, env: dict[str, str], results: Results, rate: float
) -> None:
    """Scenario 4: ours as shipped (30 messages/s) with 20 logins; bursts in full mode."""
    users = me_users(plan.users)
    ours = BotProcess(VERZEK, SHIPPED, workdir, env)
    bots = [ours, BotProcess(ECHO, SHIPPED, workdir, env)] if plan.shipped_burst else [ours]
    try:
        progress("as shipped (30 messages/s): starting …")
        await asyncio.gather(*(b.start(None, users[:20]) for b in bots))
        progress(f"as shipped: {plan.logins} logins under /me at {rate:g}/s")
        result = await logins_under_load(ours.replies, users, rate, ours, plan.logins)
        results.shipped_logins.add(result.me)
        for bot in bots if plan.shipped_burst else []:
            await asyncio.sleep(1.5)  # the limiter's bucket drains
            progress(f"as shipped: {bot.label} burst of {plan.shipped_burst}")
            figures = results.shipped_bursts.setdefault(bot.kind, Figures())
            await burst(bot.replies, users, plan.shipped_burst, bot, figures)
    finally:
        await asyncio.gather(*(b.stop() for b in bots))


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(plan: Plan, results: Results, shipped_rate: float) -> None:
    ours, bare = results.get(VERZEK, "burst"), results.get(ECHO, "burst")
    ratio = ours.rate / bare.rate if bare.rate else 0.0
    cpu_ratio = statistics.median(ours.bot_cpu) / statistics.median(bare.bot_cpu)
    logins = results.get(VERZEK, "logins")
    p99 = logins.p(0.99) * 1000
    print("\noutgoing 30 messages/s cap lifted for both bots (the bots' own cost):")
    print(f"  burst  ours /me      {ours.line()}")
    print(f"                       {ours.cpu_line()}")
    print(f"  burst  bare echo     {bare.line()}")
    print(f"                       {bare.cpu_line()}")
    sequential = results.get(SEQUENTIAL, "burst")
    print("  burst  bare echo, one update at a time (PTB's default):")
    print(f"                       {sequential.line()}")
    print(f"                       {sequential.cpu_line()}")
    cpu = {k: statistics.median(f.bot_cpu) * 1000 for k, f in [("ours", ours), ("bare", bare)]}
    cpu_one = statistics.median(sequential.bot_cpu) * 1000
    print(
        f"  CPU per update, same outgoing limiter: ours {cpu['ours']:.2f} ms vs bare echo "
        f"{cpu['bare']:.2f} ms at the same concurrency ({cpu['ours'] / cpu['bare']:.2f}x, "
        f"target ≤ {CPU_TARGET}: {verdict(cpu['ours'] <= CPU_TARGET * cpu['bare'])}); "
        f"{cpu_one:.2f} ms one at a time ({cpu['ours'] / cpu_one:.2f}x)"
    )
    best, best_rate = max(
        [("256 at a time", bare.rate), ("one at a time", sequential.rate)], key=lambda item: item[1]
    )
    best_ratio = ours.rate / best_rate if best_rate else 0.0
    print(
        f"  throughput ours/bare: {ratio:.2f} at the same concurrency; {best_ratio:.2f} of the "
        f"bare bot at its best ({best}, {best_rate:,.0f}/s; target ≥ {RATIO_TARGET}: "
        f"{verdict(best_ratio >= RATIO_TARGET)})"
    )
    print(f"  paced  ours /me      {results.get(VERZEK, 'paced').line()}")
    print(f"  paced  bare echo     {results.get(ECHO, 'paced').line()}")
    print(f"  ours /me while {plan.logins} logins are in flight (paced {plan.rate:g}/s):")
    print(f"                       {logins.line()}")
    print(
        f"  the {plan.logins} password checks took "
        f"{statistics.median(results.login_seconds):.2f} s "
        f"(median); /me p99 {p99:.1f} ms (target < {P99_TARGET_MS:.0f} ms: "
        f"{verdict(p99 < P99_TARGET_MS)})"
    )
    if results.shipped_logins.latencies:
        print("as shipped (telegram.max_messages_per_second = 30, both bots' LaneRateLimiter):")
        print(f"  ours /me while {plan.logins} logins are in flight (paced {shipped_rate:g}/s):")
        print(f"                       {results.shipped_logins.line()}")
        for kind, figures in results.shipped_bursts.items():
            name = "ours /me " if kind == VERZEK else "bare echo"
            print(f"  burst  {name}     {figures.line()}")
    print(
        f"RESULT: ours {ours.rate:,.0f} updates/s vs bare {bare.rate:,.0f} ({ratio:.2f}x; "
        f"{best_ratio:.2f}x of bare at its best); CPU per /me {cpu_ratio:.2f}x bare's; "
        f"/me p99 {p99:.0f} ms with {plan.logins} logins in flight"
    )


async def bench(plan: Plan, profile: Path | None) -> int:
    print(f"machine: {machine()}")
    print(
        f"plan: {plan.users} logged-in users; bursts of {plan.updates:,} /me x {plan.rounds} "
        f"rounds; paced {plan.rate:g}/s for {plan.paced_seconds:g} s x {plan.rounds}; "
        f"{plan.logins} logins x {plan.login_rounds} rounds"
    )
    results = Results()
    shipped_rate = min(plan.rate, 20.0)
    with tempfile.TemporaryDirectory(prefix="verzek-bench-") as tmp:
        workdir = Path(tmp)
        env = environment(workdir)
        progress(f"creating {plan.users + plan.logins} accounts and {plan.users} sessions …")
        started = time.perf_counter()
        await create_accounts(env, Path(env["BENCH_CONFIG"]), plan.users, plan.logins)
        progress(f"  done in {time.perf_counter() - started:.1f} s")
        written = await lifted_phase(plan, workdir, env, profile, results)
        if profile is None:
            await shipped_phase(plan, workdir, env, results, shipped_rate)
    report(plan, results, shipped_rate)
    if written is not None and written.exists():
        print("(ours ran under cProfile: its figures above are slower than without it)")
        print_profile(written)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--users", type=int, default=None, help="logged-in users (400)")
    parser.add_argument("--updates", type=int, default=None, help="updates per burst (3000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario (3)")
    parser.add_argument("--rate", type=float, default=50.0, help="paced /me per second")
    parser.add_argument("--seconds", type=float, default=None, help="per paced stream (5)")
    parser.add_argument("--logins", type=int, default=LOGINS, help="logins in flight (20)")
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="cProfile ours into FILE and print the top"
    )
    parser.add_argument("--child", choices=[VERZEK, ECHO], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=[LIFTED, SHIPPED], default=LIFTED, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--limiter", choices=[LANES, SINGLE], default=LANES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_bot(args.child, args.mode, args.profile_to, args.concurrency, args.limiter)
        return 0
    quick = args.quick
    plan = Plan(
        users=args.users or (100 if quick else 400),
        updates=args.updates or (600 if quick else 3000),
        rounds=args.rounds or (2 if quick else 3),
        rate=args.rate,
        paced_seconds=args.seconds or (2.0 if quick else 5.0),
        login_rounds=1 if quick else 3,
        shipped_burst=0 if quick else 150,
        logins=args.logins,
    )
    profile = args.profile.resolve() if args.profile else None
    return asyncio.run(bench(plan, profile))


if __name__ == "__main__":
    sys.exit(main())
