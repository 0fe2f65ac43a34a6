"""Webhooks in the fake Telegram: ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo`` by
the Bot API's published rules (core.telegram.org/bots/api#setwebhook), and the delivery.

- ``setWebhook`` takes an HTTPS URL (an empty one removes the webhook) on port 443, 80, 88
  or 8443; ``secret_token`` is 1–256 characters of ``A-Za-z0-9_-``; ``drop_pending_updates``
  drops what is queued. While a webhook is set, ``getUpdates`` is refused with 409 Conflict.
- :class:`WebhookDelivery` plays Telegram's side: each queued update, oldest first, is POSTed
  as JSON to the webhook with the header ``X-Telegram-Bot-Api-Secret-Token``; an update is
  dropped from the queue only once the bot answered 2xx; an update whose POST failed (refused
  connection, reset, no answer within :data:`ANSWER_TIMEOUT`) or got any other status is sent
  again, to whatever address the spread picks next (several addresses: see below).

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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from bot.fake_telegram.uploads import Refused
from core.digits import parse_int

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
WEBHOOK_PORTS = (443, 80, 88, 8443)
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
RETRY_DELAY = 0.2  # seconds before a refused delivery is tried again (Telegram backs off more)
DOWN_FOR = 2.0  # seconds an address refusing connections is passed over (several addresses)
Spread = Literal["round_robin", "by_user"]
# Seconds Telegram waits for a webhook's answer: github.com/tdlib/telegram-bot-api,
# telegram-bot-api/WebhookActor.cpp opens each connection with a 60 s timeout.
ANSWER_TIMEOUT = 60.0


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
    """Telegram POSTing the queued updates to the webhook (see the module docstring).

    ``via`` may list several addresses: the delivery then plays Telegram *and* the load
    balancer in front of several instances, as one webhook URL is all Telegram knows.
    ``spread`` = "round_robin" (each update to the next address) or "by_user" (one user's
    updates always to the same address while it answers: sticky sessions). An address that
    refuses the connection is skipped for :data:`DOWN_FOR` seconds and the update goes to the
    next one at once (a balancer's passive health check). ``connections`` updates are in flight
    at once (Telegram's ``max_connections``), but never two of one user: Telegram sends a
    chat's updates in order, each after the previous one was answered.
    """

    def __init__(
        self,
        api: WebhookMethods,
        *,
        via: str | Sequence[str],
        spread: Spread = "round_robin",
        connections: int = 1,
        timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        self.api = api
        self.timeout = timeout
        self.targets = [v.rstrip("/") for v in ([via] if isinstance(via, str) else via)]
        if not self.targets or connections < 1:
            raise ValueError("a delivery needs an address and at least one connection")
        self.via = self.targets[0]
        self.spread = spread
        self.connections = connections
        self.delivered: list[int] = []  # update ids the bot accepted
        self.delivered_to: dict[int, str] = {}  # update id -> the address that accepted it
        self.refusals: list[int] = []  # HTTP statuses of refused deliveries
        self.failovers = 0  # deliveries that went to another address than first chosen
        self.attempts: dict[int, int] = {}  # update id -> POSTs made for it (2+: redelivered)
        self.in_flight_to: dict[int, str] = {}  # update id -> the address it is POSTed to now
        self._next = 0
        self._down_until: dict[str, float] = {}
        self._in_flight: set[int] = set()  # ids of the users whose update is being delivered
        self._delivering: set[int] = set()  # ids of the updates being delivered
        self._tasks: list[asyncio.Task[None]] = []

    def target(self, hook: Webhook, via: str | None = None) -> str:
        """Where the update goes: ``via`` (the first address by default) plus the path."""
        return (via or self.via) + (urlsplit(hook.url).path or "/")

    async def start(self) -> None:
        """Deliver in the background until :meth:`stop`."""
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self.connections)]

    async def stop(self) -> None:
        """Stop delivering (what is left stays queued)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _take(self) -> tuple[dict[str, Any], int] | None:
        """The oldest queued update of a user with nothing in flight (None: nothing to do)."""
        for update in self.api.pending_updates:
            user = update_user(update)
            if user not in self._in_flight and update["update_id"] not in self._delivering:
                return update, user
        return None

    def _order(self, user: int) -> list[str]:
        """The addresses to try for ``user``'s update, the chosen one first, dead ones last."""
        n = len(self.targets)
        if self.spread == "by_user":
            first = user % n
        else:
            first, self._next = self._next % n, self._next + 1
        ordered = self.targets[first:] + self.targets[:first]
        now = time.monotonic()
        return sorted(ordered, key=lambda t: self._down_until.get(t, 0.0) > now)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                hook = self.api.webhook
                taken = self._take() if hook is not None else None
                if hook is None or taken is None:
                    await asyncio.sleep(0.01)
                    continue
                update, user = taken
                self._in_flight.add(user)
                self._delivering.add(update["update_id"])
                try:
                    await self._deliver(client, hook, update, user)
                finally:
                    self._delivering.discard(update["update_id"])
                    self._in_flight.discard(user)

    async def _deliver(
        self, client: httpx.AsyncClient, hook: Webhook, update: dict[str, Any], user: int
    ) -> None:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token is not None:
            headers[SECRET_HEADER] = hook.secret_token
        body = json.dumps(update)
        order = self._order(user)
        update_id = update["update_id"]
        for attempt, via in enumerate(order):
            self.attempts[update_id] = self.attempts.get(update_id, 0) + 1
            self.in_flight_to[update_id] = via
            try:
                response = await client.post(self.target(hook, via), content=body, headers=headers)
            except httpx.HTTPError as exc:
                logger.debug("webhook delivery to %s failed: %s", via, type(exc).__name__)
                if isinstance(exc, httpx.ConnectError) and len(order) > 1:
                    self._down_until[via] = time.monotonic() + DOWN_FOR
                continue
            finally:
                self.in_flight_to.pop(update_id, None)
            if attempt:
                self.failovers += 1
            if 200 <= response.status_code < 300:
                with contextlib.suppress(ValueError):
                    self.api.pending_updates.remove(update)
                self.delivered.append(update["update_id"])
                self.delivered_to[update["update_id"]] = via
                return
            self.refusals.append(response.status_code)
            break
        await asyncio.sleep(RETRY_DELAY)


def update_user(update: dict[str, Any]) -> int:
    """The user an update comes from (0 when it has none, e.g. a channel post)."""
    for value in update.values():
        if isinstance(value, dict):
            sender = value.get("from")
            user_id = sender.get("id") if isinstance(sender, dict) else None
            if isinstance(user_id, int):
                return user_id
    return 0
