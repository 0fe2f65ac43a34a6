"""What ``verzek run`` checks before python-telegram-bot starts, each failure one line.

PTB reports a Bot API that answers 404 as a bad token, and one that answers HTML with a logged
traceback. So before the Application is built, :func:`preflight` asks the Bot API ``getMe``
itself, checks the key against the database (:mod:`bot.cli_keycheck`) and, when payments are
configured, that TronScan answers. Every expected failure is a :class:`StartupError` whose
text is the one line ``verzek:`` prints; nothing is logged before it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from bot.cli_keycheck import open_checked
from core.adapters.tronscan import API_KEY_HEADER
from core.config import Settings
from core.digits import parse_int
from core.errors import VerzekError

logger = logging.getLogger("verzek")

LOG_LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PROBE_TIMEOUT = 10.0  # seconds, per request
BLOCK_LATEST = "/api/block/latest"


class StartupError(VerzekError):
    """An expected start-up failure; the message is the whole line to show."""


def parse_log_level(raw: str | None) -> int:
    """``VERZEK_LOG_LEVEL``: a level name in any case (``debug``, ``Info``, ``WARN``) or a
    number from 0 to 50 (``10`` is DEBUG, ``20`` INFO …); unset or empty is INFO."""
    text = (raw or "").strip()
    if not text:
        return logging.INFO
    number = parse_int(text)
    if number is not None:
        if number <= logging.CRITICAL:
            return number
    else:
        name = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(text.upper(), text.upper())
        if name in LOG_LEVEL_NAMES:
            return int(logging.getLevelName(name))
    shown = text if len(text) <= 20 and text.isprintable() else text[:20].encode("ascii", "replace")
    raise StartupError(
        f"VERZEK_LOG_LEVEL {str(shown)!r} is not a log level: use one of "
        f"{', '.join(LOG_LEVEL_NAMES)} (any case) or a number from 0 to 50"
    )


@dataclass(frozen=True)
class BotIdentity:
    """Who the token belongs to, as ``getMe`` said."""

    id: int
    username: str


def _bot_identity(answer: Any) -> BotIdentity | None:
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        return None
    result = answer.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("id"), int):
        return None
    return BotIdentity(result["id"], str(result.get("username") or result["id"]))


async def probe_bot_api(settings: Settings, http: httpx.AsyncClient) -> BotIdentity:
    """``getMe`` once; a :class:`StartupError` naming what to check when it fails."""
    assert settings.telegram.token is not None
    base = settings.telegram.base_url
    url = f"{base}{settings.telegram.token.get()}/getMe"
    try:
        response = await http.post(url, timeout=PROBE_TIMEOUT)
    except httpx.HTTPError as exc:  # the URL (and token) is never shown: only the kind
        raise StartupError(
            f"cannot reach the Telegram Bot API at {base} ({type(exc).__name__}); "
            "check the network or telegram.base_url"
        ) from None
    if response.status_code == 401:
        raise StartupError("Telegram refused the bot token: check TELEGRAM_BOT_TOKEN")
    if response.status_code == 404:
        raise StartupError(
            f"the Telegram Bot API at {base} answered 404 Not Found: check telegram.base_url "
            "(it ends in /bot, e.g. https://api.telegram.org/bot) and the token's format"
        )
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    identity = _bot_identity(answer)
    if identity is None:
        raise StartupError(
            f"the Telegram Bot API at {base} did not answer a Bot API reply (HTTP "
            f"{response.status_code}, {'JSON' if answer is not None else 'not JSON'}): "
            "check telegram.base_url"
        )
    return identity


async def probe_tronscan(settings: Settings, http: httpx.AsyncClient) -> int:
    """The chain height from TronScan's ``/api/block/latest``; a :class:`StartupError` when
    TronScan cannot be used (payments could never be verified)."""
    base = settings.tronscan.base_url.rstrip("/")
    headers = {"Accept": "application/json"}
    if settings.tronscan.api_key is not None:
        headers[API_KEY_HEADER] = settings.tronscan.api_key.get()
    hint = "payments need it: check the network, tronscan.base_url and TRONSCAN_API_KEY"
    try:
        response = await http.get(base + BLOCK_LATEST, headers=headers, timeout=PROBE_TIMEOUT)
    except httpx.HTTPError as exc:
        kind = type(exc).__name__
        raise StartupError(f"cannot reach TronScan at {base} ({kind}); {hint}") from None
    try:
        data = response.json() if response.status_code == 200 else None
    except ValueError:
        data = None
    number = data.get("number") if isinstance(data, dict) else None
    if not isinstance(number, int) or isinstance(number, bool):
        raise StartupError(
            f"TronScan at {base} gave no usable answer (HTTP {response.status_code}); {hint}"
        )
    return number


def feature_lines(settings: Settings) -> list[str]:
    """Which optional features are configured, for the start-up log."""
    address = settings.payments.receive_address
    offsite = settings.backups.offsite
    return [
        f"payments: {'on, to ' + address if address else 'off (payments.receive_address unset)'}",
        f"off-site backups: each nightly archive to {offsite.describe()}"
        if offsite is not None
        else "off-site backups: not configured (archives stay in "
        f"{settings.backups.dir.resolve()}; copy them elsewhere yourself)",
    ]


async def preflight(settings: Settings) -> BotIdentity:
    """Everything ``verzek run`` must know before PTB starts; raises :class:`StartupError`
    (or the key check's one-line VerzekError)."""
    checked = await open_checked(settings, write=True)  # the worst trap first, no network
    await checked.database.close()
    async with httpx.AsyncClient() as http:
        identity = await probe_bot_api(settings, http)
        if settings.payments.receive_address is not None:
            await probe_tronscan(settings, http)
    return identity


def log_started(settings: Settings, identity: BotIdentity) -> None:
    """One INFO line per fact an operator checks first."""
    logger.info("bot: @%s (id %d)", identity.username, identity.id)
    logger.info("database: %s", settings.database.place())
    admins = ", ".join(str(a) for a in sorted(settings.telegram.admins))
    chat = settings.telegram.admin_chat_id
    logger.info(
        "admin chat: %s; admins: %s%s",
        chat,
        admins or "none",
        " (send /id to the bot, privately and in the admin group, to find the ids)"
        if not admins or not chat
        else "",
    )
    telegram = settings.telegram
    if telegram.webhook_url is not None and telegram.mode == "webhook":
        logger.info(
            "updates: webhook %s, served on %s:%d",
            telegram.webhook_url,
            telegram.webhook_listen,
            telegram.webhook_port,
        )
    else:
        logger.info("updates: long polling")
    for line in feature_lines(settings):
        logger.info("%s", line)
