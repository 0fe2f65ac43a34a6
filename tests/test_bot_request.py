"""bot/bot_request.py: the bot's requests on one-connection clients, one request per client.

The server here is a few lines of HTTP/1.1 on asyncio streams that can hold its answers back,
so requests stay in flight while the test looks at which connection each one took.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import pytest
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData

from bot.app import build_application
from bot.bot_request import ShardedRequest
from core.config import Settings

ANSWER = b'{"ok": true, "result": true}'


class HoldingServer:
    """Answers every POST with ``ANSWER`` once :attr:`release` is set; counts, per connection,
    the requests it carried."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()
        self.per_connection: list[int] = []
        self.request_lines: list[str] = []
        self.waiting = 0
        self.arrived = asyncio.Event()  # set when a request comes in
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/bot1:x/sendMessage"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.per_connection)
        self.per_connection.append(0)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                await reader.readexactly(length)
                self.per_connection[index] += 1
                self.request_lines.append(head.decode().split("\r\n", 1)[0])
                self.waiting += 1
                self.arrived.set()
                await self.release.wait()
                self.waiting -= 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> HoldingServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)


@pytest.fixture
async def server() -> AsyncIterator[HoldingServer]:
    async with HoldingServer() as served:
        yield served


async def held(server: HoldingServer, count: int) -> None:
    """Until ``count`` requests wait at the server for their answers."""
    async with asyncio.timeout(5):
        while server.waiting < count:
            server.arrived.clear()
            await server.arrived.wait()


async def test_each_request_in_flight_has_a_connection_of_its_own(server: HoldingServer) -> None:
    request = ShardedRequest()
    try:
        server.release.clear()
        calls = [asyncio.create_task(request.post(server.url, RequestData())) for _ in range(5)]
        await held(server, 5)
        assert server.per_connection == [1, 1, 1, 1, 1]  # five in flight, five connections
        server.release.set()
        assert await asyncio.gather(*calls) == [True] * 5
        # One at a time, every request goes out on the client used last: a quiet bot keeps
        # one connection busy, and no new connection is opened.
        for _ in range(4):
            assert await request.post(server.url, RequestData()) is True
        assert sorted(server.per_connection) == [1, 1, 1, 1, 5]
    finally:
        await request.shutdown()


async def test_beyond_its_clients_a_request_waits_then_times_out(server: HoldingServer) -> None:
    request = ShardedRequest(max_clients=1)
    try:
        server.release.clear()
        first = asyncio.create_task(request.post(server.url, RequestData()))
        await held(server, 1)
        with pytest.raises(TimedOut, match="not\\* sent"):
            await request.post(server.url, RequestData(), pool_timeout=0.05)
        waiting = asyncio.create_task(request.post(server.url, RequestData(), pool_timeout=5))
        await asyncio.sleep(0.05)
        server.release.set()  # the first one's client goes to the waiting request
        assert await first is True
        assert await waiting is True
        assert server.per_connection == [2]  # the one connection served both
    finally:
        await request.shutdown()


async def test_network_failures_are_ptb_errors(server: HoldingServer) -> None:
    request = ShardedRequest()
    try:
        server.release.clear()
        with pytest.raises(TimedOut):
            await request.post(server.url, RequestData(), read_timeout=0.1)
        server.release.set()
        # A port nobody listens on (the server's own, once it is closed).
        closed = server.url
        await server.__aexit__()
        with pytest.raises(NetworkError):
            await request.post(closed.replace("/bot", "/x/bot"), RequestData(), connect_timeout=1)
    finally:
        await request.shutdown()


async def test_after_shutdown_no_request_goes_out(server: HoldingServer) -> None:
    request = ShardedRequest()
    assert await request.post(server.url, RequestData()) is True
    await request.shutdown()
    with pytest.raises(NetworkError, match="not initialized"):  # as PTB words it
        await request.post(server.url, RequestData())
    await request.initialize()  # PTB initializes again after a shutdown (restart in-process)
    assert await request.post(server.url, RequestData()) is True
    await request.shutdown()


def test_the_bot_sends_through_it_and_verifies_certificates(settings: Settings) -> None:
    application = build_application(settings)
    request = application.bot.request
    assert isinstance(request, ShardedRequest)
    assert request._tls.verify_mode == ssl.CERT_REQUIRED
    assert request._tls.check_hostname


async def test_a_proxy_in_the_environment_is_used(
    server: HoldingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As with PTB's own client: HTTP(S)_PROXY / ALL_PROXY send every request through it.
    proxy = server.url.split("/bot", 1)[0]
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "")
    request = ShardedRequest()
    try:
        assert await request.post("http://api.telegram.invalid/bot1:x/getMe", RequestData())
        assert server.request_lines == ["POST http://api.telegram.invalid/bot1:x/getMe HTTP/1.1"]
    finally:
        await request.shutdown()


async def test_without_a_proxy_it_goes_straight_to_the_server(server: HoldingServer) -> None:
    request = ShardedRequest()
    try:
        assert await request.post(server.url, RequestData())
        assert server.request_lines == ["POST /bot1:x/sendMessage HTTP/1.1"]
    finally:
        await request.shutdown()
