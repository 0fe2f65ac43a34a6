"""Logging that cannot leak secrets.

httpx logs every request URL at INFO, and Bot API URLs contain the token; PTB logs whole updates
(user messages, so passwords) at DEBUG. Those loggers are capped, and a filter on the root
handler masks the configured secrets and anything shaped like a bot token as a last line of
defence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

_BOT_TOKEN = re.compile(r"\b[0-9]{5,}:[A-Za-z0-9_-]{30,}\b")
# The user:password part of any URL (a Redis URL in an error message, say).
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s@]*:[^/\s@]*@")
MASK = "[redacted]"


class RedactingFilter(logging.Filter):
    """Replaces known secret values and bot-token-shaped strings in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({item for item in secrets if item and len(item) >= 6}, key=len)[::-1]

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _URL_CREDENTIALS.sub(f"{MASK}@", _BOT_TOKEN.sub(MASK, text))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(
    level: str | int = "INFO", secrets: Iterable[str] = (), *, log_file: Path | None = None
) -> None:
    """Root logging to stderr (or appended to ``log_file``) with redaction; noisy or leaky
    libraries capped."""
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    # boto3's DEBUG lines carry signed request headers (the access key id among them).
    for name in ("boto3", "botocore", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("asyncio").setLevel(max(logging.INFO, root.level))  # "Using selector"
