"""The fake TronScan (:class:`tests.support.fake_tronscan.FakeTronscan`) served over real HTTP
on 127.0.0.1, for a ``verzek run`` child process (``tronscan.base_url`` pointed here).

The fake answers ``httpx.Request`` objects (it is an ``httpx.MockTransport`` handler); this
server reads each HTTP/1.1 request with asyncio streams, hands the fake the same request, and
writes its response back. GET only, as the TronScan client asks; keep-alive is honoured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx

from tests.support.fake_tronscan import FakeTronscan


class TronscanServer:
    """Serves :attr:`fake` on 127.0.0.1 and a free port while started."""

    def __init__(self, fake: FakeTronscan | None = None) -> None:
        self.fake = fake if fake is not None else FakeTronscan()
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self.block = 78_000_000  # what /api/block/latest says the chain's height is

    @property
    def base_url(self) -> str:
        """What ``tronscan.base_url`` takes."""
        if self._port is None:
            raise RuntimeError("the TronScan server is not started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        """Listen; returns once the port is bound."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening (open connections end with the client)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    return
                method, target, _version = line.decode("latin-1").split()
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                status, content, kind = self._answer(method, target, headers, body)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {len(content)}\r\n\r\n".encode("latin-1")
                    + content
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        request = httpx.Request(method, self.base_url + target, headers=headers, content=body)
        if request.url.path == "/api/block/latest":  # the start-up probe (bot/startup.py)
            return 200, json.dumps({"number": self.block}).encode(), "application/json"
        try:
            response = self.fake(request)
        except httpx.TransportError:
            return 503, b"upstream unavailable", "text/plain"
        except AssertionError:  # a request the fake does not know
            return 404, b'{"message": "not found"}', "application/json"
        response.read()
        return (
            response.status_code,
            response.content,
            response.headers.get("content-type", "application/json"),
        )
