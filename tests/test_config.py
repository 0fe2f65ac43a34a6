"""Configuration: file + environment, one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from core.config import load_settings
from core.errors import ConfigError
from core.money import MICRO

KEY = "A" * 43 + "="


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_spec() -> None:
    s = load_settings(None, {})
    assert s.telegram.base_url == "https://api.telegram.org/bot"
    assert str(s.database.path) == "data/verzek.db"
    assert (s.security.session_hours, s.security.idle_minutes, s.security.captcha) == (12, 30, True)
    assert (s.rate_limits.auth, s.rate_limits.default) == ("5/minute", "100/minute")
    assert dict(s.rate_limits.tiers) == {
        "free": "100/minute",
        "basic": "200/minute",
        "pro": "500/minute",
    }
    assert s.rate_limits.storage.get() == "memory://"
    assert (s.backups.hour_utc, s.backups.retention_days) == (2, 30)
    assert s.payments.usdt_contract == "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    assert (s.payments.min_confirmations, s.payments.amount_tolerance_micro) == (19, 5_000)
    assert s.payments.invoice_hours == 24
    assert s.tronscan.base_url == "https://apilist.tronscanapi.com"
    assert s.plans["basic"].price_micro == 29 * MICRO and s.plans["pro"].tier == "pro"
    assert s.referrals.commission_percent == 10
    assert s.alerts.large_withdrawal_micro == 1000 * MICRO


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[telegram]\nadmin_chat_id = -1\nadmins = [1, 2]\n[database]\npath = "a.db"\n'
    )
    s = load_settings(
        path,
        {"ADMIN_CHAT_ID": "-100", "VERZEK_ADMINS": "5, 6", "VERZEK_DB": "b.db"},
    )
    assert s.telegram.admin_chat_id == -100
    assert s.telegram.admins == {5, 6}
    assert str(s.database.path) == "b.db"


def test_every_bad_value_is_reported_on_its_own_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[telegram]\nadmin_chat_id = "abc"\n'
        '[security]\nidle_minutes = 0\ncaptcha = "maybe"\n'
        '[rate_limits]\nauth = "lots"\n'
        '[payments]\nreceive_address = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"\n'
        "amount_tolerance = 0.01\n"
        "[backups]\nhour_utc = 24\n"
        "[nonsense]\nkey = 1\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    problems = info.value.problems
    assert len(problems) == 8
    joined = "\n".join(problems)
    for key in (
        "telegram.admin_chat_id",
        "security.idle_minutes",
        "security.captcha",
        "rate_limits.auth",
        "payments.receive_address",
        "payments.amount_tolerance",
        "backups.hour_utc",
        "nonsense.key",
    ):
        assert key in joined


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"ADMIN_CHAT_ID": "twelve"})
    assert info.value.problems == [
        "environment ADMIN_CHAT_ID (telegram.admin_chat_id) must be a whole number"
    ]


def test_plans_and_tiers_from_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[plans.starter]\nprice_usdt = "9.99"\ndays = 7\ntier = "basic"\n'
        '[rate_limits.tiers]\npro = "1000/minute"\n',
    )
    s = load_settings(path, {})
    assert list(s.plans) == ["starter"]
    assert s.plans["starter"].price_micro == 9_990_000
    assert s.rate_limits.tiers["pro"] == "1000/minute"
    assert s.rate_limits.tiers["free"] == "100/minute"


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[telegram\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert len(info.value.problems) == 1 and "not valid TOML" in info.value.problems[0]


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    s = load_settings(
        None,
        {
            "TELEGRAM_BOT_TOKEN": "123456:very-secret-token-value",
            "TRONSCAN_API_KEY": "tronscan-secret-key",
            "ENCRYPTION_MASTER_KEY": KEY,
        },
    )
    text = repr(s) + str(s)
    assert "very-secret" not in text and "tronscan-secret" not in text and KEY not in text
    assert s.telegram.token is not None and s.telegram.token.get().startswith("123456:")


def test_cli_reports_config_errors_without_traceback(tmp_path: Path, capsys, monkeypatch) -> None:
    path = write(tmp_path, "[backups]\nretention_days = -1\n")
    monkeypatch.setenv("VERZEK_DB", str(tmp_path / "x.db"))
    code = main(["migrate", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"verzek: config: {path}: backups.retention_days must be at least 1"
    ]
    assert "Traceback" not in err


def test_run_without_token_or_key_explains_what_is_missing(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    for name in ("TELEGRAM_BOT_TOKEN", "ADMIN_CHAT_ID", "ENCRYPTION_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "TELEGRAM_BOT_TOKEN" in err and "ADMIN_CHAT_ID" in err and "Traceback" not in err

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("ADMIN_CHAT_ID", "-1")
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert "ENCRYPTION_MASTER_KEY" in err and "verzek keygen" in err
    assert len(err.strip().splitlines()) == 1
