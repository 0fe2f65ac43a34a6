"""Memory and speed of the gate's rate limiter with many distinct users (SPEC §5).

Checks one update for each of N distinct Telegram user ids against the limiter the gate uses
(``memory://`` storage on a fake clock, default tier resolver), then lets the minute pass and
sweeps, as the bot's job does every minute. Prints µs per check, tracemalloc's peak, and what
is left after the sweep. ``--licenses N`` first times the limiter as bootstrap wires it, whose
tier resolver reads each user's license from SQLite. ``--compare N`` also runs limits' own
async MemoryStorage for N users, whose background expiry is why the bot does not use it.

    .venv/bin/python bench/ratelimit_memory.py [--users 1000000] [--licenses 10000]
                                               [--compare N [--watch 10]]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from bot.bootstrap import bootstrap, standalone_rate_limiter
from core.adapters.ratelimit_storage import MemoryWindows
from core.clock import FakeClock
from core.config import load_settings
from core.crypto import generate_master_key
from core.ratelimit import RateLimitService


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


async def check_all(limiter: RateLimitService, users: int) -> float:
    """Seconds to check ``users`` distinct ids once each."""
    started = time.perf_counter()
    for user_id in range(1, users + 1):
        decision = await limiter.check(10**9 + user_id, auth=False)
        assert decision.allowed
    return time.perf_counter() - started


async def ours(users: int, with_licenses: int) -> str:
    """Time and weigh the gate's limiter; return its headline figures."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"ENCRYPTION_MASTER_KEY": generate_master_key(), "VERZEK_DB": f"{tmp}/v.db"}
        settings = load_settings(None, env)
        clock = FakeClock()
        services = await bootstrap(settings, clock)
        try:
            if with_licenses:
                # The bot's own limiter: its tier check reads the user's license from SQLite.
                took = await check_all(services.ratelimit, with_licenses)
                print(f"gate limiter as wired (license tiers), {with_licenses:,} users")
                print(f"  speed:  {took / with_licenses * 1e6:.2f} µs per check")

            def limiter() -> tuple[RateLimitService, MemoryWindows]:
                # Same settings and storage as the gate's, with the default FreeTier resolver,
                # so the figures are the limiter's own.
                storage = MemoryWindows(lambda: clock.now().timestamp())
                return standalone_rate_limiter(settings, storage, services.audit), storage

            print(f"rate limiter, storage {settings.rate_limits.storage}, {users:,} users")
            took = await check_all(limiter()[0], users)
            print(f"  speed:  {took / users * 1e6:.2f} µs per check (tracemalloc off)")

            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            service, storage = limiter()
            await check_all(service, users)
            current, peak = tracemalloc.get_traced_memory()
            print(f"  memory: peak {mib(peak - base)} ({(peak - base) / users:.0f} B per user)")
            print(f"          {len(storage):,} keys held while their windows are open")

            clock.advance(seconds=61)
            started = time.perf_counter()
            removed = await service.sweep()
            swept = time.perf_counter() - started
            gc.collect()
            current = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            print(f"  sweep:  {removed:,} ended windows removed in {swept:.2f} s")
            print(f"          {len(storage):,} keys and {mib(current - base)} left")
            return (
                f"{took / users * 1e6:.2f} µs per check, "
                f"{(peak - base) / users:.0f} B per user, {len(storage):,} keys after the sweep"
            )
        finally:
            await services.aclose()


async def library_memory_storage(users: int, watch: float = 10.0) -> str:
    """limits' own async MemoryStorage: same hits, then watch its background expiry."""
    print(f"limits.aio.storage.MemoryStorage (not used), {users:,} users, a 2 s window")
    storage = MemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    rule = parse("100/2 seconds")
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    for user_id in range(users):
        await limiter.hit(rule, "tier", str(user_id))
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  speed:  {took / users * 1e6:.2f} µs per check (tracemalloc on)")
    print(f"  memory: peak {mib(peak - base)} ({(peak - base) / users:.0f} B per user)")
    await asyncio.sleep(2.5)  # every window has ended
    cpu, wall = time.process_time(), time.perf_counter()
    left = len(storage.events)
    while storage.events and time.perf_counter() - wall < watch:
        await limiter.hit(rule, "tier", "0")  # traffic keeps its expiry task going
        await asyncio.sleep(0.5)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    gone = left - len(storage.events)
    print(
        f"  expiry: {gone:,} of {left:,} ended keys gone after {wall:.1f} s "
        f"({gone / wall:,.0f} keys/s, {cpu / wall:.0%} of a CPU)"
    )
    await storage.reset()
    return (
        f"{took / users * 1e6:.2f} µs per check (tracemalloc on), "
        f"{(peak - base) / users:.0f} B per user, {left - gone:,} keys after {wall:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--licenses", type=int, default=10_000, metavar="N")
    parser.add_argument("--compare", type=int, default=0, metavar="N")
    parser.add_argument(
        "--watch", type=float, default=10.0, metavar="S", help="--compare: watch expiry S s"
    )
    args = parser.parse_args()
    result = asyncio.run(ours(args.users, args.licenses))
    if args.compare:
        baseline = asyncio.run(library_memory_storage(args.compare, args.watch))
        result += f" (baseline, limits' MemoryStorage: {baseline})"
    print(f"RESULT: ours {result}")


if __name__ == "__main__":
    main()
