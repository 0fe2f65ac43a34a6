"""``verzek run`` in webhook mode, as a child process, against the fake Bot API over HTTP.

The bot is configured as an operator would (config.toml with ``telegram.mode = "webhook"`` and
an https ``webhook_url``; the secret in ``TELEGRAM_WEBHOOK_SECRET``). It listens on plain http
on 127.0.0.1, where a reverse proxy would stand; :class:`WebhookDelivery` plays Telegram and
is pointed there with its explicit ``via`` test switch.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.fake_telegram import TelegramUser
from bot.fake_telegram.webhook import SECRET_HEADER, WebhookDelivery
from core.crypto import generate_master_key
from tests.support.bot_process import REPO_ROOT, BotProcess, new_token
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fakeapi_http import FakeBotAPIServer

WEBHOOK_URL = "https://bot.example.test/telegram/hook"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WebhookBot:
    """The running bot, the fake Telegram and what they were configured with."""

    process: BotProcess
    server: FakeBotAPIServer
    delivery: WebhookDelivery
    token: str
    secret: str
    port: int
    database: Path

    @property
    def local_url(self) -> str:
        """Where the bot really listens (what the reverse proxy would forward to)."""
        return f"http://127.0.0.1:{self.port}/telegram/hook"


def update_json(update_id: int, user: TelegramUser, text: str) -> dict[str, Any]:
    """A message update as Telegram would POST it (a /start carries its command entity)."""
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
        "from": user.to_dict(),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


async def post_update(
    url: str, update: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST one update as anyone on the network could."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        return await client.post(url, content=json.dumps(update), headers=headers or {})


def forged_headers(secret: str | None) -> dict[str, str]:
    """The headers of a request carrying ``secret`` (None: no secret header at all)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return headers


@asynccontextmanager
async def webhook_bot(workdir: Path, extra_config: str = "") -> AsyncIterator[WebhookBot]:
    """Start the fake Telegram, its delivery and ``verzek run`` in webhook mode (plus
    ``extra_config`` lines of its [telegram] table); stop them all."""
    server = FakeBotAPIServer()
    await server.start()
    port = free_port()
    delivery = WebhookDelivery(server.api, via=f"http://127.0.0.1:{port}")
    await delivery.start()
    token, secret = new_token(), secrets.token_urlsafe(32)
    database = workdir / "data" / "verzek.db"
    (workdir / "config.toml").write_text(
        "[telegram]\n"
        'mode = "webhook"\n'
        f'webhook_url = "{WEBHOOK_URL}"\n'
        'webhook_listen = "127.0.0.1"\n'
        f"webhook_port = {port}\n" + extra_config
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "TRONSCAN_", "ADMIN_"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_BASE_URL": server.base_url,
            "TELEGRAM_WEBHOOK_SECRET": secret,
            "ADMIN_CHAT_ID": str(ADMIN_CHAT_ID),
            "VERZEK_ADMINS": str(ADMIN_ID),
            "VERZEK_DB": str(database),
            "ENCRYPTION_MASTER_KEY": generate_master_key(),
            "VERZEK_LOG_LEVEL": "DEBUG",
        }
    )
    process = BotProcess(workdir, env)
    try:
        await process.start()
        yield WebhookBot(process, server, delivery, token, secret, port, database)
    finally:
        await process.kill()
        await delivery.stop()
        await server.stop()
