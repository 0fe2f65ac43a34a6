"""``verzek run`` as a child process, configured like an operator would (tests that start the
real bot over HTTP: tests/test_run_command.py, tests/test_faults.py)."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def new_token() -> str:
    """A fresh token shaped like BotFather's, so a leak cannot be a coincidence."""
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(24)}"


class BotProcess:
    """``verzek run`` as a child process; stdout/stderr go to files (no pipe can fill up)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self._stdout_path = workdir / "stdout.log"
        self._stderr_path = workdir / "stderr.log"
        self._files: list[IO[bytes]] = []

    async def start(self) -> None:
        stdout, stderr = self._stdout_path.open("wb"), self._stderr_path.open("wb")
        self._files = [stdout, stderr]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            cwd=self.workdir,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    async def wait(self, timeout: float) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        self._close_files()
        return code

    async def stop(self, sig: int, timeout: float = STOP_TIMEOUT) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await self.wait(timeout)

    async def kill(self) -> None:
        """Teardown: make sure nothing outlives the test."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._close_files()

    def _close_files(self) -> None:
        for handle in self._files:
            handle.close()
        self._files = []

    @property
    def stdout(self) -> str:
        return self._stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace")

    async def wait_for(self, what: str, condition: Callable[[], Any]) -> Any:
        """Poll ``condition`` until it is truthy; fail early if the bot died."""
        deadline = time.monotonic() + START_TIMEOUT
        while not (result := condition()):
            if self.returncode is not None:
                pytest.fail(f"verzek run exited ({self.returncode}) before {what}:\n{self.stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {START_TIMEOUT:.0f} s; stderr:\n{self.stderr}")
            await asyncio.sleep(0.05)
        return result
