"""Several real ``verzek run`` processes behind one webhook, as an operator runs a fleet.

:func:`fleet` starts the fake Telegram over HTTP (its :class:`WebhookDelivery` spreading the
updates over every instance's listen port, like the load balancer in front of them), the
fake TronScan over HTTP, and ``n`` instances in webhook mode with one token, one secret, one
master key, one database (``database_url``: PostgreSQL; None: one SQLite file they share) and
one rate-limit store (``redis_url``), each with its own config file, port and log files. The
instances start one after the other (the first migrates the database), as a rolling deploy.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bot.fake_telegram import FakeBotAPI, Message, TelegramUser
from bot.fake_telegram.webhook import Spread, WebhookDelivery
from core.crypto import generate_master_key
from tests.support.bot_process import REPO_ROOT, BotProcess, new_token
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fakeapi_http import FakeBotAPIServer
from tests.support.tronscan_http import TronscanServer
from tests.support.webhook_steps import WEBHOOK_URL, free_port

WAIT = 30.0  # seconds any one expected reply or event may take on a loaded machine
LEASE_NEWS = re.compile(r"(this instance now runs|another instance runs) the scheduled jobs")


@dataclass
class Fleet:
    """The running instances and the fakes around them."""

    server: FakeBotAPIServer
    delivery: WebhookDelivery
    tronscan: TronscanServer
    bots: list[BotProcess]
    ports: list[int]
    secret: str
    token: str
    master_key: str
    killed: set[int] = field(default_factory=set)

    @property
    def api(self) -> FakeBotAPI:
        """The fake Telegram every instance talks to."""
        return self.server.api

    def alive(self) -> list[int]:
        """Indexes of the instances still running."""
        return [i for i, bot in enumerate(self.bots) if bot.returncode is None]

    def logs(self) -> str:
        """Every instance's stderr, for failure messages."""
        return "\n".join(f"--- instance {i}\n{b.stderr[-4000:]}" for i, b in enumerate(self.bots))

    async def wait(self, what: str, condition: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Poll ``condition`` until truthy; fail with every instance's log if it is not."""
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            for i in self.alive():
                if self.bots[i].returncode is not None:  # pragma: no cover - died
                    raise AssertionError(f"instance {i} exited before {what}\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout:.0f} s\n{self.logs()}")
            await asyncio.sleep(0.02)
        return result

    def leaders(self) -> list[int]:
        """The live instances whose last word on the job lease is that they run the jobs."""
        found = []
        for i in self.alive():
            said = LEASE_NEWS.findall(self.bots[i].stderr)
            if said and said[-1] == "this instance now runs":
                found.append(i)
        return found

    async def say(
        self, user: TelegramUser, text: str, replies: int = 1, chat_id: int | None = None
    ) -> list[Message]:
        """``user`` sends ``text``; the ``replies`` messages the bot then sent to the chat."""
        chat = chat_id if chat_id is not None else user.id
        before = len(self.api.sent_to(chat))
        self.api.user_sends(user, text, chat_id=chat)
        return await self._replies(chat, before, replies, f"{replies} reply to {text!r}")

    async def press(
        self, user: TelegramUser, message: Message, button: str, replies: int = 1
    ) -> list[Message]:
        """``user`` presses the button labelled ``button`` (or with that callback data) on
        ``message``; the new messages."""
        data = next(
            (b.callback_data for b in message.buttons if button in (b.text, b.callback_data)),
            None,
        )
        if data is None:
            said = "\n".join(self.texts(message.chat_id))
            raise AssertionError(f"no button {button!r} on {message.plain!r}; the chat:\n{said}")
        before = len(self.api.sent_to(message.chat_id))
        self.api.user_presses(user, message, data)
        return await self._replies(message.chat_id, before, replies, f"a reply to {button!r}")

    async def _replies(self, chat: int, before: int, n: int, what: str) -> list[Message]:
        await self.wait(what, lambda: len(self.api.sent_to(chat)) >= before + n)
        return self.api.sent_to(chat)[before:]

    def texts(self, chat_id: int) -> list[str]:
        """The plain text of everything the bot sent to ``chat_id``."""
        return [m.plain for m in self.api.sent_to(chat_id)]

    async def kill(self, index: int) -> None:
        """kill -9 one instance: no shutdown code runs (no lease handed back)."""
        await self.bots[index].kill()
        self.killed.add(index)


def config_text(port: int, *, lease_seconds: int, redis_url: str | None, limits: str) -> str:
    """One instance's config.toml (only its port differs from the others')."""
    lines = [
        "[telegram]",
        'mode = "webhook"',
        f'webhook_url = "{WEBHOOK_URL}"',
        'webhook_listen = "127.0.0.1"',
        f"webhook_port = {port}",
        "webhook_remove_on_stop = false",  # one instance stopping must not unhook the fleet
        "[security]",
        "captcha = false",
        "[jobs]",
        f"lease_seconds = {lease_seconds}",
    ]
    lines.append("[rate_limits]")
    if redis_url is not None:
        lines.append(f'storage = "{redis_url}"')
    return "\n".join(lines) + "\n" + limits


@asynccontextmanager
async def fleet(
    workdir: Path,
    n: int = 2,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    spread: Spread = "round_robin",
    lease_seconds: int = 6,
    extra_config: str = "",
    log_level: str = "INFO",
    connections: int = 8,
    api: FakeBotAPI | None = None,
    rate_limits: str = "",
) -> AsyncIterator[Fleet]:
    """Start the fakes and ``n`` instances (see the module docstring); stop them all.
    ``rate_limits``: lines of the [rate_limits] table; ``extra_config``: further tables."""
    server = FakeBotAPIServer(api)
    await server.start()
    tronscan = TronscanServer()
    await tronscan.start()
    ports = [free_port() for _ in range(n)]
    delivery = WebhookDelivery(
        server.api,
        via=[f"http://127.0.0.1:{p}" for p in ports],
        spread=spread,
        connections=connections,
    )
    await delivery.start()
    token, secret, key = new_token(), secrets.token_urlsafe(32), generate_master_key()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "TRONSCAN_", "ADMIN_"))
    }
    env |= {
        "PYTHONPATH": str(REPO_ROOT),
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_BASE_URL": server.base_url,
        "TELEGRAM_WEBHOOK_SECRET": secret,
        "ADMIN_CHAT_ID": str(ADMIN_CHAT_ID),
        "VERZEK_ADMINS": str(ADMIN_ID),
        "VERZEK_DB": str(workdir / "shared" / "verzek.db"),
        "ENCRYPTION_MASTER_KEY": key,
        "VERZEK_LOG_LEVEL": log_level,
    }
    if database_url is not None:
        env["VERZEK_DATABASE_URL"] = database_url
    tron = f'[tronscan]\nbase_url = "{tronscan.base_url}"\n'
    running = Fleet(server, delivery, tronscan, [], ports, secret, token, key)
    try:
        for i, port in enumerate(ports):
            home = workdir / f"instance{i}"
            home.mkdir(parents=True)
            text = config_text(
                port, lease_seconds=lease_seconds, redis_url=redis_url, limits=rate_limits
            )
            (home / "config.toml").write_text(text + tron + extra_config)
            bot = BotProcess(home, dict(env))
            running.bots.append(bot)
            await bot.start()
            await running.wait(f"instance {i} listening", partial(_listening, bot, port))
        yield running
    finally:
        for bot in running.bots:
            await bot.kill()
        await delivery.stop()
        await tronscan.stop()
        await server.stop()


def _listening(bot: BotProcess, port: int) -> bool:
    if bot.returncode is not None:
        raise AssertionError(f"verzek run exited ({bot.returncode}):\n{bot.stderr}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
