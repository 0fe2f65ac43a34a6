"""The bot as it runs in production, for the end-to-end tests of issue #18 (backups, audit chain).

``Deployment`` is the real PTB Application against the fake Bot API, its jobs run through their
JobQueue entries, stoppable so ``verzek``'s commands can work on the same files with the bot
stopped, and restartable (the same Telegram, so what it pinned and was sent stays);
``running_deployment`` starts one for a test's ``deployment`` fixture. ``write_config`` writes
the configuration these tests run with (off-site copies to ``offsite``, the backups topic).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from telegram.ext import CallbackContext

from bot.cli import main
from bot.fake_telegram import FakeBotAPI, Message
from bot.jobs.backups import JOB_NAME, nightly_backup
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.support import raw_db
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness
from tests.support.services import build_services
from tests.support.steps import register

PREFIX = "nightly/"
BACKUPS_TOPIC = 41
SECRET_EMAIL = "evidence-owner@example.com"


def write_config(tmp_path: Path, offsite: str, endpoint: str | None = None) -> Path:
    config = tmp_path / "config.toml"
    endpoint_line = f's3_endpoint_url = "{endpoint}"\n' if endpoint else ""
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\noffsite = "{offsite}"\n{endpoint_line}'
        "drill_days = 30\n"
        f"[alerts.topics]\nbackups = {BACKUPS_TOPIC}\n"
    )
    return config


@dataclass
class RunningBot:
    """The bot as it runs, restartable over whatever is on the disk (the same Telegram, so
    what it pinned and was sent stays)."""

    settings: Settings
    clock: FakeClock
    api: FakeBotAPI
    services: Services | None = None
    bot: BotHarness | None = None

    async def start(self) -> BotHarness:
        self.services = await build_services(self.settings, self.clock)
        self.bot = BotHarness(self.settings, self.services, self.api)
        await self.bot.start()
        return self.bot

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
        if self.services is not None:
            await self.services.aclose()
        self.bot = self.services = None

    async def job(self, name: str) -> None:
        """One run of the job ``name`` as the JobQueue runs it."""
        assert self.bot is not None and self.bot.app.job_queue is not None
        [job] = self.bot.app.job_queue.get_jobs_by_name(name)
        await job.run(self.bot.app)


@dataclass
class Deployment(RunningBot):
    """A :class:`RunningBot` with its configuration file and environment, stoppable so the
    commands can work on its files."""

    config: Path = field(kw_only=True)
    env: dict[str, str] = field(kw_only=True)

    def context(self, name: str) -> CallbackContext:
        assert self.bot is not None and self.bot.app.job_queue is not None
        [job] = self.bot.app.job_queue.get_jobs_by_name(name)
        return CallbackContext.from_job(job, self.bot.app)

    async def nightly(self) -> str:
        """The nightly backup job, through its JobQueue entry; the new archive's name."""
        before = set(self.archives())
        await nightly_backup(self.context(JOB_NAME))
        [name] = set(self.archives()) - before
        return name

    def archives(self) -> list[str]:
        return sorted(p.name for p in self.settings.backups.dir.glob("verzek-*.tar.gz"))

    def admin_chat(self) -> list[Message]:
        return self.api.sent_to(ADMIN_CHAT_ID)

    async def rows(self, sql: str, *params: object) -> list[tuple]:
        """The rows ``sql`` selects from the bot's database (either engine), read directly."""
        return await raw_db.rows(self.settings, sql, *params)

    def on_postgres(self) -> bool:
        return self.settings.database.url is not None

    async def cli(
        self,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        *argv: str,
        env: dict[str, str] | None = None,
        config: Path | None = None,
    ) -> tuple[int, str, str]:
        """``verzek ARGV --config …`` as the operator runs it, in this deployment's
        environment (or ``env``)."""
        for name in ("ENCRYPTION_MASTER_KEY", "ENCRYPTION_OLD_KEYS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in (env or self.env).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, "--config", str(config or self.config)])
        out, err = capsys.readouterr()
        return code, out, err


async def some_history(deployment: Deployment) -> None:
    """Things worth keeping: an account, whose email must not be readable in an archive."""
    assert deployment.bot is not None
    await register(deployment.bot, deployment.bot.user(777, "Owner"), email=SECRET_EMAIL)


@asynccontextmanager
async def running_deployment(
    settings: Settings, config: Path, env: dict[str, str], clock: FakeClock
) -> AsyncIterator[Deployment]:
    """The bot of a test's ``deployment`` fixture: started on ``settings``, stopped after."""
    api = FakeBotAPI(clock=lambda: clock.now().timestamp())
    api.forums.add(ADMIN_CHAT_ID, BACKUPS_TOPIC)
    running = Deployment(settings, clock, api, config=config, env=env)
    await running.start()
    yield running
    await running.stop()
