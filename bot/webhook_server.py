"""The webhook server of ``telegram.mode = "webhook"``: PTB's, answering only handled updates.

PTB's tornado handler (``telegram.ext._utils.webhookhandler.TelegramHandler``) answers 200 as
soon as the update is on the queue (see bot/acks.py for why that loses updates). The least
invasive change, read off PTB v22's source: :class:`AckingUpdater` is PTB's ``Updater`` with
only ``_start_webhook`` replaced, to serve :class:`AckingHandler` — PTB's handler with only
the last step of ``post`` changed. Everything else is PTB's own: ``run_webhook``'s signals and
start/stop order, ``setWebhook`` (its ``_bootstrap``), the tornado ``WebhookServer``, and the
request checks (``_validate_post``: content type JSON, the ``X-Telegram-Bot-Api-Secret-Token``
header present and equal — compared in constant time by bot/webhook.py's ``SecretToken`` —
else 403 and nothing processed), the JSON decoding and ``insert_callback_data``.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from pathlib import Path
from socket import socket
from typing import Any

import tornado.web
from telegram import Bot, Update
from telegram.ext import ExtBot, Updater
from telegram.ext._utils.webhookhandler import TelegramHandler, WebhookAppClass, WebhookServer

from bot.acks import Acks


class AckingHandler(TelegramHandler):
    """PTB's handler, answering 200 once the update was handled and 503 when it was not."""

    def initialize(
        self,
        bot: Bot,
        update_queue: asyncio.Queue[Any],
        secret_token: str,
        acks: Acks | None = None,
    ) -> None:
        """Tornado's per-request set-up, with the :class:`Acks` to wait on."""
        super().initialize(bot, update_queue, secret_token)
        if acks is None:
            raise TypeError("AckingHandler waits on an Acks")
        self.acks = acks

    async def post(self) -> None:
        """PTB's ``post`` (checks, decoding), then wait for the update to be handled."""
        self._validate_post()
        data = json.loads(self.request.body.decode())
        try:
            update = Update.de_json(data, self.bot)
        except Exception as exc:
            raise tornado.web.HTTPError(
                HTTPStatus.BAD_REQUEST, reason="Update could not be processed"
            ) from exc
        if update is None:  # nothing in it to handle
            self.set_status(HTTPStatus.OK)
            return
        if isinstance(self.bot, ExtBot):
            self.bot.insert_callback_data(update)
        if not await self.acks.submit(update):
            raise tornado.web.HTTPError(HTTPStatus.SERVICE_UNAVAILABLE)  # Telegram retries
        self.set_status(HTTPStatus.OK)


class AckingWebhookApp(WebhookAppClass):
    """PTB's ``WebhookAppClass`` serving :class:`AckingHandler` instead of its own."""

    def __init__(self, webhook_path: str, bot: Bot, acks: Acks, secret_token: str | None) -> None:
        self.shared_objects = {
            "bot": bot,
            "update_queue": acks.application.update_queue,
            "secret_token": secret_token,
            "acks": acks,
        }
        handlers = [(rf"{webhook_path}/?", AckingHandler, self.shared_objects)]
        tornado.web.Application.__init__(self, handlers)  # PTB's own call, our handler


class AckingUpdater(Updater):
    """PTB's ``Updater`` whose webhook server is :class:`AckingWebhookApp` (polling: PTB's)."""

    def __init__(self, acks: Acks) -> None:
        super().__init__(bot=acks.application.bot, update_queue=acks.application.update_queue)
        self.acks = acks

    async def _start_webhook(
        self,
        listen: str,
        port: int,
        url_path: str,
        bootstrap_retries: int,
        allowed_updates: Any,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        drop_pending_updates: bool | None = None,
        webhook_url: str | None = None,
        ready: asyncio.Event | None = None,
        ip_address: str | None = None,
        max_connections: int = 40,
        secret_token: str | None = None,
        unix: str | Path | socket | None = None,
    ) -> None:
        if cert is not None or key is not None or not webhook_url:
            raise ValueError("TLS ends at the reverse proxy; the webhook URL is configured")
        if not url_path.startswith("/"):
            url_path = f"/{url_path}"
        app = AckingWebhookApp(url_path, self.bot, self.acks, secret_token)
        self._httpd = WebhookServer(listen, port, app, None, unix)
        await self._bootstrap(
            max_retries=bootstrap_retries,
            drop_pending_updates=drop_pending_updates,
            webhook_url=webhook_url,
            allowed_updates=allowed_updates,
            cert=None,
            ip_address=ip_address,
            max_connections=max_connections,
            secret_token=secret_token,
        )
        await self._httpd.serve_forever(ready=ready)
