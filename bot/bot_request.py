"""The bot's HTTP requests to the Bot API: several one-connection clients instead of one pool.

PTB's ``HTTPXRequest`` keeps one httpx client whose httpcore pool holds every connection. On
each request's start and end that pool walks all its connections, asks each idle one whether
the server closed it (a ``poll`` and a ``getpeername`` per connection) and counts the idle
ones once per connection (quadratic): with the 16 requests :mod:`bot.outgoing` keeps in
flight, that walk cost more CPU per message than the rest of a /me (bench/updates.py: bare
PTB answers at 2.1 ms of CPU per message with 256 updates at a time against 1.3 ms one at a
time). :class:`ShardedRequest` gives each request a client of its own with one connection,
taken from a stack of idle ones (the most recently used first, so a quiet bot uses one) and
returned afterwards: each walk sees one connection, as PTB's one-at-a-time bot does.

Everything else is PTB's: timeouts, the User-Agent, error mapping (``TimedOut``,
``NetworkError``), JSON and multipart bodies. All clients share one TLS context (one
certificate store in memory, loaded once). At most :data:`MAX_CLIENTS` requests are on the
wire at once, as with PTB's default pool of 256; more wait for a client up to the pool timeout
and then fail with ``TimedOut``, as PTB's pool does.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any

from telegram.error import TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

MAX_CLIENTS = 256  # PTB's default connection_pool_size for the bot's requests
POOL_TIMEOUT = 1.0  # PTB's default: how long a request waits for a free connection


class ShardedRequest(BaseRequest):
    """A ``BaseRequest`` over one-connection ``HTTPXRequest`` clients, one per request."""

    def __init__(self, max_clients: int = MAX_CLIENTS, pool_timeout: float = POOL_TIMEOUT) -> None:
        self._max = max_clients
        self._pool_timeout = pool_timeout
        self._tls = ssl.create_default_context()
        self._idle: list[HTTPXRequest] = []  # a stack: the last used goes out first
        self._all: list[HTTPXRequest] = []
        self._waiting: deque[asyncio.Future[HTTPXRequest]] = deque()
        self._template = self._new()  # read_timeout and friends, before any request

    def _new(self) -> HTTPXRequest:
        return HTTPXRequest(
            connection_pool_size=1,
            pool_timeout=self._pool_timeout,
            httpx_kwargs={"verify": self._tls},
        )

    @property
    def read_timeout(self) -> float | None:
        """PTB's default read timeout (5 s)."""
        return self._template.read_timeout

    async def initialize(self) -> None:
        """Nothing to open: clients are made when requests need them."""
        for client in self._all:
            await client.initialize()

    async def shutdown(self) -> None:
        """Close every client."""
        clients, self._all, self._idle = self._all, [], []
        for client in clients:
            await client.shutdown()
        await self._template.shutdown()

    async def _take(self, pool_timeout: float | None) -> HTTPXRequest:
        if self._idle:
            return self._idle.pop()
        if len(self._all) < self._max:
            client = self._new()
            self._all.append(client)
            return client
        future: asyncio.Future[HTTPXRequest] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            return await asyncio.wait_for(future, pool_timeout)
        except TimeoutError:
            raise TimedOut("Pool timeout: every connection is busy; not sent") from None
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._give(future.result())  # handed over, then abandoned: pass it on
            raise

    def _give(self, client: HTTPXRequest) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(client)
                return
        self._idle.append(client)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send the request on a client of its own (PTB's ``HTTPXRequest.do_request``)."""
        wait = pool_timeout if isinstance(pool_timeout, int | float) else self._pool_timeout
        client = await self._take(wait)
        try:
            return await client.do_request(
                url,
                method,
                request_data,
                read_timeout,
                write_timeout,
                connect_timeout,
                pool_timeout,
            )
        finally:
            self._give(client)
