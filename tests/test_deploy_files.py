"""deploy/: the compose file, its Caddyfile and the fleet's config agree with each other and
with the bot (no Docker here: the files are read and checked, not run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.config import load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
BOTS = ("bot1", "bot2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_two_bots_one_database_one_redis_one_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {*BOTS, "postgres", "redis", "caddy"}
    first, second = (services[name] for name in BOTS)
    assert first == second, "the instances run one image with one config"
    assert first["command"] == ["run", "--config", "/etc/verzek/fleet.toml"]
    assert first["env_file"] == "verzek.env" and first["secrets"] == ["verzek_master_key"]


def test_only_the_proxy_is_reachable_from_outside(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("postgres", "redis", *BOTS):
        assert "ports" not in services[name], name
    for name in ("postgres", "redis"):
        assert services[name]["networks"] == ["backend"], name
    assert sorted(services["caddy"]["ports"]) == ["443:443", "80:80"]


def test_no_secret_is_written_into_the_files(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "compose.yaml").read_text() + (DEPLOY / "fleet.toml").read_text()
    assert "postgresql://" not in text, "the DSN (with its password) lives in verzek.env"
    for name, service in compose["services"].items():
        for key in service.get("environment", {}):
            secretish = re.search(r"PASSWORD|TOKEN|SECRET|KEY", key)
            assert not secretish or key.endswith("_FILE"), f"{name}: {key} given inline"
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"]
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    ignored = (DEPLOY.parent / ".gitignore").read_text()
    assert "/deploy/verzek.env" in ignored and "/deploy/secrets/" in ignored


def test_the_fleet_config_runs_and_matches_the_proxy(tmp_path: Path) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": "123456789:AA" + "x" * 30,
        "TELEGRAM_WEBHOOK_SECRET": "S" * 32,
        "ADMIN_CHAT_ID": "-100123",
        "VERZEK_ADMINS": "123",
        "VERZEK_DATABASE_URL": "postgresql://verzek:pw@postgres:5432/verzek",
    }
    settings = load_settings(DEPLOY / "fleet.toml", env)
    settings.require_for_run()
    telegram = settings.telegram
    assert telegram.mode == "webhook" and telegram.webhook_remove_on_stop is False
    assert settings.rate_limits.storage is not None
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert telegram.webhook_url is not None
    hook = urlsplit(telegram.webhook_url)
    assert f"{hook.hostname} {{" in caddy
    assert f"handle {hook.path} {{" in caddy and f"health_uri {hook.path}" in caddy
    upstreams = re.search(r"reverse_proxy (.+) \{", caddy)
    assert upstreams is not None
    assert upstreams[1].split() == [f"{bot}:{telegram.webhook_port}" for bot in BOTS]


def test_the_example_environment_names_every_variable_the_bots_need() -> None:
    example = (DEPLOY / "verzek.env.example").read_text()
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "ADMIN_CHAT_ID",
        "VERZEK_ADMINS",
        "VERZEK_DATABASE_URL",
    ):
        assert re.search(rf"^{name}=", example, re.M), name
