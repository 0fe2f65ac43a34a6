"""Shared by the HTTP benchmarks (bench/updates.py, lanes.py, flood.py, me_inprocess.py): their
constants, the users they play, the bots' configuration and the machine they ran on."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from bot.fake_telegram import TelegramUser

REPO = Path(__file__).resolve().parent.parent
VERZEK, ECHO = "verzek", "echo"
SEQUENTIAL = "echo-1"  # results key of the bare bot one update at a time (PTB's default)
LIFTED, SHIPPED = "lifted", "shipped"
LOGINS = 20
PASSWORD = "violet canyon trumpet 42 orbit"
ME_USER_BASE = 5_000_000
LOGIN_USER_BASE = 6_000_000
TOKEN = "123456789:AAbenchmarkTOKENforTheFakeBotAPI000000"
WAIT_SECONDS = 120.0
P99_TARGET_MS = 100.0
RATIO_TARGET = 0.7
CPU_TARGET = 1.15


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- users and their sessions, straight through core services --------------------------------


def me_users(count: int) -> list[TelegramUser]:
    return [TelegramUser(ME_USER_BASE + k, f"User{k}") for k in range(count)]


def login_users(count: int = LOGINS) -> list[TelegramUser]:
    return [TelegramUser(LOGIN_USER_BASE + k, f"Login{k}") for k in range(count)]


def email_of(user: TelegramUser) -> str:
    return f"u{user.id}@bench.example.com"


async def create_accounts(
    env: dict[str, str], config: Path, users: int, logins: int = LOGINS
) -> None:
    """Accounts for every user; sessions for the /me users (the login users log in later)."""
    from bot.bootstrap import bootstrap
    from core.config import load_settings

    services = await bootstrap(load_settings(config, env))
    try:
        # One real argon2id hash serves every account: the setup times nothing.
        password_hash = await services.accounts.passwords.hash(PASSWORD)
        for user in [*me_users(users), *login_users(logins)]:
            await services.accounts.register(
                email=email_of(user),
                password_hash=password_hash,
                referral_code=None,
                telegram_user_id=user.id,
                # Signed in as /register does, in the same transaction: no password check (it
                # is what scenario 3 times; here it would only cost minutes) and no hand-made
                # LoginAttempt, which complete_login rightly refuses (no check time: expired).
                sign_in=user.id < LOGIN_USER_BASE,
            )
    finally:
        await services.aclose()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"load average {load} at the start"
    )


def environment(workdir: Path) -> dict[str, str]:
    """The bots' configuration: captcha off, limits far above the traffic, all in ``workdir``."""
    from core.crypto import generate_master_key

    config, lifted = workdir / "config.toml", workdir / "config-lifted.toml"
    room = "1000000/minute"
    common = (
        "[security]\ncaptcha = false\n"
        f'[rate_limits]\nauth = "{room}"\ndefault = "{room}"\n'
        f'[rate_limits.tiers]\nfree = "{room}"\nbasic = "{room}"\npro = "{room}"\n'
        f'[backups]\ndir = "{workdir / "backups"}"\n'
    )
    config.write_text(common + "[telegram]\nmax_messages_per_second = 30\n")  # as shipped
    lifted.write_text(common + "[telegram]\nmax_messages_per_second = 0\n")  # no cap
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "TRONSCAN_", "ADMIN_"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "BENCH_CONFIG": str(config),
            "BENCH_CONFIG_LIFTED": str(lifted),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "ADMIN_CHAT_ID": "-100500",
            "VERZEK_ADMINS": "9001",
            "VERZEK_DB": str(workdir / "data" / "verzek.db"),
            "ENCRYPTION_MASTER_KEY": generate_master_key(),
        }
    )
    return env
