"""``verzek shell`` driven as a person would: lines on its stdin, replies read from stdout."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
import zxingcpp
from PIL import Image

from bot.fake_telegram import FakeBotAPI, Message
from bot.shell import Terminal
from core.crypto import generate_master_key
from tests.support.steps import EMAIL, PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY_SHAPED = re.compile(r"[A-Za-z0-9_-]{43}=")  # what generate_master_key() prints
TIMEOUT = 30.0


def shell_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any bot configuration, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "ADMIN_CHAT"))
    }
    return {**env, "PYTHONPATH": str(REPO_ROOT), "PYTHONIOENCODING": "utf-8", **extra}


def shell_command(tmp_path: Path) -> list[str]:
    config = tmp_path / "config.toml"
    # Register + login is more than 5 auth steps within a minute: raise the auth limit.
    config.write_text('[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n')
    return [sys.executable, "-m", "bot.cli", "shell", "--config", str(config)]


def run_script(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        shell_command(tmp_path),
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=shell_env(),
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.slow
def test_register_login_and_me_in_the_shell(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        [
            "/start",
            "/register",
            EMAIL,
            PASSWORD,
            PASSWORD,
            ":press 1",
            "/login",
            EMAIL,
            PASSWORD,
            "/me",
            ":as 42",
            "/me",
            ":help",
            ":quit",
            "/start",  # never read: the shell has quit
        ],
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Welcome to Verzek Guard" in out and out.count("Welcome to Verzek Guard") == 1
    assert "Step 1 of 3" in out
    # The bot deletes the password message at once, and the shell says so right under it.
    after_password = out.split(f"1001> {PASSWORD}\n")
    assert len(after_password) == 4  # typed twice at /register, once at /login
    assert all(re.match(r"\[message #\d+ deleted \(yours\)\]", part) for part in after_password[1:])
    assert "[1] Skip" in out and "[pressed Skip]" in out and "(buttons removed)" in out
    assert f"Your account {EMAIL} is ready" in out
    assert f"You're logged in as {EMAIL}" in out
    me = out.split("1001> /me\n", 1)[1]
    assert f"Email: {EMAIL}" in me.split("1001> ", 1)[0]
    assert "[you are now Telegram user 42]" in out
    assert "42> /me\nbot #2: Please /login first." in out
    assert ":press N" in out and ":as ID" in out
    assert "throwaway key was generated" in out
    assert not KEY_SHAPED.search(out + done.stderr), "a key-shaped string was printed"
    assert "Traceback" not in done.stderr


class ShellProcess:
    """The shell as a child process, talked to one line at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen = ""

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def read_until(self, text: str) -> str:
        """Everything printed up to and including the line holding ``text``."""
        assert self.process.stdout is not None
        chunk = ""
        while text not in chunk:
            raw = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
            assert raw, f"the shell ended before printing {text!r}:\n{self.seen}{chunk}"
            chunk += raw.decode("utf-8")
        self.seen += chunk
        return chunk


def qr_from_terminal(drawing: str) -> str:
    """Scan the block-character QR code the shell printed, the way a phone camera would."""
    rows = [line for line in textwrap.dedent(drawing).splitlines() if line.strip(" ")]
    width = max(len(row) for row in rows)
    light: list[list[bool]] = []
    for row in rows:  # each character is two modules: upper and lower half
        row = row.ljust(width)
        light.append([char in "█▀" for char in row])
        light.append([char in "█▄" for char in row])
    image = Image.new("L", (width, len(light)))
    image.putdata([255 if is_light else 0 for line in light for is_light in line])
    image = image.resize((width * 8, len(light) * 8), Image.Resampling.NEAREST)
    # try_invert=False: the drawing must be the right way round (dark modules on light).
    found = zxingcpp.read_barcodes(image, try_invert=False)
    assert len(found) == 1, "the terminal QR code does not scan"
    return found[0].text


@pytest.mark.slow
async def test_2fa_enrolment_shows_a_scannable_qr_code(tmp_path: Path) -> None:
    key = generate_master_key()
    process = await asyncio.create_subprocess_exec(
        *shell_command(tmp_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=shell_env(ENCRYPTION_MASTER_KEY=key),
    )
    shell = ShellProcess(process)
    for line in ["/register", EMAIL, PASSWORD, PASSWORD, ":press 1", "/login", EMAIL, PASSWORD]:
        await shell.send(line)
    await shell.read_until("You're logged in")
    await shell.send("/2fa_enroll")
    await shell.read_until("send your password")
    await shell.send(PASSWORD)
    enrolment = await shell.read_until("Then send the 6-digit code")
    drawing = enrolment.split("[QR code, also saved to ", 1)[1].split("\n", 1)[1]
    drawing = drawing.split("Scan this QR code", 1)[0]
    uri = qr_from_terminal(drawing)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and "Verzek" in parsed.path
    saved = Path(enrolment.split("[QR code, also saved to ", 1)[1].split("]", 1)[0])
    assert saved.name.endswith(".png")

    await shell.send(pyotp.TOTP(parse_qs(parsed.query)["secret"][0]).now())
    confirmed = await shell.read_until("Two-factor authentication is on")
    assert re.search(r"\[message #\d+ deleted \(yours\)\]", confirmed)
    assert len(re.findall(r"\[message #\d+ deleted \(the bot's\)\]", confirmed)) == 2

    assert process.stdin is not None
    process.stdin.close()  # end of input (Ctrl-D) leaves the shell
    assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    assert process.stdout is not None and process.stderr is not None
    rest = (await process.stdout.read()).decode()
    errors = (await process.stderr.read()).decode()
    assert "using ENCRYPTION_MASTER_KEY from the environment" in shell.seen
    assert key not in shell.seen + rest + errors
    assert not await asyncio.to_thread(saved.exists), "the throwaway folder is removed on exit"


def test_admin_chat_and_other_chats_are_labelled(tmp_path: Path) -> None:
    out = io.StringIO()
    terminal = Terminal(FakeBotAPI(), out, tmp_path, admin_chat_id=-500)
    terminal.on_event(
        "sent", Message(-500, 1, from_bot=True, text="<b>Alert</b>", parse_mode="HTML")
    )
    terminal.on_event("sent", Message(7, 1, from_bot=True, text="New login"))
    terminal.on_event("sent", Message(1001, 3, from_bot=True, text="Hi"))
    assert out.getvalue().splitlines() == [
        "[admin chat] bot #1: Alert",
        "[to user 7] bot #1: New login",
        "bot #3: Hi",
    ]
