"""``verzek shell`` is really offline: a simulated TronScan that answers like the real one,
payments tried end to end with ``:chain``, logs kept off the prompt, the throwaway folder gone
on SIGHUP, backups beside a kept database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.adapters.tronscan import parse_transaction_info
from core.adapters.tronscan_simulator import SIMULATED_BASE_URL, SimulatedTronscan
from core.clock import FakeClock
from core.config import USDT_CONTRACT, TronscanSettings
from core.crypto import generate_master_key
from tests.support.first_day import REPO_ROOT, clean_env, verzek

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "tronscan"
RECEIVE_ADDRESS = "TZD1sZDTkX2EBJbznmRxs4zLWv88adepJa"
EMAIL = "trader@example.com"
PASSWORD = "violet canyon trumpet 42 orbit"
TIMEOUT = 30.0
# The README's shell config, as an operator copies it.
SHELL_TOML = f"""\
# shell.toml: for local tries only
[security]
captcha = false
[rate_limits]
auth = "1000/minute"
[payments]
receive_address = "{RECEIVE_ADDRESS}"
"""


def shape(value: Any) -> Any:
    """The JSON shape: key names and value types, recursively (values themselves ignored)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_the_simulated_tronscan_answers_in_the_recorded_shapes() -> None:
    chain = SimulatedTronscan(FakeClock())
    transfer = chain.pay(RECEIVE_ADDRESS, 29_000_000)
    chain.confirm(40)
    info = chain.transaction_info(transfer.hash)
    assert shape(info) == shape(load("transaction-info.success.json"))
    assert shape(chain.block_latest()) == shape(load("block-latest.json"))
    assert chain.transaction_info("ab" * 32) == load("transaction-info.not-found.json")
    # The payee is in trc20TransferInfo, toAddress is the contract: exactly as recorded.
    assert info["toAddress"] == USDT_CONTRACT
    assert info["trc20TransferInfo"][0]["to_address"] == RECEIVE_ADDRESS
    tx = parse_transaction_info(info, transfer.hash)
    assert tx is not None and tx.confirmations == 40 and tx.result == "SUCCESS"
    assert tx.transfers[0].amount == 29_000_000


async def test_the_real_client_reads_the_simulation_over_http_shapes() -> None:
    chain = SimulatedTronscan(FakeClock())
    client = chain.client(TronscanSettings(base_url=SIMULATED_BASE_URL))
    try:
        assert await client.transaction("cd" * 32) is None
        transfer = chain.pay(RECEIVE_ADDRESS, 79_000_000)
        first = await client.transaction(transfer.hash)
        assert first is not None and first.confirmations == 0
        chain.confirm(19)
        later = await client.transaction(transfer.hash)
        assert later is not None and later.confirmations == 19
    finally:
        await chain.aclose()
    answer = chain(httpx.Request("GET", f"{SIMULATED_BASE_URL}/api/block/latest"))
    assert answer.json()["number"] == chain.height


class Shell:
    """The shell as a child process, talked to one line at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen = ""

    @classmethod
    async def start(cls, tmp_path: Path, *args: str, **env: str) -> Shell:
        config = tmp_path / "shell.toml"
        config.write_text(SHELL_TOML)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "shell",
            "--config",
            str(config),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
            env=clean_env(**env),
        )
        return cls(process)

    async def send(self, *lines: str) -> None:
        assert self.process.stdin is not None
        for line in lines:
            self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def ask(self, line: str) -> str:
        """Send ``line``; everything the shell printed in answer (up to a marker command
        sent right after it: the shell handles lines one at a time)."""
        marker = "[you are now Telegram user 1001]"
        await self.send(line, ":as 1001")
        return (await self.read_until(marker)).removesuffix(marker + "\n")

    async def read_until(self, text: str) -> str:
        assert self.process.stdout is not None
        chunk = ""
        while text not in chunk:
            raw = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
            assert raw, f"the shell ended before printing {text!r}:\n{self.seen}{chunk}"
            chunk += raw.decode("utf-8")
        self.seen += chunk
        return chunk

    async def finish(self) -> tuple[int, str]:
        assert self.process.stdin is not None and self.process.stderr is not None
        if not self.process.stdin.is_closing():
            self.process.stdin.close()
        code = await asyncio.wait_for(self.process.wait(), TIMEOUT)
        return code, (await self.process.stderr.read()).decode()


def banner_path(seen: str, label: str) -> Path:
    match = re.search(rf"^{label}: (\S+)", seen, re.MULTILINE)
    assert match, seen
    return Path(match.group(1))


async def subscribed(shell: Shell) -> str:
    """Register, log in if registering did not already, and ask for the basic plan's invoice.

    Written to the flow's outcome, not its exact steps (a password may be asked twice, a
    registration may already start the session)."""
    await shell.ask("/register")
    await shell.ask(EMAIL)
    answer = await shell.ask(PASSWORD)
    if "[1] Skip" not in answer:  # the password typed a second time, to compare
        answer = await shell.ask(PASSWORD)
    assert "[1] Skip" in answer, shell.seen
    await shell.ask(":press 1")
    plans = await shell.ask("/subscribe")
    if "[1] basic" not in plans:
        await shell.ask("/login")
        await shell.ask(EMAIL)
        await shell.ask(PASSWORD)
        plans = await shell.ask("/subscribe")
    assert "[1] basic" in plans, shell.seen
    return await shell.ask(":press 1")


async def test_a_payment_tried_end_to_end_on_the_simulated_chain(tmp_path: Path) -> None:
    shell = await Shell.start(tmp_path)
    banner = await shell.read_until("Try /start")
    assert "TronScan: simulated, no network" in banner
    log = banner_path(banner, "Log")
    invoice = await subscribed(shell)
    assert "/pay 1 TRANSACTION_HASH" in invoice
    assert "Send exactly 29.00 USDT" in invoice

    await shell.send(":chain pay 1")
    paid = await shell.read_until("Now send: /pay 1 ")
    assert f"29.00 USDT sent to {RECEIVE_ADDRESS} for invoice #1" in paid
    tx_hash = re.search(r"Transaction hash: ([0-9a-f]{64})", paid)
    assert tx_hash
    await shell.send(f"/pay 1 {tx_hash.group(1)}", ":chain confirm 5")
    short = await shell.read_until("5 blocks added")
    await shell.send(":chain confirm")
    done = await shell.read_until("19 blocks added")
    await shell.send("/me")
    me = await shell.read_until("Email:")
    assert "Payment #1" not in short.split("5 blocks added", 1)[1], "5 of 19: still pending"
    assert re.search(r"Payment #1 (confirmed|approved)", done + me), shell.seen
    assert "basic" in me.lower()

    await shell.send(":chain pay 99", ":chain pay 1 abc", ":chain confirm x")
    await shell.read_until("is not an amount")
    await shell.send(":quit")
    code, errors = await shell.finish()
    assert code == 0, errors
    assert "Traceback" not in errors and errors.strip() == "", "no log line over the prompt"
    assert "[there is no invoice #99" in shell.seen
    assert "[usage: :chain confirm [N]" in (await _rest(shell)) + shell.seen
    assert not log.exists(), "the log lived in the throwaway folder"


async def _rest(shell: Shell) -> str:
    assert shell.process.stdout is not None
    return (await shell.process.stdout.read()).decode()


async def test_log_lines_go_to_the_file_named_in_the_banner(tmp_path: Path) -> None:
    db = tmp_path / "kept" / "verzek.db"
    key = generate_master_key()
    shell = await Shell.start(tmp_path, "--db", str(db), ENCRYPTION_MASTER_KEY=key)
    banner = await shell.read_until("Try /start")
    log = banner_path(banner, "Log")
    assert log == db.parent / "verzek-shell.log"
    assert f"backups go to {db.parent / 'backups'}" in banner
    await shell.send("/start", ":quit")
    code, errors = await shell.finish()
    assert code == 0 and errors == ""
    assert "Application started" in log.read_text()
    assert key not in log.read_text()


async def test_sighup_removes_the_throwaway_folder(tmp_path: Path) -> None:
    shell = await Shell.start(tmp_path)
    banner = await shell.read_until("Try /start")
    folder = banner_path(banner, "Log").parent
    await shell.send("/start")
    await shell.read_until("Welcome to Verzek Guard")
    assert (folder / "verzek.db").exists()
    shell.process.send_signal(signal.SIGHUP)  # the terminal window was closed
    code = await asyncio.wait_for(shell.process.wait(), TIMEOUT)
    assert code == 0
    assert not folder.exists()


@pytest.mark.slow
def test_backups_with_db_go_beside_it_not_into_the_current_folder(tmp_path: Path) -> None:
    db = tmp_path / "kept" / "verzek.db"
    config = tmp_path / "shell.toml"
    config.write_text(SHELL_TOML)
    env = clean_env(ENCRYPTION_MASTER_KEY=generate_master_key())
    done = verzek(
        "shell", "--config", str(config), "--db", str(db), env=env, cwd=tmp_path, stdin=":quit\n"
    )
    assert done.returncode == 0, done.stderr
    backups = db.parent / "backups"
    done = verzek("backup", "create", env={**env, "VERZEK_DB": str(db)}, cwd=db.parent)
    assert done.returncode == 0, done.stderr
    assert list(backups.glob("verzek-*.tar.gz"))
    assert not (tmp_path / "backups").exists()


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_typed_answers_never_stay_in_the_history(tmp_path: Path) -> None:
    """Line editing and history come from readline; a password typed as an answer must not
    come back with the up arrow (only /commands and :commands are kept)."""
    import pty
    import select
    import time

    config = tmp_path / "shell.toml"
    config.write_text(SHELL_TOML)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell on a terminal
        os.chdir(tmp_path)
        env = clean_env(TERM="dumb")
        os.execve(
            sys.executable, [sys.executable, "-m", "bot.cli", "shell", "--config", str(config)], env
        )
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + TIMEOUT
        while text not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break

    try:
        read_until(b"1001> ")
        os.write(fd, b"/register\r")
        read_until(b"Step 1 of")
        os.write(fd, EMAIL.encode() + b"\r")
        read_until(b"password")
        seen = b""
        os.write(fd, b"\x1b[A\x1b[A\r")  # up, up, enter: brings back /register, not the email
        read_until(b"1001> ")
        read_until(b"Step 1 of")
        assert b"/register" in seen
        os.write(fd, b":quit\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
