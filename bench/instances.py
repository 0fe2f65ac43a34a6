"""One SQLite instance against two PostgreSQL instances: updates/s and p99 for /me (a read)
and /logout (a write: a session row and an audit row in the hash chain), on this machine.

    python -m bench.instances [--users 64] [--rounds 5] [--concurrency 32] [--middle]

Both setups are real ``verzek run`` processes in webhook mode behind the fake Telegram over
HTTP (tests/support/fleet.py), whose delivery plays the load balancer (round robin, up to
``--concurrency`` updates in flight, never two of one user):

- baseline: ONE instance on a SQLite file, rate limits in its memory (the zero-setup deploy);
- fleet: TWO instances on one throwaway PostgreSQL (tests/support/postgres.py) with their
  rate limits in one throwaway Redis (tests/support/redis_server.py), as deploy/compose.yaml.

Users and their sessions are made through core before the timing (``accounts.register`` with
``sign_in=True``), so no argon2 hash is timed. Each user then sends ``--rounds`` /me one after
the other (``--users`` users at once); latency is from the update being queued in the fake to
the bot's reply reaching it; updates/s is all of them over the wall time. Then every user sends
one /logout. The two setups run one after the other on the same machine: on a machine shared
with other work, compare them within one run only. ``--middle`` adds one instance on
PostgreSQL with its limits in memory, to tell the engine's cost from the fleet's.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.fake_telegram import FakeBotAPI, TelegramUser
from tests.support.fleet import Fleet, fleet

PASSWORD = "bench password that is long enough"
ROOMY = """auth = "100000/minute"
default = "100000/minute"
tiers.free = "100000/minute"
tiers.basic = "100000/minute"
tiers.pro = "100000/minute"
"""


@dataclass(frozen=True)
class Figures:
    """One command's run on one setup."""

    updates: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        median = statistics.median(self.latencies) * 1000
        return f"{self.rate:,.0f} updates/s, p50 {median:.0f} ms, p99 {self.p(0.99):.0f} ms"


class CountingAPI(FakeBotAPI):
    """The fake Telegram, waking the waiter of a chat when the bot sends it a message."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[int, int] = {}
        self._events: dict[int, asyncio.Event] = {}

    async def handle(self, method: str, params: dict[str, Any], files: dict[str, Any]) -> Any:
        answer = await super().handle(method, params, files)
        if method == "sendMessage":
            chat = int(params["chat_id"])
            self.counts[chat] = self.counts.get(chat, 0) + 1
            self._events.setdefault(chat, asyncio.Event()).set()
        return answer

    async def after(self, chat: int, count: int) -> None:
        """Return once ``chat`` has more than ``count`` messages (a minute at most)."""
        async with asyncio.timeout(60):
            while self.counts.get(chat, 0) <= count:
                event = self._events.setdefault(chat, asyncio.Event())
                event.clear()
                await event.wait()


async def make_users(f: Fleet, users: list[TelegramUser]) -> None:
    """Accounts signed in as after /register, made in this process on the fleet's database."""
    from bot.bootstrap import bootstrap
    from core.config import load_settings

    first = f.bots[0]
    services = await bootstrap(load_settings(first.workdir / "config.toml", first.env))
    try:
        password_hash = await services.accounts.passwords.hash(PASSWORD)
        for user in users:
            await services.accounts.register(
                email=f"u{user.id}@bench.example.com",
                password_hash=password_hash,
                referral_code=None,
                telegram_user_id=user.id,
                sign_in=True,
            )
    finally:
        await services.aclose()


async def drive(
    f: Fleet, replies: CountingAPI, users: list[TelegramUser], text: str, rounds: int
) -> Figures:
    latencies: list[float] = []

    async def one(user: TelegramUser) -> None:
        for _ in range(rounds):
            before = replies.counts.get(user.id, 0)
            queued = time.perf_counter()
            f.api.user_sends(user, text)
            await replies.after(user.id, before)
            latencies.append(time.perf_counter() - queued)

    started = time.perf_counter()
    await asyncio.gather(*(one(user) for user in users))
    return Figures(len(latencies), time.perf_counter() - started, latencies)


async def run_setup(
    name: str, workdir: Path, args: argparse.Namespace, **options: Any
) -> dict[str, Figures]:
    users = [TelegramUser(10_000 + i, f"U{i}") for i in range(args.users)]
    replies = CountingAPI()
    async with fleet(
        workdir,
        connections=args.concurrency,
        rate_limits=ROOMY,
        log_level="WARNING",
        api=replies,
        **options,
    ) as f:
        await make_users(f, users)
        await drive(f, replies, users[:4], "/me", 1)  # warm-up: connections, caches
        figures = {
            "/me": await drive(f, replies, users, "/me", args.rounds),
            "/logout": await drive(f, replies, users, "/logout", 1),
        }
    for command, measured in figures.items():
        print(f"  {name:<30} {command:<8} {measured.line()}", flush=True)
    return figures


async def main_async(args: argparse.Namespace) -> int:
    from tests.support import postgres
    from tests.support.redis_server import RedisServer

    binary = shutil.which("redis-server")
    if postgres.find_bindir() is None or binary is None:
        print("needs PostgreSQL (pg_config or /usr/lib/postgresql) and redis-server")
        return 2
    with tempfile.TemporaryDirectory(prefix="verzek-bench-instances-") as tmp:
        root = Path(tmp)
        redis = RedisServer(binary, root / "redis")
        (root / "redis").mkdir()
        try:
            if not redis.start():
                print("redis-server did not start")
                return 2
            one = await run_setup("baseline: 1 instance, SQLite", root / "sqlite", args)
            if args.middle:  # where the difference comes from: the engine, or the fleet
                alone = postgres.fresh_database()
                await run_setup(
                    "1 instance, PostgreSQL", root / "pg1", args, database_url=alone.url
                )
            database = postgres.fresh_database()
            two = await run_setup(
                "fleet: 2 instances, PostgreSQL",
                root / "postgres",
                args,
                n=2,
                database_url=database.url,
                redis_url=redis.url,
            )
        finally:
            redis.stop()
            postgres.stop_server()
    me, out = two["/me"], two["/logout"]
    print(
        f"RESULT: fleet /me {me.rate:,.0f} updates/s p99 {me.p(0.99):.0f} ms, "
        f"/logout {out.rate:,.0f} updates/s p99 {out.p(0.99):.0f} ms "
        f"(baseline, 1 SQLite instance: /me {one['/me'].rate:,.0f} updates/s "
        f"p99 {one['/me'].p(0.99):.0f} ms, /logout {one['/logout'].rate:,.0f} updates/s "
        f"p99 {one['/logout'].p(0.99):.0f} ms)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=64, help="users at once (64)")
    parser.add_argument("--rounds", type=int, default=5, help="/me per user (5)")
    parser.add_argument("--concurrency", type=int, default=32, help="updates in flight (32)")
    parser.add_argument(
        "--middle", action="store_true", help="also one PostgreSQL instance, memory limits"
    )
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
