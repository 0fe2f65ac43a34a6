"""The bot's HTTP requests to the Bot API: one-connection httpx transports, one per request.

PTB's ``HTTPXRequest`` keeps one httpx client whose httpcore pool holds every connection. On
each request's start and end that pool walks all its connections, asks each idle one whether
the server closed it (a ``poll`` and a ``getpeername`` per connection) and counts the idle
ones once per connection (quadratic): with the 16 requests :mod:`bot.outgoing` keeps in
flight, that walk was about a quarter of ours' CPU per /me (bench/updates.py, consecutive
quick runs: 2.47 ms with it, 1.84 ms without). :class:`ShardedRequest` gives each request an
httpx transport of its own with one connection, taken from a stack of idle ones (the most
recently used first, so a quiet bot uses one) and put back afterwards: each walk sees one
connection, as with PTB's bot that handles one update at a time.

The request itself is PTB's ``HTTPXRequest.do_request``: its timeouts (5 s, files 20 s for
writing, 1 s for a free connection), User-Agent, JSON and multipart bodies, and errors
(``TimedOut``, ``NetworkError``). It goes to the transport directly, without httpx's client
around it (a cookie jar fed every response, auth and redirect steps, a log line: ~120 us a
request, bench/updates.py's HTTP fake answering), except when the environment names a proxy
(``HTTPS_PROXY``, ``ALL_PROXY``): then through a client, which honours it as PTB's does. Two
things are parsed once instead of on every request:
the endpoint's URL (httpx parses a string URL twice per request, about half of building it)
and the default timeouts. All clients share one TLS context, httpx's default (certificates
verified against certifi's roots or ``SSL_CERT_FILE``), loaded once. At most
:data:`MAX_CLIENTS` requests are on the wire at once, as with PTB's default pool of 256; more
wait for a client up to the pool timeout and then fail with ``TimedOut``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.request import getproxies

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

MAX_CLIENTS = 256  # PTB's default connection_pool_size for the bot's requests
MAX_URLS = 512  # parsed URLs kept (the Bot API's methods; file downloads are not kept)
READ = WRITE = CONNECT = 5.0  # PTB's HTTPXRequest defaults, seconds
POOL = 1.0
MEDIA_WRITE = 20.0


def _given(value: Any) -> bool:
    """Whether the caller passed this timeout (a number, or None: no limit); PTB passes its
    ``DEFAULT_NONE`` for "not given"."""
    return value is None or isinstance(value, int | float)


def _or(value: Any, default: float) -> float | None:
    return value if _given(value) else default


class _ViaClient(httpx.AsyncBaseTransport):
    """A whole httpx client as a transport: for proxies named in the environment
    (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), which httpx's client honours, as PTB's does."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the client (its proxy, if any), the body read."""
        return await self._client.send(request)

    async def aclose(self) -> None:
        """Close the client."""
        await self._client.aclose()


class ShardedRequest(BaseRequest):
    """A ``BaseRequest`` over one-connection httpx clients, one request per client at a time."""

    def __init__(self, max_clients: int = MAX_CLIENTS) -> None:
        self._max = max_clients
        # httpx's own: certifi's roots, or SSL_CERT_FILE / SSL_CERT_DIR, as PTB's client has.
        self._tls = httpx.create_ssl_context()
        self._idle: list[httpx.AsyncBaseTransport] = []  # a stack: the last used goes first
        self._clients = 0
        self._waiting: deque[asyncio.Future[httpx.AsyncBaseTransport]] = deque()
        self._proxied = bool(getproxies())  # read once, as httpx's client reads them
        self._headers = {  # what httpx's client would add, and PTB's User-Agent
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            "User-Agent": self.USER_AGENT,
        }
        self._urls: dict[str, httpx.URL] = {}
        self._timeouts = {
            False: httpx.Timeout(connect=CONNECT, read=READ, write=WRITE, pool=POOL),
            True: httpx.Timeout(connect=CONNECT, read=READ, write=MEDIA_WRITE, pool=POOL),
        }
        self._closed = False

    @property
    def read_timeout(self) -> float | None:
        """PTB's default read timeout (5 s)."""
        return READ

    def _client(self) -> httpx.AsyncBaseTransport:
        one = httpx.Limits(max_connections=1)
        if self._proxied:
            return _ViaClient(httpx.AsyncClient(limits=one, verify=self._tls))
        # The transport alone: httpx's client around it adds a cookie jar that parses every
        # response's headers, auth and redirect steps and a log line, ~120 us a request.
        return httpx.AsyncHTTPTransport(verify=self._tls, limits=one)

    async def initialize(self) -> None:
        """Nothing to open: clients are made when requests need them."""
        self._closed = False

    async def shutdown(self) -> None:
        """Close every idle client; a client still busy closes when its request ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            await client.aclose()
        self._clients -= len(idle)

    async def _take(self, pool_timeout: float | None) -> httpx.AsyncBaseTransport:
        if self._idle:
            return self._idle.pop()
        if self._clients < self._max:
            self._clients += 1
            return self._client()
        future: asyncio.Future[httpx.AsyncBaseTransport] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting.append(future)
        try:
            return await asyncio.wait_for(future, pool_timeout)
        except TimeoutError:
            raise TimedOut(
                "Pool timeout: every connection is busy. The request was *not* sent to Telegram."
            ) from None
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                await self._give(future.result())  # handed over, then abandoned: pass it on
            raise

    async def _give(self, client: httpx.AsyncBaseTransport) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(client)
                return
        if self._closed:
            self._clients -= 1
            await client.aclose()
        else:
            self._idle.append(client)

    def _url(self, url: str) -> httpx.URL | str:
        parsed = self._urls.get(url)
        if parsed is None:
            if "/file/" in url or len(self._urls) >= MAX_URLS:
                return url  # a download (one URL per file): parsed each time, as by PTB
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

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
        """Send the request on a client of its own (as PTB's ``HTTPXRequest.do_request``)."""
        if self._closed:
            raise RuntimeError("This ShardedRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        data = request_data.json_parameters if request_data else None
        timeout = self._timeouts[bool(files)]
        if any(map(_given, (read_timeout, write_timeout, connect_timeout, pool_timeout))):
            timeout = httpx.Timeout(
                connect=_or(connect_timeout, CONNECT),
                read=_or(read_timeout, READ),
                write=_or(write_timeout, MEDIA_WRITE if files else WRITE),
                pool=_or(pool_timeout, POOL),
            )
        request = httpx.Request(
            method,
            self._url(url),
            headers=self._headers,
            files=files,
            data=data,
            extensions={"timeout": timeout.as_dict()},
        )
        client = await self._take(timeout.pool)
        try:
            response = await client.handle_async_request(request)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException as err:
            raise TimedOut from err
        except httpx.HTTPError as err:
            raise NetworkError(f"httpx.{err.__class__.__name__}: {err}") from err
        finally:
            await self._give(client)
        return response.status_code, content
