"""End to end: the real ``verzek run`` in a subprocess, talking HTTP to the fake Bot API.

The bot is started exactly as an operator starts it (``python -m bot.cli run`` with its
configuration in the environment); only ``TELEGRAM_BASE_URL`` points at
:class:`bot.fakeapi_http.FakeBotAPIServer`, served from the test's own event loop.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import InvalidToken
from telegram.request import HTTPXRequest

from bot import texts
from bot.fakeapi import FakeBotAPI, FakeRequest, TelegramUser, html_to_plain
from bot.fakeapi_http import FakeBotAPIServer, FakeBotAPIThread
from core.crypto import generate_master_key

REPO_ROOT = Path(__file__).resolve().parents[1]
ADMIN_ID = 9001
ADMIN_CHAT_ID = -100500
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def new_token() -> str:
    """A fresh token shaped like BotFather's, so a leak cannot be a coincidence."""
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(24)}"


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPIServer]:
    server = FakeBotAPIServer()
    await server.start()
    yield server
    await server.stop()


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


@pytest.fixture
async def bots(tmp_path: Path) -> AsyncIterator[Callable[[str, str], BotProcess]]:
    """Builds :class:`BotProcess` objects (configured like an operator would) and kills any
    still running at teardown."""
    created: list[BotProcess] = []
    master_key = generate_master_key()

    def make(base_url: str, token: str) -> BotProcess:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "TRONSCAN_", "ADMIN_"))
        }
        env.update(
            {
                "PYTHONPATH": str(REPO_ROOT),
                "TELEGRAM_BOT_TOKEN": token,
                "TELEGRAM_BASE_URL": base_url,
                "ADMIN_CHAT_ID": str(ADMIN_CHAT_ID),
                "VERZEK_ADMINS": str(ADMIN_ID),
                "VERZEK_DB": str(tmp_path / "data" / "verzek.db"),
                "ENCRYPTION_MASTER_KEY": master_key,
                "VERZEK_LOG_LEVEL": "DEBUG",
            }
        )
        process = BotProcess(tmp_path, env)
        created.append(process)
        return process

    yield make
    for process in created:
        await process.kill()


def assert_no_secrets(process: BotProcess, *secret_values: str) -> None:
    output = process.stdout + process.stderr
    for value in secret_values:
        assert value not in output, "a secret leaked into the output of verzek run"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_serves_a_user_and_stops_cleanly(
    fake_api: FakeBotAPIServer,
    bots: Callable[[str, str], BotProcess],
    tmp_path: Path,
    stop_signal: int,
) -> None:
    token = new_token()
    database = tmp_path / "data" / "verzek.db"
    assert not database.exists()
    bot = bots(fake_api.base_url, token)
    await bot.start()

    # (a) the database is created (with its folder) on first start
    await bot.wait_for("database file", database.exists)

    # (c) the command menus are set: users everywhere, users + admins in admin chats
    api = fake_api.api
    await bot.wait_for("admin menu", lambda: len(api.commands) == 3)
    default_menu = api.commands['{"type": "default"}']
    assert "start" in [c["command"] for c in default_menu]
    for chat_id in (ADMIN_ID, ADMIN_CHAT_ID):
        admin_menu = api.commands[f'{{"chat_id": {chat_id}, "type": "chat"}}']
        assert len(admin_menu) >= len(default_menu)
    assert [m for m, _ in api.calls].count("setMyCommands") == 3

    # (b) a user's /start, picked up by long polling, gets the welcome
    user = TelegramUser(424242, "Alice")
    api.user_sends(user, "/start")
    replies = await bot.wait_for("welcome reply", lambda: api.sent_to(user.id))
    greeting = html_to_plain(texts.WELCOME.split("\n", 1)[0])
    assert replies[0].plain.startswith(greeting)
    assert replies[0].parse_mode == "HTML"
    assert fake_api.tokens_seen == {token}
    assert fake_api.errors == []

    # (d) a stop signal ends it cleanly and quickly
    started = time.monotonic()
    code = await bot.stop(stop_signal)
    assert code == 0, bot.stderr
    assert time.monotonic() - started < STOP_TIMEOUT
    assert "Traceback" not in bot.stderr

    # (e) the token never shows, even at DEBUG
    assert_no_secrets(bot, token, token.split(":", 1)[1], bot.env["ENCRYPTION_MASTER_KEY"])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_with_telegram_unreachable_fails_in_one_line(
    bots: Callable[[str, str], BotProcess],
) -> None:
    token = new_token()
    bot = bots(f"http://127.0.0.1:{closed_port()}/bot", token)
    await bot.start()
    code = await bot.wait(START_TIMEOUT)
    assert code != 0
    verzek_lines = [line for line in bot.stderr.splitlines() if line.startswith("verzek:")]
    assert len(verzek_lines) == 1, bot.stderr
    assert "cannot reach the Telegram Bot API" in verzek_lines[0]
    assert "Traceback" not in bot.stderr
    assert_no_secrets(bot, token, token.split(":", 1)[1])


# --- the HTTP fake itself, driven by PTB's own HTTPXRequest -----------------------------------


async def drive(bot: Bot, api: FakeBotAPI) -> list[Update]:
    """A bit of everything PTB encodes differently: markup, HTML, an upload, a scope."""
    user = TelegramUser(77, "Bob")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok:1")]])
    await bot.send_message(user.id, "123", reply_markup=markup)
    await bot.send_message(user.id, "<b>true</b>", parse_mode="HTML")
    await bot.send_photo(user.id, PICTURE, caption="a <i>photo</i>", parse_mode="HTML")
    await bot.send_document(ADMIN_CHAT_ID, b"backup", filename="b.db", caption='"quoted"')
    await bot.answer_callback_query("42", text="null", show_alert=True)
    await bot.set_my_commands(
        [BotCommand("start", "Start")], scope=BotCommandScopeChat(ADMIN_CHAT_ID)
    )
    api.user_sends(user, "hello")
    return list(await bot.get_updates(timeout=1))


PICTURE = bytes(range(256)) * 40 + b"\r\n--boundary\r\n"


async def test_http_fake_decodes_what_ptb_sends(fake_api: FakeBotAPIServer) -> None:
    api = fake_api.api
    async with Bot(new_token(), base_url=fake_api.base_url) as bot:
        updates = await drive(bot, api)
    sent = api.sent_to(77)
    assert [m.text for m in sent[:2]] == ["123", "<b>true</b>"]
    assert sent[0].buttons[0].callback_data == "ok:1"
    assert sent[2].photo == PICTURE
    assert sent[2].plain == "a photo"
    assert api.sent_to(ADMIN_CHAT_ID)[0].document == b"backup"
    assert api.commands[f'{{"chat_id": {ADMIN_CHAT_ID}, "type": "chat"}}'] == [
        {"command": "start", "description": "Start"}
    ]
    assert [u.message.text for u in updates if u.message] == ["hello"]
    # httpx keeps connections alive: far fewer connections than requests
    assert fake_api.requests_served >= 8
    assert fake_api.connections_opened < fake_api.requests_served
    assert fake_api.errors == []

    # The fake sees over HTTP exactly what it sees in-process through FakeRequest.
    local = FakeBotAPI()
    request = FakeRequest(local)
    async with Bot(new_token(), request=request, get_updates_request=request) as bot:
        await drive(bot, local)
    assert api.calls == local.calls


async def test_http_fake_refuses_a_wrong_token_like_telegram() -> None:
    requests = [HTTPXRequest(), HTTPXRequest()]
    async with FakeBotAPIServer(FakeBotAPI(), token=new_token()) as server:
        bot = Bot(
            new_token(),
            base_url=server.base_url,
            request=requests[0],
            get_updates_request=requests[1],
        )
        with pytest.raises(InvalidToken):
            await bot.initialize()
        for request in requests:  # a failed initialize leaves them open
            await request.shutdown()


def test_http_fake_in_a_thread_for_synchronous_code() -> None:
    token = new_token()
    with FakeBotAPIThread() as served, httpx.Client() as client:
        served.call(lambda api: api.user_sends(TelegramUser(5), "hi"))
        answer = client.post(f"{served.base_url}{token}/getUpdates", data={"timeout": "0"})
        assert answer.headers["content-type"] == "application/json"
        assert [u["message"]["text"] for u in answer.json()["result"]] == ["hi"]
        missing = client.post(f"{served.base_url}{token}/noSuchMethod")
        assert missing.status_code == 404
        assert served.server.tokens_seen == {token}


async def test_http_fake_stops_cleanly_during_a_long_poll(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeBotAPIServer()
    await server.start()
    async with httpx.AsyncClient() as client:
        poll = asyncio.create_task(
            client.post(f"{server.base_url}{new_token()}/getUpdates", data={"timeout": "1"})
        )
        await asyncio.sleep(0.2)  # the long poll is now waiting inside the fake
        await server.stop()
        with pytest.raises(httpx.HTTPError):
            await poll
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
