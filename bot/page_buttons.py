"""Opaque Older/Newer buttons for /activity and /audit (SPEC §11: button data never carries
anything but a short opaque reference checked against the presser's session).

A page's buttons carry their handler's prefix and a random token, nothing else. What a token
stands for (the cursor: which subject, which direction, which event id) stays on the server,
in memory (and in the database across instances: bot/button_sheets.py), with the Telegram
user, chat and message it was shown on and the session it was shown in (``None`` when the
viewer had none: an admin's /audit). :func:`resolve` gives the
cursor back only to that user, on that message, while their session is still the same one
and before :data:`TTL` ends; each page shown replaces the tokens of the one before. On one
instance tokens do not survive a restart: the buttons then say they are no longer active.
"""

from __future__ import annotations

import secrets
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.button_sheets import SheetCodec, SheetStore, register
from bot.context import BotData

TTL = timedelta(minutes=30)
SHEETS_PER_USER = 8  # older pages of the same user are forgotten (memory stays bounded)
SWEEP_EVERY = timedelta(minutes=1)  # expired sheets of every user go at most this late


@dataclass
class PageSheet:
    """The buttons of one page message as the server remembers them."""

    telegram_user_id: int
    chat_id: int
    session_id: int | None
    expires_at: datetime
    cursors: dict[str, str] = field(default_factory=dict)  # token -> cursor
    message_id: int | None = None  # set once Telegram accepted the message

    def button(self, prefix: str, cursor: str) -> str:
        """Callback data for a button standing for ``cursor``: ``prefix`` and a fresh token."""
        token = secrets.token_urlsafe(9)  # 72 random bits, 12 characters
        self.cursors[token] = cursor
        return prefix + token

    @property
    def tokens(self) -> list[str]:
        return list(self.cursors)


class PageStore(SheetStore[PageSheet]):
    """Tokens → sheets, per application; each user keeps at most :data:`SHEETS_PER_USER`, and
    a new page on a message replaces that message's old one."""

    def __init__(self, prefix: str) -> None:
        super().__init__(
            SHEETS_PER_USER,
            sweep_every=SWEEP_EVERY,
            one_per_message=True,
            name=prefix,
            codec=SheetCodec(PageSheet),
        )


_STORES: weakref.WeakKeyDictionary[BotData, dict[str, PageStore]] = weakref.WeakKeyDictionary()


def store_of(bot_data: BotData, prefix: str) -> PageStore:
    """The application's store for the buttons of ``prefix`` (made at first use)."""
    stores = _STORES.setdefault(bot_data, {})
    store = stores.get(prefix)
    if store is None:
        store = stores[prefix] = PageStore(prefix)
        register(bot_data, store, (prefix,))  # in the database across instances
    return store


def new_sheet(
    bot_data: BotData, telegram_user_id: int, chat_id: int, session_id: int | None
) -> PageSheet:
    """An empty sheet for a page about to be shown to ``telegram_user_id`` in ``chat_id``."""
    now = bot_data.services.clock.now()
    return PageSheet(telegram_user_id, chat_id, session_id, now + TTL)


def keep(bot_data: BotData, prefix: str, sheet: PageSheet, message_id: int) -> None:
    """Remember ``sheet`` once its message is shown (``message_id``); a sheet without buttons
    still replaces the tokens that message had before."""
    sheet.message_id = message_id
    store_of(bot_data, prefix).add(sheet, bot_data.services.clock.now())


class Refused(Exception):
    """A press that shows nothing: ``stale`` (unknown, expired, session changed) or not the
    presser's button."""

    def __init__(self, stale: bool) -> None:
        super().__init__("stale" if stale else "not yours")
        self.stale = stale


def resolve(
    bot_data: BotData,
    prefix: str,
    data: str,
    telegram_user_id: int,
    chat_id: int,
    message_id: int,
    session_id: int | None,
) -> str:
    """The cursor a pressed button stands for, or :class:`Refused`. ``session_id`` is the
    presser's live session now (``None``: none)."""
    store = store_of(bot_data, prefix)
    token = data.removeprefix(prefix) if data.startswith(prefix) else ""
    sheet = store.find(token)
    now = bot_data.services.clock.now()
    if sheet is None or sheet.expires_at <= now:
        if sheet is not None:
            store.drop(sheet)
        raise Refused(stale=True)
    if (
        telegram_user_id != sheet.telegram_user_id
        or chat_id != sheet.chat_id
        or message_id != sheet.message_id
    ):
        raise Refused(stale=False)  # someone else's: left working for its owner
    if session_id != sheet.session_id:
        store.drop(sheet)  # logged out or in again since: this page is over
        raise Refused(stale=True)
    return sheet.cursors[token]
