"""Parsers for configuration values: each returns the parsed value or raises ValueError with a
short reason that never repeats the value (:mod:`core.config` declares which key uses which).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from limits import parse as parse_limit

from core.config_values import Secret, SecretUrl, remote_base_url
from core.money import to_micro
from core.payments.tron import is_valid_tron_address


def int_value(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError("must be a whole number")
        if isinstance(raw, str):
            try:
                raw = int(raw.strip())
            except ValueError:
                raise ValueError("must be a whole number") from None
        if not isinstance(raw, int):
            raise ValueError("must be a whole number")
        if minimum is not None and raw < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and raw > maximum:
            raise ValueError(f"must be at most {maximum}")
        return raw

    return parse


def bool_value(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"true", "1", "yes", "on"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"false", "0", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def text_value(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("must be a non-empty string")
    return raw.strip()


def secret_value(raw: Any) -> Secret:
    return Secret(text_value(raw))


def url_value(raw: Any) -> str:
    return remote_base_url(text_value(raw))


SECOND_SOURCES = ("trongrid",)


def second_source_value(raw: Any) -> str | None:
    """``payments.second_source``: a known second chain source, or "" / "off" for none."""
    if isinstance(raw, str) and raw.strip().lower() in {"", "off", "none"}:
        return None
    text = text_value(raw).lower()
    if text not in SECOND_SOURCES:
        raise ValueError(f'must be one of {", ".join(SECOND_SOURCES)} (or "off")')
    return text


def rate_value(raw: Any) -> str:
    text = text_value(raw)
    try:
        parse_limit(text)
    except ValueError:
        raise ValueError('must be a rate such as "5/minute" or "100 per hour"') from None
    return text


def rate_storage_value(raw: Any) -> SecretUrl:
    text = text_value(raw)
    if not text.startswith(("memory://", "redis://", "rediss://", "redis+sentinel://")):
        raise ValueError('must be "memory://" or a redis:// URL')  # never echo the value
    return SecretUrl(text)


def database_url_value(raw: Any) -> SecretUrl | None:
    """``postgresql://user:pw@host:port/db`` (or ``postgres://``); empty means the SQLite file."""
    text = text_value(raw).strip()
    if not text:
        return None
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL")  # never echo the value: a password
    return SecretUrl(text)


def admins_value(raw: Any) -> frozenset[int]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError("must be a list of Telegram user ids")
    out = set()
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        try:
            out.add(int_value(1)(item))
        except ValueError:
            raise ValueError(f"must be a list of Telegram user ids, got {item!r}") from None
    return frozenset(out)


def path_value(raw: Any) -> Path:
    return Path(text_value(raw)).expanduser()


def tron_address_value(raw: Any) -> str:
    text = text_value(raw)
    if not is_valid_tron_address(text):
        raise ValueError("is not a valid TRON address (base58check, 34 characters, starts with T)")
    return text


def usdt_value(raw: Any) -> int:
    """A USDT amount (string or number in the file) as integer micro-USDT."""
    if isinstance(raw, float):
        raise ValueError('write amounts as strings or whole numbers, e.g. "0.01"')
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError('must be a USDT amount such as "0.01"') from None
    if amount < 0:
        raise ValueError("must not be negative")
    try:
        return to_micro(amount)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def percent_value(raw: Any) -> Decimal:
    if isinstance(raw, float):
        raw = str(raw)
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError("must be a number between 0 and 100") from None
    if not Decimal(0) <= value <= Decimal(100):
        raise ValueError("must be a number between 0 and 100")
    return value
