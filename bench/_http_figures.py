"""What the HTTP benchmarks measure: replies paired with the updates that asked for them,
latency and CPU figures, and the scenarios (bursts, paced streams, logins under load)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench._http_users import PASSWORD, WAIT_SECONDS, email_of, login_users
from bot.fake_telegram import FakeBotAPI, Message, TelegramUser

if TYPE_CHECKING:
    from bench._http_bots import BotProcess


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
