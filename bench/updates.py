"""Updates/s and latency of a logged-in command (/me) over real HTTP, next to a bare PTB bot.

Run from the repository root (everything lives in a temp folder):

    python -m bench.updates [--quick] [--users 400] [--updates 3000] [--rate 50] [--profile]

Both bots run as separate processes, started the way they are deployed: ours is
``build_application(settings)`` with PTB's own ``HTTPXRequest`` and long polling (services built
in ``post_init``, SQLite file, JobQueue jobs and all); the baseline is a bare python-telegram-bot
``Application`` with one ``MessageHandler`` that echoes the text, with the same concurrency
(256 updates at a time) and the same outgoing rate limiter. This process serves each bot its own
:class:`bot.fakeapi_http.FakeBotAPIServer`, plays the users and times each update from the
moment it is queued in the fake to the moment the fake receives the reply (``sendMessage``).
The fake never shares a process (or the GIL) with a bot.

Users and their sessions are made directly through core services before the bot starts
(``accounts.register`` + ``complete_login``), with ``security.captcha`` off and rate limits far
above the traffic, so every update passes the whole gate and the /me handler.

Scenarios (the two bots take turns, so load from other processes hits both alike):

1. burst: N updates queued at once from U users; updates/s = N / (last reply − first queued).
   Latencies here include the wait in the queue.
2. paced: /me at a steady ``--rate`` per second; p50/p99 latency.
3. logins: the same paced /me stream while 20 users' passwords (argon2id checks) are in flight
   at once; p50/p99 of the /me updates queued during that window (target p99 < 100 ms).
4. as shipped: ours with its real outgoing limiter (PTB ``AIORateLimiter``: Telegram's 30
   messages/s for the whole bot) for the logins scenario, and (full mode) a burst of each bot.

Scenarios 1–3 lift the 30 messages/s cap for both bots (``AIORateLimiter`` with no overall
or group rate, still retrying 429s): with it, both bots answer at most 30 updates/s and the
comparison would show Telegram's limit, not the bots. ``--profile`` runs ours under cProfile
and prints where its main thread spends the time.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.fakeapi import FakeBotAPI, Message, TelegramUser
from bot.fakeapi_http import FakeBotAPIServer

VERZEK, ECHO = "verzek", "echo"
LIFTED, SHIPPED = "lifted", "shipped"
LOGINS = 20
PASSWORD = "violet canyon trumpet 42 orbit"
ME_USER_BASE = 5_000_000
LOGIN_USER_BASE = 6_000_000
TOKEN = "123456789:AAbenchmarkTOKENforTheFakeBotAPI000000"
WAIT_SECONDS = 120.0
P99_TARGET_MS = 100.0
RATIO_TARGET = 0.7


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the bots (child processes) ------------------------------------------------------------


def outgoing_limiter(mode: str) -> AIORateLimiter:
    """The same limiter for both bots: as shipped (30 messages/s) or with the caps lifted."""
    if mode == SHIPPED:
        return AIORateLimiter(max_retries=5)
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=5)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The whole baseline bot: answer with the text received."""
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


def run_bot(kind: str, mode: str, profile: Path | None) -> None:
    """Child process: run one bot with long polling until SIGTERM."""
    from bot.app import build_application
    from bot.logging_setup import configure_logging
    from core.config import load_settings

    settings = load_settings(Path(os.environ["BENCH_CONFIG"]), os.environ)
    configure_logging("WARNING", [TOKEN])
    if kind == VERZEK:
        application: Any = build_application(settings, rate_limiter=outgoing_limiter(mode))
    else:
        application = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(settings.telegram.base_url)
            .concurrent_updates(256)  # what PerUserUpdateProcessor() allows
            .rate_limiter(outgoing_limiter(mode))
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


def login_users() -> list[TelegramUser]:
    return [TelegramUser(LOGIN_USER_BASE + k, f"Login{k}") for k in range(LOGINS)]


def email_of(user: TelegramUser) -> str:
    return f"u{user.id}@bench.example.com"


async def create_accounts(env: dict[str, str], config: Path, users: int) -> None:
    """Accounts for every user; sessions for the /me users (the login users log in later)."""
    from bot.bootstrap import bootstrap
    from core.accounts import LoginAttempt
    from core.config import load_settings

    services = await bootstrap(load_settings(config, env))
    try:
        # One real argon2id hash serves every account: the setup times nothing.
        password_hash = await services.accounts.passwords.hash(PASSWORD)
        for user in [*me_users(users), *login_users()]:
            record = await services.accounts.register(
                email=email_of(user),
                password_hash=password_hash,
                referral_code=None,
                telegram_user_id=user.id,
            )
            if user.id < LOGIN_USER_BASE:
                # The password check is what scenario 3 times; here it would only cost minutes.
                await services.accounts.complete_login(LoginAttempt(record.id), user.id)
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

    async def settle(self, chats: Iterable[int] | None = None, bot: BotProcess | None = None) -> None:
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


@dataclass
class Figures:
    """Latencies (seconds) of one kind of run, pooled over rounds, plus per-round rates."""

    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    def add(self, samples: list[Sample], count_rate: bool = False) -> None:
        self.latencies += [s.latency for s in samples]
        if count_rate and samples:
            first = min(s.queued_at for s in samples)
            last = max(s.replied_at for s in samples)
            self.rates.append(len(samples) / (last - first))

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    def p(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) if self.latencies else float("nan")

    def line(self) -> str:
        rate = f"{self.rate:8,.0f} updates/s   " if self.rates else ""
        return (
            f"{rate}p50 {ms(self.p(0.5)):>9}  p99 {ms(self.p(0.99)):>9}  "
            f"max {ms(max(self.latencies)):>9}  ({len(self.latencies):,} updates)"
        )


# --- scenarios ---------------------------------------------------------------------------------


async def burst(replies: Replies, users: list[TelegramUser], count: int, bot: BotProcess) -> list[Sample]:
    mark = len(replies.samples)
    for k in range(count):
        replies.send(users[k % len(users)], "/me")
    await replies.settle(bot=bot)
    return replies.samples[mark:]


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
    replies: Replies, users: list[TelegramUser], rate: float, bot: BotProcess
) -> LoginRound:
    """20 logins' password checks at once, inside a steady /me stream."""
    logins = login_users()
    chats = [u.id for u in logins]
    for text in ("/login", None):  # to the password step: /login, then the email
        for user in logins:
            replies.send(user, text or email_of(user))
        await replies.settle(chats, bot)
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

    def __init__(self, kind: str, mode: str, workdir: Path, env: dict[str, str]) -> None:
        self.kind, self.mode = kind, mode
        self.label = f"{kind} ({mode})"
        self.workdir = workdir
        self.env = env
        self.server = FakeBotAPIServer(FakeBotAPI())
        self.replies = Replies(self.server.api)
        self.process: asyncio.subprocess.Process | None = None
        self.profile: Path | None = None
        self._log = workdir / f"{kind}-{mode}.log"
        self._log_file: IO[bytes] | None = None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    @property
    def stderr(self) -> str:
        return self._log.read_text(errors="replace")[-3000:]

    async def start(self, profile: bool, warm_users: list[TelegramUser]) -> None:
        await self.server.start()
        env = {**self.env, "TELEGRAM_BASE_URL": self.server.base_url}
        args = ["--child", self.kind, "--mode", self.mode]
        if profile:
            self.profile = self.workdir / f"{self.kind}-{self.mode}.prof"
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


async def bench(plan: Plan, profile: bool) -> int:
    print(f"machine: {machine()}")
    print(
        f"plan: {plan.users} logged-in users; bursts of {plan.updates:,} /me x {plan.rounds} "
        f"rounds; paced {plan.rate:g}/s for {plan.paced_seconds:g} s x {plan.rounds}; "
        f"{LOGINS} logins x {plan.login_rounds} rounds"
    )
    with tempfile.TemporaryDirectory(prefix="verzek-bench-") as tmp:
        workdir = Path(tmp)
        config = workdir / "config.toml"
        unlimited = "1000000/minute"
        config.write_text(
            "[security]\ncaptcha = false\n"
            f'[rate_limits]\nauth = "{unlimited}"\ndefault = "{unlimited}"\n'
            f'[rate_limits.tiers]\nfree = "{unlimited}"\nbasic = "{unlimited}"\n'
            f'pro = "{unlimited}"\n'
            f'[backups]\ndir = "{workdir / "backups"}"\n'
        )
        from core.crypto import generate_master_key

        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "TRONSCAN_", "ADMIN_"))
        }
        env.update(
            {
                "PYTHONPATH": str(REPO),
                "BENCH_CONFIG": str(config),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "ADMIN_CHAT_ID": "-100500",
                "VERZEK_ADMINS": "9001",
                "VERZEK_DB": str(workdir / "data" / "verzek.db"),
                "ENCRYPTION_MASTER_KEY": generate_master_key(),
            }
        )
        progress(f"creating {plan.users + LOGINS} accounts and {plan.users} sessions …")
        started = time.perf_counter()
        await create_accounts(env, config, plan.users)
        progress(f"  done in {time.perf_counter() - started:.1f} s")
        users = me_users(plan.users)

        ours = BotProcess(VERZEK, LIFTED, workdir, env)
        bare = BotProcess(ECHO, LIFTED, workdir, env)
        bots = [ours, bare]
        figures = {
            (bot.kind, what): Figures() for bot in bots for what in ("burst", "paced", "logins")
        }
        login_seconds: list[float] = []
        try:
            progress("starting both bots …")
            await asyncio.gather(*(b.start(profile and b is ours, users) for b in bots))
            for round_ in range(plan.rounds):
                for bot in bots if round_ % 2 == 0 else bots[::-1]:
                    progress(f"round {round_ + 1}: {bot.label} burst of {plan.updates:,}")
                    samples = await burst(bot.replies, users, plan.updates, bot)
                    figures[bot.kind, "burst"].add(samples, count_rate=True)
                for bot in bots if round_ % 2 == 0 else bots[::-1]:
                    progress(f"round {round_ + 1}: {bot.label} paced {plan.rate:g}/s")
                    samples = await paced_run(
                        bot.replies, users, plan.rate, plan.paced_seconds, bot
                    )
                    figures[bot.kind, "paced"].add(samples)
            for round_ in range(plan.login_rounds):
                progress(f"logins round {round_ + 1}: {LOGINS} logins under /me at {plan.rate:g}/s")
                result = await logins_under_load(ours.replies, users, plan.rate, ours)
                if result.logged_in != LOGINS:
                    raise SystemExit(f"only {result.logged_in} of {LOGINS} logins succeeded")
                figures[VERZEK, "logins"].add(result.me)
                login_seconds.append(result.login_seconds)
        finally:
            await asyncio.gather(*(b.stop() for b in bots))

        shipped: dict[str, Figures] = {}
        shipped_logins = Figures()
        shipped_rate = min(plan.rate, 20.0)
        if not profile:
            ours_s = BotProcess(VERZEK, SHIPPED, workdir, env)
            bare_s = BotProcess(ECHO, SHIPPED, workdir, env)
            shipped_bots = [ours_s, bare_s] if plan.shipped_burst else [ours_s]
            try:
                progress("as shipped (30 messages/s): starting …")
                warm = users[:20]
                await asyncio.gather(*(b.start(False, warm) for b in shipped_bots))
                await asyncio.sleep(1.5)  # let the limiter's bucket drain after the warm-up
                progress(f"as shipped: {LOGINS} logins under /me at {shipped_rate:g}/s")
                result = await logins_under_load(ours_s.replies, users, shipped_rate, ours_s)
                shipped_logins.add(result.me)
                if plan.shipped_burst:
                    for bot in shipped_bots:
                        await asyncio.sleep(1.5)
                        progress(f"as shipped: {bot.label} burst of {plan.shipped_burst}")
                        samples = await burst(bot.replies, users, plan.shipped_burst, bot)
                        shipped.setdefault(bot.kind, Figures()).add(samples, count_rate=True)
            finally:
                await asyncio.gather(*(b.stop() for b in shipped_bots))

        ours_rate = figures[VERZEK, "burst"].rate
        bare_rate = figures[ECHO, "burst"].rate
        ratio = ours_rate / bare_rate if bare_rate else 0.0
        logins_p99 = figures[VERZEK, "logins"].p(0.99) * 1000
        print("\noutgoing 30 messages/s cap lifted for both bots (the bots' own cost):")
        print(f"  burst  ours /me      {figures[VERZEK, 'burst'].line()}")
        print(f"  burst  bare echo     {figures[ECHO, 'burst'].line()}")
        print(
            f"  throughput ratio ours/bare: {ratio:.2f}  "
            f"(target ≥ {RATIO_TARGET}: {'met' if ratio >= RATIO_TARGET else 'MISSED'})"
        )
        print(f"  paced  ours /me      {figures[VERZEK, 'paced'].line()}")
        print(f"  paced  bare echo     {figures[ECHO, 'paced'].line()}")
        print(f"  ours /me during {LOGINS} logins in flight (paced {plan.rate:g}/s):")
        print(f"                       {figures[VERZEK, 'logins'].line()}")
        print(
            f"  20 password checks took {statistics.median(login_seconds):.2f} s (median); "
            f"/me p99 {logins_p99:.1f} ms (target < {P99_TARGET_MS:.0f} ms: "
            f"{'met' if logins_p99 < P99_TARGET_MS else 'MISSED'})"
        )
        if shipped_logins.latencies:
            print("as shipped (PTB AIORateLimiter: 30 messages/s for the whole bot):")
            print(f"  ours /me during {LOGINS} logins (paced {shipped_rate:g}/s):")
            print(f"                       {shipped_logins.line()}")
            for kind, figs in shipped.items():
                name = "ours /me " if kind == VERZEK else "bare echo"
                print(f"  burst  {name}     {figs.line()}")
        print(
            f"RESULT: ours {ours_rate:,.0f} updates/s vs bare {bare_rate:,.0f} "
            f"({ratio:.2f}x); /me p99 {logins_p99:.0f} ms during {LOGINS} logins"
        )
        if profile and ours.profile is not None and ours.profile.exists():
            print_profile(ours.profile)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--users", type=int, default=None, help="logged-in users (400)")
    parser.add_argument("--updates", type=int, default=None, help="updates per burst (3000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario (3)")
    parser.add_argument("--rate", type=float, default=50.0, help="paced /me per second")
    parser.add_argument("--profile", action="store_true", help="cProfile ours and print it")
    parser.add_argument("--child", choices=[VERZEK, ECHO], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=[LIFTED, SHIPPED], default=LIFTED, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_bot(args.child, args.mode, args.profile_to)
        return 0
    quick = args.quick
    plan = Plan(
        users=args.users or (100 if quick else 400),
        updates=args.updates or (600 if quick else 3000),
        rounds=args.rounds or (2 if quick else 3),
        rate=args.rate,
        paced_seconds=2.0 if quick else 5.0,
        login_rounds=1 if quick else 3,
        shipped_burst=0 if quick else 150,
    )
    return asyncio.run(bench(plan, args.profile))


if __name__ == "__main__":
    sys.exit(main())
