"""A throwaway Redis for the tests that need one (rate-limit windows shared by instances, the
two-process test): ``VERZEK_TEST_REDIS_URL`` when set, else a private ``redis-server`` started
once per pytest worker process on 127.0.0.1 and a free port, persisting nothing, stopped at the
end of the session; else the test is skipped.

The ``redis_url`` fixture is registered by tests/conftest.py (``pytest_plugins``), so any test
can ask for it.
Each test uses fresh keys (or its own database number), as the server is shared by a session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """VERZEK_TEST_REDIS_URL, else a private ``redis-server`` if one is installed, else skip."""
    pytest.importorskip("redis", reason="the redis client is not installed")
    if url := os.environ.get("VERZEK_TEST_REDIS_URL"):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis: set VERZEK_TEST_REDIS_URL or install redis-server")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    try:
        if not server.start():
            pytest.skip("redis-server did not start")
        yield server.url
    finally:
        server.stop()


class RedisServer:
    """One ``redis-server`` child process on 127.0.0.1 (no persistence, no password)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL ``rate_limits.storage`` takes."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> bool:
        """Start it and wait for PING; False if it died or did not answer in time."""
        self._process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not answers_ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        """Terminate it (killed if it does not go within 10 s)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers_ping(port: int) -> bool:
    """True if a Redis on 127.0.0.1:``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False
