"""/me latency while hundreds of bulk notices are queued behind Telegram's 30 messages/s.

    python -m bench.lanes [--quick] [--notices 500] [--rate 5] [--users 50]

Our bot runs as in bench/updates.py (its own process, long polling, its ``ShardedRequest``,
a ``FakeBotAPIServer`` in this process), as shipped: ``telegram.max_messages_per_second =
30``. Once warmed up it is told to queue ``--notices`` notices to as many chats at once (the
way alerts, owner notices or reminders leave a job: no update's reply), and while they drain
(about notices / 30 seconds) users send /me at ``--rate`` per second. Latency = /me queued
in the fake → its reply received; the run also counts every notice the fake received.

Two runs, one after the other: ours with its outgoing limiter (``bot/outgoing.py``, replies
in a lane before bulk sends), then the baseline, the same bot with PTB's ``AIORateLimiter``
at the same 30/s (one queue for everything: a reply waits behind every queued notice).
Target (SPEC §14): ours /me p99 < 1 s while the notices are queued, and no notice lost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._http_bots import LANES, NOTICE_BASE, NOTICES_COMMAND, SINGLE, BotProcess
from bench._http_figures import Figures, paced
from bench._http_users import (
    SHIPPED,
    VERZEK,
    create_accounts,
    environment,
    machine,
    me_users,
    progress,
)
from bot.fake_telegram import Message, TelegramUser

P99_TARGET_SECONDS = 1.0
TRIGGER_USER = TelegramUser(8_000_000, "Operator")
DRAIN_SECONDS = 120.0


async def one_run(
    limiter: str,
    workdir: Path,
    env: dict[str, str],
    users: list[TelegramUser],
    notices: int,
    rate: float,
) -> tuple[Figures, int, float]:
    """/me figures while ``notices`` are queued; notices received; seconds they took."""
    bot = BotProcess(VERZEK, SHIPPED, workdir, env, limiter=limiter)
    received: list[float] = []
    all_in = asyncio.Event()

    def on_event(kind: str, message: Message) -> None:
        if kind == "sent" and NOTICE_BASE <= message.chat_id < NOTICE_BASE + notices:
            received.append(time.monotonic())
            if len(received) == notices:
                all_in.set()

    bot.server.api.listeners.append(on_event)
    try:
        await bot.start(None, users[:20])
        await asyncio.sleep(1.5)  # the limiter's bucket fills again after the warm-up
        mark = len(bot.replies.samples)
        started = time.monotonic()
        bot.server.api.user_sends(TRIGGER_USER, f"{NOTICES_COMMAND} {notices}")
        await asyncio.sleep(0.3)  # the notices are queued
        seconds = max(1.0, notices / 30 - 0.5)  # /me while most of them still wait
        await paced(bot.replies, users, rate, seconds=seconds)
        await bot.replies.settle(bot=bot)
        try:
            await asyncio.wait_for(all_in.wait(), DRAIN_SECONDS)
        except TimeoutError:
            progress(f"only {len(received)} of {notices} notices arrived")
        figures = Figures()
        figures.add(bot.replies.samples[mark:])
        took = (max(received) - started) if received else float("nan")
        return figures, len(received), took
    finally:
        await bot.stop()


async def bench(users_count: int, notices: int, rate: float) -> int:
    print(f"machine: {machine()}")
    print(
        f"plan: {notices} notices queued at once, /me from {users_count} users at {rate:g}/s "
        "while they drain; telegram.max_messages_per_second = 30"
    )
    users = me_users(users_count)
    with tempfile.TemporaryDirectory(prefix="verzek-bench-lanes-") as tmp:
        workdir = Path(tmp)
        env = environment(workdir)
        progress(f"creating {users_count} accounts and sessions …")
        await create_accounts(env, Path(env["BENCH_CONFIG"]), users_count, logins=0)
        results = {}
        for limiter in (LANES, SINGLE):
            progress(f"{limiter}: {notices} notices, /me at {rate:g}/s")
            results[limiter] = await one_run(limiter, workdir, env, users, notices, rate)
    names = {LANES: "ours (replies first)", SINGLE: "baseline (one queue)"}
    for limiter, (figures, got, took) in results.items():
        print(f"  {names[limiter]:<22} /me {figures.line()}")
        print(f"  {'':<22} notices received {got}/{notices} in {took:.1f} s")
    ours, ours_got, _ = results[LANES]
    base, base_got, _ = results[SINGLE]
    met = ours.p(0.99) < P99_TARGET_SECONDS and ours_got == notices
    print(
        f"target: /me p99 < {P99_TARGET_SECONDS * 1000:.0f} ms with {notices} notices queued "
        f"and every notice delivered: {'met' if met else 'MISSED'}"
    )
    print(
        f"RESULT: /me p99 {ours.p(0.99) * 1000:.0f} ms with {notices} notices queued, "
        f"{ours_got}/{notices} delivered (baseline, one queue: p99 {base.p(0.99) * 1000:.0f} "
        f"ms, {base_got}/{notices})"
    )
    return 0 if ours_got == notices else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="150 notices (about a minute)")
    parser.add_argument("--notices", type=int, default=None, help="notices queued (500)")
    parser.add_argument("--rate", type=float, default=5.0, help="/me per second meanwhile")
    parser.add_argument("--users", type=int, default=50, help="logged-in users sending /me")
    args = parser.parse_args(argv)
    notices = args.notices or (150 if args.quick else 500)
    return asyncio.run(bench(args.users, notices, args.rate))


if __name__ == "__main__":
    sys.exit(main())
