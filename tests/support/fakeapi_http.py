"""The fake Bot API (:class:`bot.fake_telegram.FakeBotAPI`) served over real HTTP on 127.0.0.1.

:class:`FakeRequest` hands the Application's calls to the fake inside one process; this module
serves the same fake on a TCP port so a real ``verzek run`` (its ``ShardedRequest`` over httpx,
keep-alive connections and all) can be pointed at it with ``TELEGRAM_BASE_URL``. Only the standard
library is used: ``asyncio`` streams for HTTP/1.1 and the ``email`` parser for multipart bodies.

What python-telegram-bot sends: ``POST /bot<TOKEN>/<method>`` whose body is
``application/x-www-form-urlencoded`` (strings as they are, everything else JSON encoded, see
``RequestData.json_parameters``) or ``multipart/form-data`` when files are uploaded. Values are
decoded back into the shapes ``RequestData.parameters`` gives :class:`FakeRequest`, so the fake
sees the same thing both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from telegram.error import NetworkError, TimedOut

from bot.fake_telegram import FakeBotAPI

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BODY = 64 * 1024 * 1024
"""Bodies above this are refused with 413 (the real API caps uploads at 50 MB)."""

# Parameters that are free text: kept exactly as sent, never JSON decoded (a message "123" or
# "true" must stay a string).
TEXT_PARAMETERS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "title",
        "description",
        "short_description",
        "name",
        "question",
        "explanation",
        "url",
        "query",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "result_id",
        "emoji",
        "secret_token",
        "language_code",
        "business_connection_id",
    }
)

_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)/?$")


class _HTTPError(Exception):
    """A request this server refuses; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


def decode_value(name: str, raw: str) -> Any:
    """One form value back into what ``RequestData.parameters`` held before JSON encoding."""
    if name in TEXT_PARAMETERS or raw.startswith("attach://"):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    # A JSON string means the sender sent a plain string that happens to be quoted: keep it.
    return raw if isinstance(value, str) else value


def parse_form(body: bytes) -> dict[str, Any]:
    """An ``application/x-www-form-urlencoded`` body as decoded parameters."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise _HTTPError(400, "Bad Request: body is not UTF-8") from None
    return {name: decode_value(name, value) for name, value in pairs}


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str]]]:
    """A ``multipart/form-data`` body as (parameters, files).

    Files come as ``{name: (filename, content, mimetype)}`` like ``InputFile.field_tuple``, which
    is what :meth:`FakeBotAPI._file_bytes` reads through ``attach://name``.
    """
    head = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise _HTTPError(400, "Bad Request: malformed multipart body")
    params: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes, str]] = {}
    payload = message.get_payload()
    parts = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    for part in parts:
        raw_name = part.get_param("name", header="content-disposition")
        if raw_name is None:
            raise _HTTPError(400, "Bad Request: multipart part without a name")
        name = collapse_rfc2231_value(raw_name)
        content = part.get_payload(decode=True)
        data = content if isinstance(content, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, data, part.get_content_type())
        else:
            charset = part.get_content_charset() or "utf-8"
            params[name] = decode_value(name, data.decode(charset))
    return params, files


class FakeBotAPIServer:
    """Serves :attr:`api` over HTTP/1.1 on ``host`` (127.0.0.1) and a free port.

    ``token``: when given, calls with any other token get 401 Unauthorized like the real API
    (python-telegram-bot turns that into ``InvalidToken``); otherwise every token is accepted.
    Every token seen in a URL path is recorded in :attr:`tokens_seen`.
    """

    def __init__(
        self,
        api: FakeBotAPI | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        self.api = api if api is not None else FakeBotAPI()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.token = token
        self.tokens_seen: set[str] = set()
        self.requests_served = 0
        self.connections_opened = 0
        self.errors: list[BaseException] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The TCP port listened on (known once started)."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """What ``telegram.base_url`` takes: the token and method are appended to it."""
        return f"http://{self.host}:{self.port}/bot"

    async def start(self) -> None:
        """Listen; returns once the port is bound."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self._requested_port
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every connection (long polls included)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> FakeBotAPIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- HTTP ------------------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self.connections_opened += 1
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except _HTTPError as exc:
                    body = json.dumps(
                        {"ok": False, "error_code": exc.status, "description": exc.description}
                    ).encode()
                    await _write_response(writer, exc.status, body, keep_alive=False)
                    return
                if request is None:
                    return
                answer = await self._answer(request)
                if answer is None:  # a simulated network failure: drop the connection
                    return
                await _write_response(writer, *answer, keep_alive=request.keep_alive)
                self.requests_served += 1
                if not request.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client went away (httpx cancelling a long poll does this)
        except asyncio.CancelledError:
            # stop() cancels open connections. End quietly: on Python 3.11 the streams
            # machinery calls task.exception() on this task, which raises if it was cancelled.
            return
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, request: _Request) -> tuple[int, bytes] | None:
        """The (status, body) for one request; None to drop the connection instead."""
        url = urlsplit(request.target)
        match = _PATH.match(url.path)
        if match is None or request.method not in ("GET", "POST"):
            return _json_error(404, "Not Found")
        token = unquote(match["token"])
        self.tokens_seen.add(token)
        if self.token is not None and token != self.token:
            return _json_error(401, "Unauthorized")
        try:
            params, files = _parameters(request, url.query)
        except _HTTPError as exc:
            return _json_error(exc.status, exc.description)
        try:
            return await self.api.handle(match["method"], params, files)
        except (TimedOut, NetworkError, TimeoutError):
            return None  # scheduled by FakeBotAPI.fail(exception=...): the client sees an error
        except Exception as exc:
            # A bug in the fake (or a request it cannot digest): make it loud, not a hang.
            logger.exception("fake Bot API failed on %s", match["method"])
            self.errors.append(exc)
            return _json_error(500, f"Internal Server Error: {type(exc).__name__}")


def _parameters(
    request: _Request, query: str
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str]]]:
    params = {name: decode_value(name, value) for name, value in parse_qsl(query)}
    files: dict[str, tuple[str, bytes, str]] = {}
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if not request.body:
        pass
    elif kind == "application/x-www-form-urlencoded":
        params.update(parse_form(request.body))
    elif kind == "multipart/form-data":
        form, files = parse_multipart(content_type, request.body)
        params.update(form)
    elif kind == "application/json":
        try:
            decoded = json.loads(request.body)
        except ValueError:
            raise _HTTPError(400, "Bad Request: body is not valid JSON") from None
        if not isinstance(decoded, dict):
            raise _HTTPError(400, "Bad Request: JSON body must be an object")
        params.update(decoded)
    else:
        raise _HTTPError(415, f"Unsupported Media Type: {kind or 'none'}")
    return params, files


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One request from the connection; None at a clean end of the connection."""
    try:
        line = await reader.readline()
        while line in (b"\r\n", b"\n"):  # tolerated between requests (RFC 9112 §2.2)
            line = await reader.readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _HTTPError(400, "Bad Request: malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        while True:
            header = await reader.readline()
            if not header:
                raise asyncio.IncompleteReadError(b"", None)
            if header in (b"\r\n", b"\n"):
                break
            name, sep, value = header.decode("latin-1").partition(":")
            if not sep:
                raise _HTTPError(400, "Bad Request: malformed header")
            headers[name.strip().lower()] = value.strip()
    except ValueError:  # a line over the stream limit (LimitOverrunError)
        raise _HTTPError(431, "Request Header Fields Too Large") from None
    body = await _read_body(reader, headers)
    return _Request(method.upper(), target, version, headers, body)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readline()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _HTTPError(400, "Bad Request: malformed chunk size") from None
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: ignored
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _HTTPError(413, "Request Entity Too Large")
            chunks.append(await reader.readexactly(size))
            await reader.readline()  # the CRLF closing the chunk
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _HTTPError(400, "Bad Request: malformed Content-Length") from None
    if length < 0:
        raise _HTTPError(400, "Bad Request: malformed Content-Length")
    if length > MAX_BODY:
        raise _HTTPError(413, "Request Entity Too Large")
    return await reader.readexactly(length) if length else b""


async def _write_response(
    writer: asyncio.StreamWriter, status: int, body: bytes, *, keep_alive: bool
) -> None:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


def _json_error(status: int, description: str) -> tuple[int, bytes]:
    body = {"ok": False, "error_code": status, "description": description}
    return status, json.dumps(body).encode()


class FakeBotAPIThread:
    """A :class:`FakeBotAPIServer` on its own event loop in a daemon thread.

    For synchronous code (a script, a plain test driving a subprocess). The fake is not thread
    safe: touch it only through :meth:`call`, which runs a function on the server's loop::

        with FakeBotAPIThread() as served:
            env["TELEGRAM_BASE_URL"] = served.base_url
            served.call(lambda api: api.user_sends(TelegramUser(1), "/start"))
    """

    def __init__(self, token: str | None = None) -> None:
        self._token = token
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: FakeBotAPIServer | None = None

    @property
    def server(self) -> FakeBotAPIServer:
        """The running server (its attributes are safe to read for plain values)."""
        if self._server is None:
            raise RuntimeError("the server thread is not started")
        return self._server

    @property
    def base_url(self) -> str:
        """See :attr:`FakeBotAPIServer.base_url`."""
        return self.server.base_url

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread; returns once the port is bound."""
        loop = asyncio.new_event_loop()
        server = FakeBotAPIServer(token=self._token)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(server.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop, self._server = loop, server
        self._thread = threading.Thread(target=run, name="fake-bot-api", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout)
        except BaseException:
            self.stop(timeout)
            raise

    def call(self, function: Callable[[FakeBotAPI], T], timeout: float = 10.0) -> T:
        """Run ``function(api)`` on the server's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("the server thread is not started")
        api = self.server.api

        async def run() -> T:
            return function(api)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    def __enter__(self) -> FakeBotAPIThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
