"""The fake Telegram's webhook delivery in front of several instances (a load balancer):
round robin or sticky by user, failover from an address that refuses connections, several
updates in flight but one user's in order. Plain asyncio HTTP servers stand in for the bots."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bot.fake_telegram import FakeBotAPI, TelegramUser
from bot.fake_telegram.webhook import (
    SECRET_HEADER,
    Spread,
    Webhook,
    WebhookDelivery,
    update_user,
)

SECRET = "S" * 32
HOOK = Webhook("https://bot.example.test/hook", SECRET, None, 40)


class Backend:
    """An HTTP server answering 200 to every POST, recording (update_id, user, secret)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.seen: list[tuple[int, int, str | None]] = []
        self.delay = delay
        self.concurrent = self.most_concurrent = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                headers = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                assert line.startswith(b"POST /hook ")
                self.concurrent += 1
                self.most_concurrent = max(self.most_concurrent, self.concurrent)
                await asyncio.sleep(self.delay)
                self.concurrent -= 1
                update = json.loads(body)
                secret = headers.get(SECRET_HEADER.lower())
                self.seen.append((update["update_id"], update_user(update), secret))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


@asynccontextmanager
async def balanced(
    api: FakeBotAPI, vias: list[str], spread: Spread = "round_robin", connections: int = 1
) -> AsyncIterator[WebhookDelivery]:
    api.webhook = HOOK
    delivery = WebhookDelivery(api, via=vias, spread=spread, connections=connections)
    await delivery.start()
    try:
        yield delivery
    finally:
        await delivery.stop()


async def drained(api: FakeBotAPI, delivery: WebhookDelivery, n: int) -> None:
    async with asyncio.timeout(10):
        while api.pending_updates or len(delivery.delivered) < n:  # noqa: ASYNC110 (polls the fake)
            await asyncio.sleep(0.01)


@pytest.fixture
async def backends() -> AsyncIterator[list[Backend]]:
    started = [Backend(), Backend()]
    for backend in started:
        await backend.start()
    yield started
    for backend in started:
        await backend.stop()


async def test_round_robin_alternates_and_carries_the_secret(backends: list[Backend]) -> None:
    api = FakeBotAPI()
    async with balanced(api, [b.url for b in backends]) as delivery:
        for i in range(6):
            api.user_sends(TelegramUser(1), f"message {i}")
        await drained(api, delivery, 6)
    first, second = backends
    assert [u for u, _, _ in first.seen] == [1, 3, 5]
    assert [u for u, _, _ in second.seen] == [2, 4, 6]
    assert {s for _, _, s in first.seen + second.seen} == {SECRET}
    assert delivery.delivered == [1, 2, 3, 4, 5, 6] and delivery.failovers == 0


async def test_by_user_is_sticky(backends: list[Backend]) -> None:
    api = FakeBotAPI()
    async with balanced(api, [b.url for b in backends], "by_user", connections=4) as delivery:
        for i in range(12):
            api.user_sends(TelegramUser(10 + i % 3), "hello")
        await drained(api, delivery, 12)
    for backend in backends:
        users = {user for _, user, _ in backend.seen}
        assert all(user % 2 == backends.index(backend) for user in users)
    assert sum(len(b.seen) for b in backends) == 12


async def test_a_dead_instance_is_failed_over_and_nothing_is_lost(backends: list[Backend]) -> None:
    api = FakeBotAPI()
    first, second = backends
    vias = [b.url for b in backends]
    await first.stop()  # refuses connections from now on, like a killed instance
    async with balanced(api, vias) as delivery:
        for i in range(5):
            api.user_sends(TelegramUser(1), f"message {i}")
        await drained(api, delivery, 5)
    assert first.seen == [] and [u for u, _, _ in second.seen] == [1, 2, 3, 4, 5]
    assert delivery.failovers >= 1 and len(set(delivery.delivered)) == 5


async def test_one_users_updates_stay_in_order_while_others_run_alongside() -> None:
    slow = Backend(delay=0.05)
    await slow.start()
    try:
        api = FakeBotAPI()
        async with balanced(api, [slow.url], connections=4) as delivery:
            for i in range(12):
                api.user_sends(TelegramUser(100 + i % 4), f"message {i}")
            await drained(api, delivery, 12)
    finally:
        await slow.stop()
    assert slow.most_concurrent > 1  # users in parallel...
    for user in range(100, 104):  # ...but each user's updates one after the other, in order
        ids = [u for u, who, _ in slow.seen if who == user]
        assert ids == sorted(ids) and len(ids) == 3


def test_a_delivery_needs_an_address() -> None:
    with pytest.raises(ValueError, match="address"):
        WebhookDelivery(FakeBotAPI(), via=[])
