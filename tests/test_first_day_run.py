"""``verzek run`` on an operator's first day: every expected failure is one line, a good start
says what it started with. The bot runs as a subprocess against the HTTP fake Bot API."""

from __future__ import annotations

import http.server
import logging
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.startup import StartupError, parse_log_level
from core.crypto import generate_master_key
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fakeapi_http import FakeBotAPIThread
from tests.support.first_day import assert_one_line_failure, clean_env, verzek

RECEIVE_ADDRESS = "TZD1sZDTkX2EBJbznmRxs4zLWv88adepJa"
START_TIMEOUT = 30.0


def new_token() -> str:
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(24)}"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_env(tmp_path: Path, base_url: str, **extra: str) -> dict[str, str]:
    return clean_env(
        TELEGRAM_BOT_TOKEN=new_token(),
        TELEGRAM_BASE_URL=base_url,
        ADMIN_CHAT_ID=str(ADMIN_CHAT_ID),
        VERZEK_ADMINS=str(ADMIN_ID),
        VERZEK_DB=str(tmp_path / "data" / "verzek.db"),
        ENCRYPTION_MASTER_KEY=generate_master_key(),
        **extra,
    )


@pytest.fixture
def fake_api() -> Iterator[FakeBotAPIThread]:
    with FakeBotAPIThread() as served:
        yield served


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    """A web server that is not a Bot API: a captive portal, a proxy's error page."""

    def do_POST(self) -> None:
        body = b"<html><body>Welcome to the hotel Wi-Fi</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def html_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# --- VERZEK_LOG_LEVEL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("debug", logging.DEBUG),
        ("Info", logging.INFO),
        ("WARNING", logging.WARNING),
        ("warn", logging.WARNING),
        (" error ", logging.ERROR),
        ("10", 10),
        ("20", 20),
        ("", logging.INFO),
        (None, logging.INFO),
    ],
)
def test_log_levels_in_any_case_or_as_numbers(raw: str | None, level: int) -> None:
    assert parse_log_level(raw) == level


@pytest.mark.slow
@pytest.mark.parametrize("raw", ["verbose", "DEBUGG", "100", "-1", "١٠", "info,debug"])
def test_a_bad_log_level_is_one_line_before_anything_starts(
    tmp_path: Path, fake_api: FakeBotAPIThread, raw: str
) -> None:
    with pytest.raises(StartupError):
        parse_log_level(raw)
    env = run_env(tmp_path, fake_api.base_url, VERZEK_LOG_LEVEL=raw)
    done = verzek("run", env=env, cwd=tmp_path)
    assert_one_line_failure(done, "VERZEK_LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR, CRITICAL")
    assert fake_api.server.requests_served == 0, "nothing was asked of Telegram"
    assert not (tmp_path / "data").exists(), "no database was created"


# --- the Bot API is not what telegram.base_url says ---------------------------------------------


@pytest.mark.slow
def test_a_bot_api_answering_404_points_at_base_url(
    tmp_path: Path, fake_api: FakeBotAPIThread
) -> None:
    """The common slip: ``telegram.base_url`` without its ``/bot`` (the fake answers 404 for
    such paths, as the real API does)."""
    base = fake_api.base_url.removesuffix("/bot") + "/"
    env = run_env(tmp_path, base, VERZEK_LOG_LEVEL="DEBUG")
    done = verzek("run", env=env, cwd=tmp_path)
    line = assert_one_line_failure(done, "404", "telegram.base_url")
    assert env["TELEGRAM_BOT_TOKEN"] not in done.stderr + done.stdout
    assert "token" not in line.split("check", 1)[0], "not reported as a bad token"


@pytest.mark.slow
def test_a_bot_api_answering_html_is_one_line(tmp_path: Path, html_server: str) -> None:
    env = run_env(tmp_path, html_server + "/bot", VERZEK_LOG_LEVEL="DEBUG")
    done = verzek("run", env=env, cwd=tmp_path)
    assert_one_line_failure(done, "not JSON", "telegram.base_url")
    assert env["TELEGRAM_BOT_TOKEN"] not in done.stderr


@pytest.mark.slow
def test_unreachable_telegram_is_one_line(tmp_path: Path) -> None:
    env = run_env(tmp_path, f"http://127.0.0.1:{closed_port()}/bot", VERZEK_LOG_LEVEL="DEBUG")
    done = verzek("run", env=env, cwd=tmp_path)
    assert_one_line_failure(done, "cannot reach the Telegram Bot API", "telegram.base_url")


@pytest.mark.slow
def test_a_refused_token_is_one_line(tmp_path: Path) -> None:
    with FakeBotAPIThread(token=new_token()) as served:
        env = run_env(tmp_path, served.base_url)
        done = verzek("run", env=env, cwd=tmp_path)
    assert_one_line_failure(done, "Telegram refused the bot token", "TELEGRAM_BOT_TOKEN")


# --- TronScan at start-up ------------------------------------------------------------------------


def payments_config(tmp_path: Path, tronscan_url: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[payments]\nreceive_address = "{RECEIVE_ADDRESS}"\n'
        f'[tronscan]\nbase_url = "{tronscan_url}"\n'
    )
    return config


@pytest.mark.slow
def test_unreachable_tronscan_with_payments_on_is_one_line(
    tmp_path: Path, fake_api: FakeBotAPIThread
) -> None:
    config = payments_config(tmp_path, f"http://127.0.0.1:{closed_port()}")
    env = run_env(tmp_path, fake_api.base_url, VERZEK_LOG_LEVEL="DEBUG")
    done = verzek("run", "--config", str(config), env=env, cwd=tmp_path)
    assert_one_line_failure(done, "cannot reach TronScan", "tronscan.base_url")


@pytest.mark.slow
def test_tronscan_answering_html_is_one_line(
    tmp_path: Path, fake_api: FakeBotAPIThread, html_server: str
) -> None:
    config = payments_config(tmp_path, html_server)
    env = run_env(tmp_path, fake_api.base_url)
    done = verzek("run", "--config", str(config), env=env, cwd=tmp_path)
    assert_one_line_failure(done, "TronScan", "no usable answer")


# --- a good start --------------------------------------------------------------------------------


def wait_for_text(process: subprocess.Popen[str], log: Path, *texts: str) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        seen = log.read_text(errors="replace")
        if all(text in seen for text in texts):
            return seen
        if process.poll() is not None:
            pytest.fail(f"verzek run exited ({process.returncode}):\n{seen}")
        if time.monotonic() > deadline:
            pytest.fail(f"not all of {texts} within {START_TIMEOUT:.0f} s:\n{seen}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_good_start_says_what_it_started_with(tmp_path: Path, fake_api: FakeBotAPIThread) -> None:
    """Bot username, absolute database path (a relative one in the config file is relative to
    the file's folder, not to where the command ran), admin chat, optional features."""
    conf_dir, elsewhere = tmp_path / "etc", tmp_path / "somewhere"
    conf_dir.mkdir()
    elsewhere.mkdir()
    config = conf_dir / "config.toml"
    config.write_text('[database]\npath = "state/verzek.db"\n[backups]\ndir = "state/backups"\n')
    env = run_env(tmp_path, fake_api.base_url)
    del env["VERZEK_DB"]
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--config", "../etc/config.toml"],
            cwd=elsewhere,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            text=True,
        )
        try:
            database = (conf_dir / "state" / "verzek.db").resolve()
            seen = wait_for_text(
                process,
                stderr,
                "bot: @verzek_guard_bot",
                f"database: {database}",
                f"admin chat: {ADMIN_CHAT_ID}",
                "payments: off",
                "off-site backups: not configured",
                str((conf_dir / "state" / "backups").resolve()),
            )
            # PTB logs this once post_init (menus, descriptions) and polling have both started,
            # so a SIGTERM now meets the running bot rather than a half-done start-up.
            wait_for_text(process, stderr, "Application started")
            process.send_signal(signal.SIGTERM)  # started: its signal handlers are installed
            assert process.wait(START_TIMEOUT) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert database.exists() and not (elsewhere / "state").exists()
    assert "Traceback" not in seen and env["TELEGRAM_BOT_TOKEN"] not in seen
    assert env["ENCRYPTION_MASTER_KEY"] not in seen


@pytest.mark.slow
def test_a_relative_database_in_the_config_is_found_from_any_folder(tmp_path: Path) -> None:
    """``verzek migrate --config /etc/…`` from another folder works on the same file."""
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "config.toml").write_text('[database]\npath = "db/v.db"\n')
    for cwd in (tmp_path, conf_dir):
        done = verzek(
            "migrate", "--config", str(conf_dir / "config.toml"), env=clean_env(), cwd=cwd
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(str(conf_dir / "db" / "v.db"))
    assert not (tmp_path / "db").exists()
