"""JSON for what flows keep in user_data, with explicit types; never pickle.

The threat model includes write access to the database file, and unpickling is running code,
so conversation state is plain JSON. Values that are not JSON types carry a tag:

- ``{"$": "tuple", "v": [...]}``, ``{"$": "dict", "v": [[key, value], ...]}`` (any key type),
  ``{"$": "datetime", "v": "ISO"}``, ``{"$": "bytes", "v": "base64"}``;
- ``{"$": "<record>", "v": {field: value}}`` for the records flows keep (:data:`RECORDS`):
  rebuilt by calling the dataclass with exactly its fields, nothing else.

A value of any other type cannot be stored (:class:`NotStorable`): the flow that holds it is
kept in memory only and ends politely at a restart. Types in :data:`MEMORY_ONLY` (API
credentials waiting for their last step) are refused on purpose: they never reach the disk.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from datetime import datetime
from typing import Any

from bot.handlers.apikeys import _Pending
from core.accounts.service import LoginAttempt
from core.accounts.sessions import ReauthProof, Session
from core.adapters.captcha_image import Captcha
from core.twofactor.service import SecondFactorProof
from core.withdrawals.rules import WithdrawalDraft

RECORDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (Session, LoginAttempt, ReauthProof, SecondFactorProof, Captcha, WithdrawalDraft)
}
# The API-key flow's credentials: "never in the database" (bot/handlers/apikeys.py).
MEMORY_ONLY: tuple[type[Any], ...] = (_Pending,)
_TAG = "$"
MAX_DEPTH = 20


class NotStorable(Exception):
    """A value that has no JSON form here (its type is named, never its content)."""


class Malformed(Exception):
    """Stored JSON that does not decode to the types above."""


def encode(value: object, depth: int = 0) -> Any:
    """``value`` as JSON-ready data; raises :class:`NotStorable`."""
    if depth > MAX_DEPTH:
        raise NotStorable("nested too deeply")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [encode(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [encode(item, depth + 1) for item in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and k != _TAG for k in value):
            return {k: encode(v, depth + 1) for k, v in value.items()}
        pairs = [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]
        return {_TAG: "dict", "v": pairs}
    if isinstance(value, datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, bytes):
        return {_TAG: "bytes", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, MEMORY_ONLY):
        raise NotStorable(f"{type(value).__name__} stays in memory")
    name = type(value).__name__
    if RECORDS.get(name) is type(value) and dataclasses.is_dataclass(value):
        fields = {
            f.name: encode(getattr(value, f.name), depth + 1)
            for f in dataclasses.fields(value)
            if f.init
        }
        return {_TAG: name, "v": fields}
    raise NotStorable(f"no JSON form for {name}")


def decode(data: Any, depth: int = 0) -> Any:
    """The value :func:`encode` made ``data`` from; raises :class:`Malformed`."""
    if depth > MAX_DEPTH:
        raise Malformed("nested too deeply")
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode(item, depth + 1) for item in data]
    if not isinstance(data, dict):
        raise Malformed(f"unexpected {type(data).__name__}")
    if _TAG not in data:
        return {str(k): decode(v, depth + 1) for k, v in data.items()}
    tag, body = data.get(_TAG), data.get("v")
    if set(data) != {_TAG, "v"}:
        raise Malformed("a tagged value with other members")
    try:
        return _decode_tagged(str(tag), body, depth)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise Malformed(f"bad {tag}: {type(exc).__name__}") from None


def _decode_tagged(tag: str, body: Any, depth: int) -> Any:
    if tag == "tuple" and isinstance(body, list):
        return tuple(decode(item, depth + 1) for item in body)
    if tag == "dict" and isinstance(body, list):
        return {decode(k, depth + 1): decode(v, depth + 1) for k, v in body}
    if tag == "datetime" and isinstance(body, str):
        return datetime.fromisoformat(body)
    if tag == "bytes" and isinstance(body, str):
        return base64.b64decode(body.encode("ascii"), validate=True)
    cls = RECORDS.get(tag)
    if cls is not None and isinstance(body, dict):
        expected = {f.name for f in dataclasses.fields(cls) if f.init}
        if set(body) != expected:
            raise Malformed(f"{tag} with other fields")
        return cls(**{name: decode(value, depth + 1) for name, value in body.items()})
    raise Malformed(f"unknown tag {tag!r}")
