"""Resident memory with many distinct users each sending one /start, next to a bare PTB bot.

    python -m bench.memory [--users 100000] [--batch 1000] [--every 10000]

Ours is the real ``build_application(settings, services)`` (gate, rate limiter, per-user
locks, pickers, conversations, sealed persistence on SQLite) on a fake clock, talking to the
in-process fake Bot API (:class:`bot.fake_telegram.FakeBotAPI`, as the tests' harness does).
N distinct Telegram users send /start once each, ``--batch`` at a time; every ``--every``
users the process's resident memory (VmRSS) is read. Then the clock passes the rate-limit
window and the bot's sweeps run (rate-limit windows, picker sheets, persistence flush), and
RSS and what each per-user structure still holds are read again.

The baseline is a bare python-telegram-bot ``Application`` with one handler that answers /start,
run the same way in its own process (``--bare``), so the fake Bot API's and PTB's own cost
per user are measured alike. The fake forgets the messages it recorded after each batch in
both runs. MB per 10,000 users = (RSS after the sweeps − RSS after a 200-user warm-up) / N ×
10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes
from telegram.ext import ConversationHandler as PTBConversationHandler

from bot.fake_telegram import FakeBotAPI, FakeRequest, TelegramUser
from bot.persistence import SealedPersistence
from bot.pickers import store_of
from bot.update_processor import forget_idle_user_data
from core.adapters.ratelimit_storage import MemoryWindows
from core.clock import FakeClock
from core.config import load_settings
from core.crypto import generate_master_key
from tests.support.harness import BotHarness
from tests.support.services import build_services

REPO = Path(__file__).resolve().parent.parent
FIRST_USER = 10**9
WARM_UP = 200


def rss_mb() -> float:
    """This process's resident set size, from /proc/self/status (MB = 10^6 bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmRSS in /proc/self/status")


def forget_recorded(api: FakeBotAPI) -> None:
    """The fake Telegram keeps every message and call for the tests to read; drop them, so
    the figures are the bot's memory, not the fake's record."""
    api.messages.clear()
    api.calls.clear()
    api.callback_answers.clear()
    api._message_ids.clear()
    api._user_bodies.clear()


async def drive(
    api: FakeBotAPI,
    completed: Any,
    users: int,
    batch: int,
    every: int,
    checkpoint: Any,
) -> None:
    """Users FIRST_USER+1 .. +users each send /start once, ``batch`` queued at a time."""
    sent = 0
    next_mark = every
    while sent < users:
        size = min(batch, users - sent)
        for k in range(sent + 1, sent + size + 1):
            api.user_sends(TelegramUser(FIRST_USER + k, "User"), "/start")
        sent += size
        target = api.updates_queued
        deadline = time.monotonic() + 120
        while completed() < target:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not answer {size} updates in 120 s")
            await asyncio.sleep(0.005)
        forget_recorded(api)
        if sent >= next_mark or sent == users:
            await checkpoint(sent)
            next_mark += every


async def ours(users: int, batch: int, every: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="verzek-bench-memory-") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(f'[security]\ncaptcha = false\n[backups]\ndir = "{tmp}/backups"\n')
        env = {"ENCRYPTION_MASTER_KEY": generate_master_key(), "VERZEK_DB": f"{tmp}/v.db"}
        settings = load_settings(config, env)
        clock = FakeClock()
        services = await build_services(settings, clock)
        harness = BotHarness(settings, services)
        app = harness.app
        await harness.start()
        try:
            processor = harness.processor
            limiter_storage = services.ratelimit._storage
            assert isinstance(limiter_storage, MemoryWindows)
            persistence = app.persistence
            assert isinstance(persistence, SealedPersistence)

            def held() -> dict[str, int]:
                conversations = sum(
                    len(handler._conversations)
                    for group in app.handlers.values()
                    for handler in group
                    if isinstance(handler, PTBConversationHandler)
                )
                return {
                    "locks": processor.active_users,
                    "windows": len(limiter_storage),
                    "pickers": len(store_of(app.bot_data)),
                    "user_data": len(app.user_data),
                    "chat_data": len(app.chat_data),
                    "conversations": conversations,
                }

            completed = lambda: processor.completed  # noqa: E731
            await drive(harness.api, completed, WARM_UP, WARM_UP, WARM_UP, _quiet)
            gc.collect()
            base = rss_mb()
            marks: list[tuple[int, float]] = []

            async def sweeps() -> str:
                clock.advance(seconds=61)  # the minute passes; the jobs below run each minute
                swept = await services.ratelimit.sweep()  # the "ratelimit-sweep" job
                dropped = forget_idle_user_data(app)  # the same job
                store_of(app.bot_data).sweep(clock.now())
                await app.update_persistence()
                await persistence.flush()
                gc.collect()
                return f"swept {swept:,} windows, {dropped:,} user_data"

            async def checkpoint(sent: int) -> None:
                before = held()
                done = await sweeps()
                marks.append((sent, rss_mb()))
                print(
                    f"  ours  {sent:>9,} users  RSS {marks[-1][1]:8.1f} MB  held {before}, "
                    f"{done}, then {held()}",
                    flush=True,
                )

            started = time.perf_counter()
            await drive(harness.api, completed, users, batch, every, checkpoint)
            took = time.perf_counter() - started
            after = marks[-1][1]
            left = held()
            return {
                "base": base,
                "marks": marks,
                "after": after,
                "left": left,
                "rate": users / took,
            }
        finally:
            await harness.stop()
            await services.aclose()


async def _quiet(sent: int) -> None:
    return None


async def bare(users: int, batch: int, every: int) -> dict[str, Any]:
    api = FakeBotAPI()
    completed = [0]

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Hello")
        completed[0] += 1

    app: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token("123456:bench")
        .request(FakeRequest(api))
        .get_updates_request(FakeRequest(api))
        .concurrent_updates(256)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        await drive(api, lambda: completed[0], WARM_UP, WARM_UP, WARM_UP, _quiet)
        gc.collect()
        base = rss_mb()
        marks: list[tuple[int, float]] = []

        async def checkpoint(sent: int) -> None:
            gc.collect()
            marks.append((sent, rss_mb()))

        started = time.perf_counter()
        await drive(api, lambda: completed[0], users, batch, every, checkpoint)
        took = time.perf_counter() - started
        return {"base": base, "marks": marks, "after": marks[-1][1], "rate": users / took}
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


def per_10k(figures: dict[str, Any], users: int) -> float:
    """RSS growth per 10,000 users over the whole run (after the warm-up)."""
    return float((figures["after"] - figures["base"]) / users * 10_000)


def steady_per_10k(figures: dict[str, Any]) -> float:
    """RSS growth per 10,000 users from the first checkpoint to the last: once the heap has
    grown to hold one sweep interval's users, a bounded bot's RSS stops growing."""
    (first, rss_first), (last, rss_last) = figures["marks"][0], figures["marks"][-1]
    return float((rss_last - rss_first) / max(last - first, 1) * 10_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000, help="updates queued at a time")
    parser.add_argument("--every", type=int, default=10_000, help="RSS checkpoint interval")
    parser.add_argument("--quick", action="store_true", help="20,000 users")
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    users = 20_000 if args.quick and args.users == 100_000 else args.users
    if args.bare:  # the baseline, in its own process (RSS never shrinks back)
        print(json.dumps(asyncio.run(bare(users, args.batch, args.every))))
        return 0
    print(f"plan: {users:,} distinct users send /start once, {args.batch:,} queued at a time")
    figures = asyncio.run(ours(users, args.batch, args.every))
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--bare", "--users", str(users),
         "--batch", str(args.batch), "--every", str(args.every)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    baseline = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"  bare  {users:>9,} users  RSS {baseline['base']:.1f} → {baseline['after']:.1f} MB "
        f"({baseline['rate']:,.0f} updates/s)"
    )
    print(
        f"  ours  {users:>9,} users  RSS {figures['base']:.1f} → {figures['after']:.1f} MB "
        f"({figures['rate']:,.0f} updates/s)"
    )
    left = figures["left"]
    kept = {k: v for k, v in left.items() if v}
    print(
        f"RESULT: ours {steady_per_10k(figures):.2f} MB per 10,000 users after the first "
        f"{figures['marks'][0][0]:,} ({per_10k(figures, users):.2f} over all {users:,}; still "
        f"held after the sweeps: {kept or 'nothing'}) (baseline, bare PTB bot: "
        f"{steady_per_10k(baseline):.2f} MB per 10,000 users, {per_10k(baseline, users):.2f} "
        "over all)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
