"""The ``telegram.mode`` keys: polling (the default) or a webhook Telegram POSTs updates to.

Telegram's own rules (core.telegram.org/bots/api#setwebhook) are checked when the config is
read, so a mistake is one line at start-up rather than a refused ``setWebhook`` later: the URL
is https (Telegram never calls plain http) on port 443, 80, 88 or 8443; the secret token is
1–256 characters of ``A-Za-z0-9_-``, and we ask for at least 32 of them (it is the only thing
that tells Telegram's requests from anyone else's). It is required in webhook mode: several
instances behind one URL must share it, so it is configured, never generated.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from core.config_values import Secret

POLLING, WEBHOOK = "polling", "webhook"
MODES = (POLLING, WEBHOOK)
WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram delivers webhooks to
SECRET_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
SECRET_MAX = 256  # Telegram's limit
SECRET_MIN = 32  # ours: about 190 bits from that alphabet


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("must be a string")
    return raw.strip()


def mode_value(raw: Any) -> str:
    """``polling`` or ``webhook``."""
    mode = _text(raw).lower()
    if mode not in MODES:
        raise ValueError(f"must be one of {', '.join(MODES)}")
    return mode


def webhook_url_value(raw: Any) -> str:
    """The public https URL Telegram will POST updates to."""
    text = _text(raw)
    if not text.startswith("https://"):
        raise ValueError("must start with https:// (Telegram delivers webhooks over https only)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if not parts.hostname or "@" in parts.netloc or any(ch.isspace() for ch in text):
        raise ValueError("is not a valid URL (a host, no user name, password or spaces)")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment (the path is what the bot serves)")
    if port is not None and port not in WEBHOOK_PORTS:
        allowed = ", ".join(str(p) for p in WEBHOOK_PORTS)
        raise ValueError(f"uses port {port}: Telegram delivers only to ports {allowed}")
    return text


def listen_value(raw: Any) -> str:
    """The IP address the bot's webhook server binds (``127.0.0.1`` behind a reverse proxy)."""
    text = _text(raw)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("must be an IP address (e.g. 127.0.0.1 or 0.0.0.0)") from None
    return text


def webhook_secret_value(raw: Any) -> Secret:
    """The ``secret_token`` every webhook request must carry."""
    text = _text(raw)
    if not SECRET_ALPHABET.fullmatch(text) or len(text) > SECRET_MAX:
        raise ValueError(
            f"must be 1-{SECRET_MAX} characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
        )
    if len(text) < SECRET_MIN:
        raise ValueError(
            f"is {len(text)} characters: use at least {SECRET_MIN} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return Secret(text)


def webhook_problems(mode: str, url: str | None, secret: Secret | None) -> list[str]:
    """What webhook mode cannot start without (nothing in polling mode)."""
    if mode != WEBHOOK:
        return []
    problems = []
    if url is None:
        problems.append(
            'telegram.webhook_url is required when telegram.mode = "webhook" (the public '
            "https:// address Telegram posts updates to)"
        )
    if secret is None:
        problems.append(
            'telegram.webhook_secret is required when telegram.mode = "webhook": set '
            f"TELEGRAM_WEBHOOK_SECRET ({SECRET_MIN}+ characters of A-Za-z0-9_-)"
        )
    return problems
