"""Where the server keeps what opaque button tokens stand for (SPEC §11: button data is only a
short random reference, checked against the presser when pressed).

A *sheet* is one message of buttons: its tokens, who it was shown to, and when it expires.
The store maps tokens to sheets, keeps at most ``sheets_per_user`` per Telegram user (the
oldest go first) and forgets expired sheets of every user at most ``sweep_every`` late, so
memory stays bounded however many people press buttons. Used by :mod:`bot.pickers` (bare
commands' item lists) and :mod:`bot.page_buttons` (/activity and /audit pages).

Several instances (SPEC §13): a store :func:`register`-ed on an Application whose user locks
are ``shared`` also keeps its sheets in the database (``button_sheets``, migration 0023), so
a button shown by one instance is resolved by any other. Each row holds the SHA-256 of one
token (never the token) and the sheet's JSON sealed under the purpose ``button-sheet``, bound
to the store and the sheet (``verzek rotate-key`` re-seals them: ``button_sheets.sealed`` is in
``ENCRYPTED_COLUMNS``). Memory is then a cache that the database overrules: before an
update that presses a button is handled, the sheet of that token is read again
(:func:`refresh`, inside the presser's turn, bot/user_turns.py), and what the update added or
dropped is written before the turn ends (:func:`flush`). So a sheet used up on one instance
(a double press on two) decides once everywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from bot.context import BotData
from core.clock import to_iso
from core.errors import DecryptionError
from core.ports import StoredButtonSheet

logger = logging.getLogger(__name__)

PURPOSE = "button-sheet"


class ButtonSheet(Protocol):
    """What the store needs of a sheet."""

    @property
    def telegram_user_id(self) -> int: ...

    @property
    def expires_at(self) -> datetime: ...

    @property
    def message_id(self) -> int | None: ...

    @property
    def tokens(self) -> Iterable[str]: ...


S = TypeVar("S", bound=ButtonSheet)


def token_hash(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _sheet_id(sheet: ButtonSheet) -> str | None:
    tokens = sorted(sheet.tokens)
    return token_hash("sheet:" + tokens[0]) if tokens else None


class SheetCodec(Generic[S]):
    """A dataclass sheet to JSON and back (``expires_at`` as ISO text)."""

    def __init__(self, kind: Callable[..., S]) -> None:
        self._kind = kind

    def encode(self, sheet: S) -> str:
        """The sheet's JSON."""
        assert dataclasses.is_dataclass(sheet) and not isinstance(sheet, type)
        fields = dataclasses.asdict(sheet)
        fields["expires_at"] = sheet.expires_at.isoformat()
        return json.dumps(fields, separators=(",", ":"), sort_keys=True)

    def decode(self, text: str) -> S:
        """The sheet back; ValueError/TypeError/KeyError when it is not one."""
        fields: dict[str, Any] = json.loads(text)
        fields["expires_at"] = datetime.fromisoformat(str(fields["expires_at"]))
        return self._kind(**fields)


Write = tuple[str, Any]  # ("add", sheet) | ("drop", sheet id) | ("sweep", now)


class SheetStore(Generic[S]):
    """Tokens → sheets, per process (and in the database when registered as shared)."""

    def __init__(
        self,
        sheets_per_user: int,
        *,
        sweep_every: timedelta = timedelta(minutes=1),
        one_per_message: bool = False,
        name: str = "",
        codec: SheetCodec[S] | None = None,
    ) -> None:
        self._sheets_per_user = sheets_per_user
        self._sweep_every = sweep_every
        self._one_per_message = one_per_message  # a new sheet on a message replaces the old
        self._by_token: dict[str, S] = {}
        self._by_user: dict[int, list[S]] = {}
        self._swept: datetime | None = None
        self.name = name  # the store's name in the database (its buttons' prefix)
        self.codec = codec
        self.backed: Callable[[], bool] = lambda: False  # whether writes go to the database
        self.writes: list[Write] = []  # what the current turn must write

    def __len__(self) -> int:
        return len(self._by_token)

    @property
    def size(self) -> int:
        """Sheets kept per user."""
        return self._sheets_per_user

    def add(self, sheet: S, now: datetime) -> None:
        """Remember ``sheet`` (and forget what expired or overflows)."""
        if self._swept is None or now - self._swept >= self._sweep_every:
            self.sweep(now)
        if self._one_per_message:
            held = self._by_user.get(sheet.telegram_user_id, [])
            for old in [s for s in held if s.expires_at <= now or s.message_id == sheet.message_id]:
                self.drop(old)
        held = self._by_user.setdefault(sheet.telegram_user_id, [])
        held.append(sheet)
        while len(held) > self._sheets_per_user:
            self.drop(held[0])
        for token in sheet.tokens:
            self._by_token[token] = sheet
        if self.backed():
            self.writes.append(("add", sheet))

    def find(self, token: str) -> S | None:
        """The sheet a token belongs to, if it is still remembered."""
        return self._by_token.get(token)

    def drop(self, sheet: S) -> None:
        """Forget every button of ``sheet``."""
        self._forget(sheet)
        sheet_id = _sheet_id(sheet)
        if sheet_id is not None and self.backed():
            self.writes.append(("drop", sheet_id))

    def _forget(self, sheet: S) -> None:
        for token in sheet.tokens:
            if self._by_token.get(token) is sheet:
                del self._by_token[token]
        held = self._by_user.get(sheet.telegram_user_id, [])
        if sheet in held:
            held.remove(sheet)
        if not held:
            self._by_user.pop(sheet.telegram_user_id, None)

    def sweep(self, now: datetime) -> None:
        """Forget every expired sheet, of every user."""
        self._swept = now
        for held in list(self._by_user.values()):
            for sheet in [s for s in held if s.expires_at <= now]:
                self._forget(sheet)
        if self.backed():
            self.writes.append(("sweep", now))

    def replace(self, token: str, sheet: S | None) -> None:
        """Make what ``token`` stands for here what the database says (``None``: nothing),
        writing nothing back."""
        held = self._by_token.get(token)
        if held is not None:
            self._forget(held)
        if sheet is None:
            return
        for old in [self._by_token.get(t) for t in sheet.tokens]:
            if old is not None:
                self._forget(old)
        self._by_user.setdefault(sheet.telegram_user_id, []).append(sheet)
        for each in sheet.tokens:
            self._by_token[each] = sheet


_REGISTERED: weakref.WeakKeyDictionary[BotData, list[tuple[tuple[str, ...], SheetStore[Any]]]]
_REGISTERED = weakref.WeakKeyDictionary()


def register(bot_data: BotData, store: SheetStore[Any], prefixes: tuple[str, ...]) -> None:
    """Let :func:`refresh` and :func:`flush` tend ``store``, whose buttons' data starts with
    one of ``prefixes``; it keeps its sheets in the database while the Application's user
    locks are shared."""
    owner = weakref.ref(bot_data)

    def backed() -> bool:
        data = owner()
        services = data.attached if data is not None else None
        return services is not None and services.user_locks.shared and store.codec is not None

    store.backed = backed
    _REGISTERED.setdefault(bot_data, []).append((prefixes, store))


async def refresh(bot_data: BotData, data: str) -> None:
    """Read the sheet of a pressed button's token from the database into its store (the
    presser's turn does this before the handlers look the token up)."""
    for prefixes, store in _REGISTERED.get(bot_data, []):
        prefix = next(
            (p for p in sorted(prefixes, key=len, reverse=True) if data.startswith(p)), None
        )
        if prefix is None or not store.backed() or store.codec is None:
            continue
        token = data.removeprefix(prefix)
        services = bot_data.services
        async with services.uow(read_only=True) as uow:
            row = await uow.button_sheets.find(store.name, token_hash(token))
        sheet = None
        if row is not None:
            try:
                text = services.crypto.decrypt(
                    row.sealed, owner=f"{store.name}:{row.sheet_id}", purpose=PURPOSE
                )
                sheet = store.codec.decode(text)
            except (DecryptionError, ValueError, TypeError, KeyError) as exc:
                logger.warning("a button sheet did not open (%s)", type(exc).__name__)
                sheet = None
            if sheet is not None and (
                token not in set(sheet.tokens) or _sheet_id(sheet) != row.sheet_id
            ):
                sheet = None  # a row moved to another token or sheet: not trusted
        store.replace(token, sheet)
        return


async def flush(bot_data: BotData) -> None:
    """Write what the registered stores added, dropped and swept, in one transaction."""
    stores = [store for _, store in _REGISTERED.get(bot_data, []) if store.writes]
    if not stores:
        return
    services = bot_data.services
    async with services.uow() as uow:
        for store in stores:
            writes, store.writes = store.writes, []
            for kind, what in writes:
                if kind == "add":
                    await uow.button_sheets.add(_stored(bot_data, store, what), keep=store.size)
                elif kind == "drop":
                    await uow.button_sheets.drop(what)
                else:
                    await uow.button_sheets.sweep(to_iso(what))
        await uow.commit()


def _stored(bot_data: BotData, store: SheetStore[Any], sheet: Any) -> StoredButtonSheet:
    assert store.codec is not None
    sheet_id = _sheet_id(sheet) or ""
    sealed = bot_data.services.crypto.encrypt(
        store.codec.encode(sheet), owner=f"{store.name}:{sheet_id}", purpose=PURPOSE
    )
    return StoredButtonSheet(
        store.name,
        sheet_id,
        sheet.telegram_user_id,
        to_iso(sheet.expires_at),
        sealed,
        tuple(token_hash(t) for t in sheet.tokens),
    )
