"""A keyboard to pick one of the caller's own items (SPEC §11: a command sent bare asks with
buttons), with pages when there are many.

A button carries only ``<prefix>i:<reference>``: a 12-hex keyed digest of (the viewer's
session, the kind of item, the item's id) under the account's security stamp, never the id.
The press is resolved with :func:`find` against the presser's *own* live session and the
items it may pick now, so a button forwarded to or replayed by another Telegram account, left
over from before a logout (new session, new stamp) or edited by hand picks nothing. Page
buttons (``<prefix>p:<n>``) only change what is shown.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core.accounts.sessions import Session
from core.ids import parse_id

REFERENCE_LENGTH = 12  # hex characters
PER_PAGE = 6
ITEM = "i:"
PAGE = "p:"

T = TypeVar("T")


@dataclass(frozen=True)
class Picker(Generic[T]):
    """How one command's items are shown and named."""

    prefix: str  # callback data prefix, e.g. ``pay:``
    kind: str  # what the items are (keys the digest apart from other pickers)
    item_id: Callable[[T], int]
    label: Callable[[T], str]


def reference(session: Session, kind: str, item_id: int) -> str:
    """The opaque name of item ``item_id`` on buttons shown to ``session``."""
    message = f"{kind}|{session.id}|{session.started_at.isoformat()}|{item_id}".encode()
    key = b"picker:" + session.stamp.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:REFERENCE_LENGTH]


def keyboard(
    picker: Picker[T],
    session: Session,
    items: Sequence[T],
    *,
    page: int = 1,
    more: str = "▶",
    back: str = "◀",
) -> InlineKeyboardMarkup:
    """One button per item of ``page`` (1-based), and page buttons when there are more."""
    pages = max(1, -(-len(items) // PER_PAGE))
    page = min(max(page, 1), pages)
    shown = items[(page - 1) * PER_PAGE : page * PER_PAGE]
    rows = [
        [
            InlineKeyboardButton(
                picker.label(item),
                callback_data=picker.prefix
                + ITEM
                + reference(session, picker.kind, picker.item_id(item)),
            )
        ]
        for item in shown
    ]
    nav: list[InlineKeyboardButton] = []
    if page > 1:
        nav.append(InlineKeyboardButton(back, callback_data=f"{picker.prefix}{PAGE}{page - 1}"))
    if page < pages:
        nav.append(InlineKeyboardButton(more, callback_data=f"{picker.prefix}{PAGE}{page + 1}"))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def pressed_page(picker: Picker[T], data: str) -> int | None:
    """The page a page button asks for, or None when ``data`` is not a page button."""
    rest = data.removeprefix(picker.prefix)
    if rest == data or not rest.startswith(PAGE):
        return None
    return parse_id(rest.removeprefix(PAGE))


def find(picker: Picker[T], session: Session, items: Sequence[T], data: str) -> T | None:
    """The item ``data`` names for the presser's ``session`` among ``items``, or None."""
    rest = data.removeprefix(picker.prefix)
    if rest == data or not rest.startswith(ITEM):
        return None
    pressed = rest.removeprefix(ITEM).encode()
    found: T | None = None
    for item in items:
        mine = reference(session, picker.kind, picker.item_id(item)).encode()
        if hmac.compare_digest(mine, pressed) and found is None:
            found = item
    return found
