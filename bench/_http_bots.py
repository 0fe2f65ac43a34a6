"""The bots of the HTTP benchmarks: ours and the bare PTB echo bot, each in a child process
with long polling against its own fake Bot API server in the parent."""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
import sys
from pathlib import Path
from typing import IO, Any

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

from bench._http_figures import Replies, burst, process_cpu
from bench._http_users import REPO, SHIPPED, TOKEN, VERZEK
from bot.fake_telegram import FakeBotAPI, TelegramUser
from tests.support.fakeapi_http import FakeBotAPIServer

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
