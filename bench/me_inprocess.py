"""CPU per /me with no network in between, next to a bare PTB echo bot in the same process.

    python -m bench.me_inprocess [--quick] [--users 200] [--updates 1000] [--rounds 5]

bench/updates.py times the bots over real HTTP in their own processes, as deployed; on a loaded
machine most of what it measures is httpcore and the kernel, the same for both bots, and its
figures swing with the load. This one measures what our code adds: both bots run in this
process against the in-process fake Bot API (``FakeRequest``: no sockets, no httpx), with the
same outgoing limiter (``LaneRateLimiter(0)``), taking turns, round after round; CPU is this
process's ``time.process_time()`` (all threads, aiosqlite's too) over each burst of /me from
logged-in users (accounts and sessions made through core services first, as bench/updates.py
does), divided by the updates. The fake's own work is in both figures alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram.ext import ApplicationBuilder, MessageHandler, filters

from bench._http_bots import echo
from bench._http_users import TOKEN, create_accounts, environment, me_users
from bot.fake_telegram import FakeBotAPI, FakeRequest, Message, TelegramUser
from bot.outgoing import LaneRateLimiter
from bot.update_processor import PerUserUpdateProcessor


class Bot:
    """One application on its own fake, started with polling."""

    def __init__(self, label: str, application: Any, api: FakeBotAPI) -> None:
        self.label, self.app, self.api = label, application, api
        self.cpu: list[float] = []
        self.replies = 0
        api.listeners.append(self._on_event)

    def _on_event(self, kind: str, message: Message) -> None:
        self.replies += kind == "sent"

    async def start(self) -> None:
        await self.app.initialize()
        if self.app.post_init is not None:
            await self.app.post_init(self.app)
        await self.app.start()
        await self.app.updater.start_polling(poll_interval=0.0, timeout=1)

    async def stop(self) -> None:
        await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()

    async def burst(self, users: list[TelegramUser], count: int) -> float:
        """``count`` /me at once; CPU seconds per update until the last reply was sent."""
        target = self.replies + count
        started = time.process_time()
        for k in range(count):
            self.api.user_sends(users[k % len(users)], "/me")
        deadline = time.monotonic() + 120
        while self.replies < target:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.label}: {target - self.replies} replies missing")
            await asyncio.sleep(0.001)
        return (time.process_time() - started) / count


def bare(api: FakeBotAPI) -> Bot:
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(FakeRequest(api))
        .get_updates_request(FakeRequest(api))
        .concurrent_updates(256)
        .rate_limiter(LaneRateLimiter(0))
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    return Bot("bare echo", application, api)


async def run(users: int, updates: int, rounds: int) -> None:
    from bot.app import build_application
    from bot.bootstrap import bootstrap
    from core.config import load_settings

    with tempfile.TemporaryDirectory(prefix="verzek-bench-") as tmp:
        env = environment(Path(tmp))
        config = Path(env["BENCH_CONFIG_LIFTED"])
        await create_accounts(env, config, users, 0)
        settings = load_settings(config, env)
        services = await bootstrap(settings)
        ours_api, bare_api = FakeBotAPI(), FakeBotAPI()
        ours_app = build_application(
            settings,
            services,
            request=FakeRequest(ours_api),
            get_updates_request=FakeRequest(ours_api),
            rate_limiter=LaneRateLimiter(0),
        )
        assert isinstance(ours_app.update_processor, PerUserUpdateProcessor)
        ours = Bot("ours /me", ours_app, ours_api)
        bots = [ours, bare(bare_api)]
        people = me_users(users)
        try:
            for bot in bots:
                await bot.start()
                await bot.burst(people, users * 2)  # warm-up: imports, caches
            for round_ in range(rounds):
                for bot in bots if round_ % 2 == 0 else bots[::-1]:
                    bot.cpu.append(await bot.burst(people, updates))
        finally:
            for bot in bots:
                await bot.stop()
            await services.aclose()
    cpu = {bot.label: statistics.median(bot.cpu) * 1000 for bot in bots}
    for label, ms in cpu.items():
        print(f"  {label:10} CPU per update {ms:.3f} ms (median of {rounds} bursts of {updates})")
    ratio = cpu["ours /me"] / cpu["bare echo"]
    print(
        f"RESULT: in one process, no network: ours {cpu['ours /me']:.3f} ms CPU per /me vs bare "
        f"echo {cpu['bare echo']:.3f} ms ({ratio:.2f}x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    # PerUserUpdateProcessor drops a user's updates beyond 12 in flight: keep bursts under it.
    parser.add_argument("--users", type=int, default=None, help="logged-in users (200)")
    parser.add_argument("--updates", type=int, default=None, help="per burst (1000)")
    parser.add_argument("--rounds", type=int, default=None, help="bursts per bot (5)")
    args = parser.parse_args(argv)
    updates = args.updates or (200 if args.quick else 1000)
    rounds = args.rounds or (2 if args.quick else 5)
    asyncio.run(run(args.users or (50 if args.quick else 200), updates, rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
