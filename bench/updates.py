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
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench._http_bots import LANES, SINGLE, BotProcess, run_bot
from bench._http_figures import Figures, burst, logins_under_load, paced_run
from bench._http_users import (
    CPU_TARGET,
    ECHO,
    LIFTED,
    LOGINS,
    P99_TARGET_MS,
    RATIO_TARGET,
    SEQUENTIAL,
    SHIPPED,
    VERZEK,
    create_accounts,
    environment,
    machine,
    me_users,
    progress,
)


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


def print_profile(path: Path, limit: int = 25) -> None:
    print(f"\nprofile of ours (main thread; SQLite runs in aiosqlite's thread): {path}")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(limit)


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
