"""Webhooks in the fake Telegram: ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo`` by
the Bot API's published rules (core.telegram.org/bots/api#setwebhook), and the delivery.

- ``setWebhook`` takes an HTTPS URL (an empty one removes the webhook) on port 443, 80, 88
  or 8443; ``secret_token`` is 1–256 characters of ``A-Za-z0-9_-``; ``drop_pending_updates``
  drops what is queued. While a webhook is set, ``getUpdates`` is refused with 409 Conflict.
- :class:`WebhookDelivery` plays Telegram's side: each queued update, oldest first, is POSTed
  as JSON to the webhook with the header ``X-Telegram-Bot-Api-Secret-Token``; an update is
  dropped from the queue only once the bot answered 2xx, and retried otherwise.

A test's bot listens on plain http on 127.0.0.1, where a reverse proxy would sit in front of
a real one: ``WebhookDelivery(api, via="http://127.0.0.1:PORT")`` is the explicit test switch
that sends to that address instead of the webhook URL's scheme, host and port (the path is
kept). The bot's own configuration stays https only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.fake_telegram.uploads import Refused
from core.digits import parse_int

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
WEBHOOK_PORTS = (443, 80, 88, 8443)
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
RETRY_DELAY = 0.2  # seconds before a refused delivery is tried again (Telegram backs off more)


@dataclass(frozen=True)
class Webhook:
    """What the bot set."""

    url: str
    secret_token: str | None
    allowed_updates: tuple[str, ...] | None
    max_connections: int


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _flag(value: Any) -> bool:
    return value is True or value in ("true", "True", "1")


def _bad(description: str) -> Refused:
    return Refused(400, f"Bad Request: {description}")


class WebhookMethods:
    """The Bot API methods above, mixed into :class:`bot.fake_telegram.api.FakeBotAPI`."""

    pending_updates: list[dict[str, Any]]
    webhook: Webhook | None = None
    webhook_calls: list[str]  # "set" / "deleted", in order

    def _webhook_log(self, what: str) -> None:
        if "webhook_calls" not in self.__dict__:
            self.webhook_calls = []
        self.webhook_calls.append(what)

    def refuse_polling_while_webhook(self) -> None:
        """Called by getUpdates: Telegram refuses it while a webhook is set."""
        if self.webhook is not None:
            raise Refused(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

    async def _api_setWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self._api_deleteWebhook(params, files)
        try:
            parts = urlsplit(url)
            port = parts.port or 443
        except ValueError:
            raise _bad("bad webhook: invalid URL") from None
        if parts.scheme != "https" or not parts.hostname:
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if port not in WEBHOOK_PORTS:
            raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        allowed = _decoded(params.get("allowed_updates"))
        raw = params.get("max_connections", 40)
        connections = raw if isinstance(raw, int) else parse_int(str(raw))
        if connections is None or not 1 <= connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        if _flag(params.get("drop_pending_updates")):
            self.pending_updates.clear()
        self.webhook = Webhook(
            url,
            str(secret) if secret is not None else None,
            tuple(allowed) if isinstance(allowed, list) else None,
            connections,
        )
        self._webhook_log("set")
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if _flag(params.get("drop_pending_updates")):
            self.pending_updates.clear()
        self.webhook = None
        self._webhook_log("deleted")
        return True

    async def _api_getWebhookInfo(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        hook = self.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.allowed_updates is not None:
                info["allowed_updates"] = list(hook.allowed_updates)
        return info


class WebhookDelivery:
    """Telegram POSTing the queued updates to the webhook (see the module docstring)."""

    def __init__(self, api: WebhookMethods, *, via: str) -> None:
        self.api = api
        self.via = via.rstrip("/")
        self.delivered: list[int] = []  # update ids the bot accepted
        self.refusals: list[int] = []  # HTTP statuses of refused deliveries
        self._task: asyncio.Task[None] | None = None

    def target(self, hook: Webhook) -> str:
        """Where the update goes: ``via`` plus the webhook URL's path."""
        return self.via + (urlsplit(hook.url).path or "/")

    async def start(self) -> None:
        """Deliver in the background until :meth:`stop`."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop delivering (what is left stays queued)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                hook = self.api.webhook
                if hook is None or not self.api.pending_updates:
                    await asyncio.sleep(0.02)
                    continue
                update = self.api.pending_updates[0]
                headers = {"Content-Type": "application/json"}
                if hook.secret_token is not None:
                    headers[SECRET_HEADER] = hook.secret_token
                try:
                    response = await client.post(
                        self.target(hook), content=json.dumps(update), headers=headers
                    )
                except httpx.HTTPError as exc:
                    logger.debug("webhook delivery failed: %s", type(exc).__name__)
                    await asyncio.sleep(RETRY_DELAY)
                    continue
                if 200 <= response.status_code < 300:
                    if self.api.pending_updates and self.api.pending_updates[0] is update:
                        self.api.pending_updates.pop(0)
                    self.delivered.append(update["update_id"])
                else:
                    self.refusals.append(response.status_code)
                    await asyncio.sleep(RETRY_DELAY)
