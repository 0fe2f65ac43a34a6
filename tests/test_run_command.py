"""End to end: the real ``verzek run`` in a subprocess, talking HTTP to the fake Bot API.

The bot is started exactly as an operator starts it (``python -m bot.cli run`` with its
configuration in the environment); only ``TELEGRAM_BASE_URL`` points at
:class:`tests.support.fakeapi_http.FakeBotAPIServer`, served from the test's own event loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

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
from bot.fake_telegram import FakeBotAPI, FakeRequest, Message, TelegramUser, html_to_plain
from core.crypto import generate_master_key
from tests.support.bot_process import (
    REPO_ROOT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    BotProcess,
    new_token,
)
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fakeapi_http import FakeBotAPIServer, FakeBotAPIThread


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPIServer]:
    server = FakeBotAPIServer()
    await server.start()
    yield server
    await server.stop()


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


@pytest.mark.slow
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

    # (c) the command menus are set: users in private chats, + admins in the admins' own
    # chats, the admin commands in the admin chat; the descriptions too
    api = fake_api.api
    await bot.wait_for("admin menu", lambda: len(api.commands) == 3 and api.short_descriptions)
    default_menu = api.commands['{"type": "all_private_chats"}']
    assert "start" in [c["command"] for c in default_menu]
    admin_menu = api.commands[f'{{"chat_id": {ADMIN_ID}, "type": "chat"}}']
    assert len(admin_menu) > len(default_menu)
    chat_menu = api.commands[f'{{"chat_id": {ADMIN_CHAT_ID}, "type": "chat"}}']
    assert "stats" in [c["command"] for c in chat_menu]
    assert [m for m, _ in api.calls].count("setMyCommands") == 3
    assert api.descriptions[""] and api.short_descriptions[""]

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


@pytest.mark.slow
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
    api.user_presses(user, Message(user.id, 1, from_bot=True, text="123"), "ok:1")  # query "1"
    await bot.answer_callback_query("1", text="null", show_alert=True)
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
