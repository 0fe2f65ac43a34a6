"""Secrets that leak through configuration, and tokens sent over plain HTTP.

The tricks: a Redis URL carries its password in the userinfo (``redis://:pw@host/0``), and
whoever reads a debug dump of the settings, a crash report or a log line gets it. And a base
URL pointing at ``http://`` sends the bot token (it is in every Bot API path) or the TronScan
API key across the network in clear text; look-alike hosts (``127.0.0.1@evil.com``,
``localhost.evil.com``) try to pass for a local test server.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.cli import main
from bot.logging_setup import RedactingFilter
from core.config import SecretUrl, load_settings
from core.errors import ConfigError

PASSWORD = "s3cr3t-Redis-pw"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{PASSWORD}@cache.internal/0", "redis://***@cache.internal/0"),
        (f"redis://verzek:{PASSWORD}@cache.internal:6379/2", "redis://***@cache.internal:6379/2"),
        (f"rediss://verzek:{PASSWORD}@cache.internal/0", "rediss://***@cache.internal/0"),
        (
            f"redis+sentinel://u:{PASSWORD}@s1:26379,s2:26379/main",
            "redis+sentinel://***@s1:26379,s2:26379/main",
        ),
        # A password with an unencoded / or @ in it (a hand-written URL): still hidden.
        (f"redis://:{PASSWORD}/x@y@cache.internal/0", "redis://***@cache.internal/0"),
    ],
)
def test_a_redis_password_never_shows_in_repr(tmp_path: Path, url: str, shown: str) -> None:
    """Every shape of credentials in a Redis URL: the settings dump shows where, never how."""
    settings = load_settings(write(tmp_path, f'[rate_limits]\nstorage = "{url}"\n'), {})
    storage = settings.rate_limits.storage
    for text in (repr(settings), str(settings), repr(storage), str(storage), f"{storage}"):
        assert PASSWORD not in text
    assert repr(storage) == f"SecretUrl({shown!r})"
    assert storage.get() == url  # the real URL is still there for the connection


def test_a_redis_url_without_a_password_reads_plainly(tmp_path: Path) -> None:
    """Nothing secret, nothing masked: the operator can still see what is configured."""
    settings = load_settings(write(tmp_path, '[rate_limits]\nstorage = "redis://h:6379/0"\n'), {})
    assert "redis://h:6379/0" in repr(settings)
    assert settings.rate_limits.storage.password() is None


def test_a_mistyped_redis_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A typo in the scheme must not print the password in the config error."""
    path = write(tmp_path, f'[rate_limits]\nstorage = "redsi://:{PASSWORD}@h/0"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert len(caught.value.problems) == 1
    assert "rate_limits.storage" in caught.value.problems[0]
    assert PASSWORD not in str(caught.value.problems)


def test_a_redis_password_in_a_log_line_is_masked() -> None:
    """A library logging the URL it failed to reach: the log filter masks the userinfo
    even when it was never registered as a secret."""
    record = logging.LogRecord(
        "redis", logging.ERROR, __file__, 1, "cannot reach %s", (f"redis://u:{PASSWORD}@h/0",), None
    )
    RedactingFilter().filter(record)
    assert PASSWORD not in record.getMessage()
    assert "redis://[redacted]@h/0" in record.getMessage()


def test_the_run_command_registers_the_redis_password_with_the_log_filter() -> None:
    """The password alone (say in an auth error) is known to the filter too."""
    storage = SecretUrl(f"redis://verzek:{PASSWORD}@h/0")
    assert storage.password() == PASSWORD
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, f"AUTH {PASSWORD} refused", (), None
    )
    RedactingFilter([storage.password() or ""]).filter(record)
    assert PASSWORD not in record.getMessage()


@pytest.mark.parametrize(
    "url",
    [
        "http://api.telegram.org/bot",
        "http://10.0.0.5:8081/bot",
        "http://127.0.0.1@evil.example/bot",  # userinfo that looks like a loopback host
        "http://localhost.evil.example/bot",
        "http://127.0.0.1.nip.io/bot",
        "http://evil.example#@127.0.0.1/bot",
        "http://0x7f000001/bot",  # not an address we recognise: refused, not guessed
        "http://[::2]/bot",
        "ftp://api.telegram.org/bot",
        "https://user:pw@api.telegram.org/bot",  # credentials in a base URL: refused too
        "https://",
    ],
)
def test_a_telegram_base_url_over_the_network_must_be_https(tmp_path: Path, url: str) -> None:
    """Every remote or look-alike host over plain HTTP is one clear config error."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, f'[telegram]\nbase_url = "{url}"\n'), {})
    (problem,) = caught.value.problems
    assert "telegram.base_url" in problem


@pytest.mark.parametrize(
    "url",
    [
        "https://api.telegram.org/bot",
        "https://botapi.example:8443/bot",
        "http://127.0.0.1:8081/bot",
        "http://127.5.6.7/bot",
        "http://localhost:8081/bot",
        "http://LOCALHOST:8081/bot",
        "http://[::1]:8081/bot",
    ],
)
def test_https_or_a_loopback_test_server_is_accepted(tmp_path: Path, url: str) -> None:
    """A local Bot API server (or the test fake) on loopback may speak plain HTTP."""
    settings = load_settings(write(tmp_path, f'[telegram]\nbase_url = "{url}"\n'), {})
    assert settings.telegram.base_url == url


def test_the_environment_cannot_point_the_bot_at_plain_http() -> None:
    """TELEGRAM_BASE_URL is checked exactly like the file."""
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"TELEGRAM_BASE_URL": "http://api.telegram.org/bot"})
    (problem,) = caught.value.problems
    assert "TELEGRAM_BASE_URL" in problem and "https://" in problem


def test_tronscan_over_plain_http_is_refused(tmp_path: Path) -> None:
    """The TronScan API key travels in a header: http to a remote host is refused."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, '[tronscan]\nbase_url = "http://apilist.tronscanapi.com"\n'))
    (problem,) = caught.value.problems
    assert "tronscan.base_url" in problem and "https://" in problem
    ok = load_settings(write(tmp_path, '[tronscan]\nbase_url = "http://127.0.0.1:9000"\n'), {})
    assert ok.tronscan.base_url == "http://127.0.0.1:9000"


def test_start_up_refuses_with_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    """`verzek run` with a plain-http Bot API stops before anything starts, one line, no
    traceback, no token."""
    path = write(tmp_path, '[telegram]\nbase_url = "http://api.telegram.org/bot"\n')
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-token-for-the-fake-bot-api-000000")
    monkeypatch.setenv("VERZEK_DB", str(tmp_path / "x.db"))
    code = main(["run", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "telegram.base_url" in line and "https://" in line
    assert "Traceback" not in err and "TEST-token" not in err
    assert not (tmp_path / "x.db").exists()
