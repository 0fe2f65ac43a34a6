"""Buttons instead of typed arguments (SPEC §11): a command sent without its id asks for it
with buttons listing the caller's own items, a page at a time.

Using it, one :class:`Picker` per command::

    KEYS = Picker("apikey_delete", texts.PICK_APIKEY, texts.PICK_APIKEY_NONE, key_choices)

    async def start_delete(update, context):          # the command's own entry
        if not context.args:
            return await offer(update, context, KEYS, session)    # the buttons (END)
        ...                                                       # exactly as before

    conversation(..., extra_entries=[picked(application, KEYS, start_delete)])

:func:`offer` replies with the first page; :func:`picked` is the handler of that picker's
buttons: "‹ Prev" and "Next ›" show another page on the same message, and an item's button
goes on exactly as if the item had been typed: ``context.args = [value]``, then the given
callback (the command's own entry, so its 2FA steps are unchanged). A callback whose command
takes more than the id reads ``context.args[0]`` and asks for the rest (admin commands:
bot/handlers/pick_then_ask.py). Admin pickers say ``admin=True`` and pass ``AdminOnly.ids``
to :func:`picked`. A step inside a flow may offer buttons too (``offer(..., text=...)``, then
``picked`` among that state's handlers: /withdraw's last address). Register
:func:`register_fallback` after every picker: it answers buttons nobody owns any more.

Security: a button's callback data is ``pk:`` (``adm:pk:`` for admin pickers, which the gate
refuses to non-admins) and a random token, nothing else. What a token stands for stays on
the server (:class:`PickerStore`, in memory, and in the database when several instances
share the users: bot/button_sheets.py): the Telegram user, chat and message it was
shown on, the session it was shown in, the command and the item. A press does something only
when it comes from that user on that message, while that session is still the presser's live
one, before :data:`TTL` ends, and while the item is still among the presser's choices (listed
again at the press, so a stale page cannot name a deleted or decided item). The first item
press uses the whole sheet up, so a double press decides once. Anything else is answered
politely and changes nothing. Tokens do not survive a restart: the buttons then say so.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler

from bot import texts
from bot.button_sheets import SheetCodec, SheetStore, register
from bot.commands import ADMIN_CALLBACK_PREFIX
from bot.context import BotData, Context, VerzekApplication
from bot.flows import END, message_of
from bot.presence import current_session
from core.accounts.sessions import Session

logger = logging.getLogger(__name__)

PREFIX = "pk:"
ADMIN_PREFIX = f"{ADMIN_CALLBACK_PREFIX}pk:"  # the gate refuses "adm:" buttons to non-admins
PER_PAGE = 8
TTL = timedelta(minutes=10)
SHEETS_PER_USER = 4  # older sheets of the same user are forgotten (memory stays bounded)
SWEEP_EVERY = timedelta(minutes=1)
LABEL_MAX = 60  # characters of a button's text


@dataclass(frozen=True)
class Choice:
    """One item to pick: ``value`` is what the user would have typed (an id, a backup's name),
    ``label`` the button's text (plain text, no HTML)."""

    value: str
    label: str


ChoiceLister = Callable[[Context, Session], Awaitable[list[Choice]]]
Continuation = Callable[[Update, Context], Awaitable[Any]]


@dataclass(frozen=True)
class Picker:
    """What a command asks for when sent bare: ``prompt`` above the buttons, ``empty`` when
    there is nothing to pick, ``choices`` the caller's own items (listed at each offer and
    again at each press). ``admin`` pickers carry the gate's admin prefix."""

    command: str
    prompt: str
    empty: str
    choices: ChoiceLister
    admin: bool = False
    per_page: int = PER_PAGE


@dataclass
class Sheet:
    """One message of buttons as the server remembers it."""

    command: str
    telegram_user_id: int
    chat_id: int
    session_id: int
    expires_at: datetime
    items: dict[str, str] = field(default_factory=dict)  # token -> value
    pages: dict[str, int] = field(default_factory=dict)  # token -> page number
    message_id: int | None = None  # set once Telegram accepted the message

    @property
    def tokens(self) -> list[str]:
        return [*self.items, *self.pages]


class PickerStore(SheetStore[Sheet]):
    """Tokens → sheets, per process. Expired sheets go at the next sweep; each user keeps at
    most :data:`SHEETS_PER_USER`."""

    def __init__(self) -> None:
        super().__init__(
            SHEETS_PER_USER, sweep_every=SWEEP_EVERY, name=PREFIX, codec=SheetCodec(Sheet)
        )


_STORES: weakref.WeakKeyDictionary[BotData, PickerStore] = weakref.WeakKeyDictionary()


def store_of(bot_data: BotData) -> PickerStore:
    """The application's picker store (one per Application, made at first use)."""
    store = _STORES.get(bot_data)
    if store is None:
        store = _STORES[bot_data] = PickerStore()
        register(bot_data, store, (PREFIX, ADMIN_PREFIX))  # in the database across instances
    return store


def _token() -> str:
    return secrets.token_urlsafe(9)  # 72 random bits, 12 characters


def _label(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _page(
    picker: Picker, choices: list[Choice], page: int, sheet: Sheet
) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons of one page; fills ``sheet``'s tokens."""
    prefix = ADMIN_PREFIX if picker.admin else PREFIX
    pages = max(1, -(-len(choices) // picker.per_page))
    page = min(max(page, 0), pages - 1)
    rows: list[list[InlineKeyboardButton]] = []
    for choice in choices[page * picker.per_page : (page + 1) * picker.per_page]:
        token = _token()
        sheet.items[token] = choice.value
        rows.append([InlineKeyboardButton(_label(choice.label), callback_data=prefix + token)])
    nav: list[InlineKeyboardButton] = []
    for label, target in ((texts.PICKER_PREV, page - 1), (texts.PICKER_NEXT, page + 1)):
        if 0 <= target < pages:
            token = _token()
            sheet.pages[token] = target
            nav.append(InlineKeyboardButton(label, callback_data=prefix + token))
    if nav:
        rows.append(nav)
    text = picker.prompt
    if pages > 1:
        text += "\n\n" + texts.PICKER_PAGE.format(page=page + 1, pages=pages)
    return text, InlineKeyboardMarkup(rows)


def _new_sheet(context: Context, picker: Picker, session: Session, chat_id: int) -> Sheet:
    now = context.bot_data.services.clock.now()
    return Sheet(picker.command, session.telegram_user_id, chat_id, session.id, now + TTL)


async def offer(
    update: Update, context: Context, picker: Picker, session: Session, text: str | None = None
) -> int:
    """Reply with the first page of ``picker``'s choices for ``session`` (or its ``empty``
    text); ``text`` replaces the picker's prompt. Returns ``END``, so a conversation's entry
    can return it as is (a step that offers buttons returns its own state instead)."""
    message = message_of(update)
    choices = await picker.choices(context, session)
    if not choices:
        await message.reply_text(picker.empty)
        return END
    sheet = _new_sheet(context, picker, session, message.chat_id)
    shown, keyboard = _page(picker, choices, 0, sheet)
    if text is not None:
        shown = text + shown.removeprefix(picker.prompt)
    sent = await message.reply_text(shown, reply_markup=keyboard)
    sheet.message_id = sent.message_id
    store_of(context.bot_data).add(sheet, context.bot_data.services.clock.now())
    return END


async def _disarm(update: Update) -> None:
    """Take the buttons off the pressed message (cosmetic: the store already forgot them)."""
    query = update.callback_query
    if query is not None and query.message is not None:
        with contextlib.suppress(TelegramError):
            await query.edit_message_reply_markup(None)


async def _turn_page(
    update: Update, context: Context, picker: Picker, sheet: Sheet, session: Session, page: int
) -> None:
    query = update.callback_query
    assert query is not None
    store = store_of(context.bot_data)
    store.drop(sheet)
    choices = await picker.choices(context, session)
    if not choices:
        await query.answer()
        with contextlib.suppress(TelegramError):
            await query.edit_message_text(picker.empty)
        return
    fresh = _new_sheet(context, picker, session, sheet.chat_id)
    fresh.message_id = sheet.message_id
    text, keyboard = _page(picker, choices, page, fresh)
    store.add(fresh, context.bot_data.services.clock.now())
    await query.answer()
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except TelegramError as exc:
        logger.warning("could not show another picker page: %s", type(exc).__name__)


async def _press(update: Update, context: Context, picker: Picker, then: Continuation) -> Any:
    """A button of ``picker``: check it against the presser, then page or continue."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    token = (query.data or "").removeprefix(ADMIN_PREFIX).removeprefix(PREFIX)
    store = store_of(context.bot_data)
    sheet = store.find(token)
    now = context.bot_data.services.clock.now()
    if sheet is None or sheet.command != picker.command or sheet.expires_at <= now:
        if sheet is not None and sheet.expires_at <= now:
            store.drop(sheet)
        await query.answer(texts.PICKER_EXPIRED, show_alert=True)
        return None
    message = query.message
    if (
        user.id != sheet.telegram_user_id
        or message is None
        or message.chat.id != sheet.chat_id
        or message.message_id != sheet.message_id
    ):
        # Someone else's buttons (a group, a replay): refused, and left working for the owner.
        await query.answer(texts.PICKER_NOT_YOURS, show_alert=True)
        return None
    value = sheet.items.get(token)
    if value is not None:
        store.drop(sheet)  # before any await: a second press finds nothing (decides once)
    session = await current_session(update, context)
    if session is None or session.id != sheet.session_id:
        store.drop(sheet)
        await query.answer(texts.PICKER_SESSION_GONE, show_alert=True)
        await _disarm(update)
        return None
    if value is None:
        await _turn_page(update, context, picker, sheet, session, sheet.pages[token])
        return None
    await _disarm(update)
    if value not in {choice.value for choice in await picker.choices(context, session)}:
        await query.answer(texts.PICKER_GONE, show_alert=True)
        await message_of(update).reply_text(texts.PICKER_GONE)
        await offer(update, context, picker, session)  # the page as it is now
        return None  # whatever step the presser is at stays as it was
    await query.answer()
    context.args = [value]
    return await then(update, context)


class _PickerButtons(CallbackQueryHandler[Any, Any]):
    """Presses of one picker's buttons (by the store's word: the data names no command);
    admin pickers also ignore presses by non-admins, behind the gate."""

    def __init__(
        self, store: PickerStore, picker: Picker, then: Continuation, admins: frozenset[int]
    ) -> None:
        async def callback(update: Update, context: Context) -> Any:
            return await _press(update, context, picker, then)

        super().__init__(callback)
        self._store, self._picker, self._admins = store, picker, admins

    def check_update(self, update: object) -> bool | object | None:
        if not isinstance(update, Update) or update.callback_query is None:
            return None
        user = update.effective_user
        if self._picker.admin and (user is None or user.id not in self._admins):
            return None
        prefix = ADMIN_PREFIX if self._picker.admin else PREFIX
        data = update.callback_query.data or ""
        if not data.startswith(prefix):
            return None
        sheet = self._store.find(data.removeprefix(prefix))
        return True if sheet is not None and sheet.command == self._picker.command else None


def picked(
    application: VerzekApplication,
    picker: Picker,
    then: Continuation,
    admins: frozenset[int] = frozenset(),
) -> CallbackQueryHandler[Any, Any]:
    """The handler of ``picker``'s buttons; an item press runs ``then`` with
    ``context.args = [value]``. Admin pickers pass the admins' ids (``AdminOnly.ids``)."""
    if picker.admin and not admins:
        logger.warning("admin picker %s has no admins: its buttons do nothing", picker.command)
    return _PickerButtons(store_of(application.bot_data), picker, then, admins)


async def _expired(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(texts.PICKER_EXPIRED, show_alert=True)


def register_fallback(application: VerzekApplication) -> None:
    """Answer picker buttons no picker claims (forged, used, lost in a restart). Register it
    after every :func:`picked` handler."""
    pattern = f"^({PREFIX}|{ADMIN_PREFIX})"
    application.add_handler(CallbackQueryHandler(_expired, pattern=pattern))
