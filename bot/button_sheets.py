"""Where the server keeps what opaque button tokens stand for (SPEC §11: button data is only a
short random reference, checked against the presser when pressed).

A *sheet* is one message of buttons: its tokens, who it was shown to, and when it expires.
The store maps tokens to sheets, keeps at most ``sheets_per_user`` per Telegram user (the
oldest go first) and forgets expired sheets of every user at most ``sweep_every`` late, so
memory stays bounded however many people press buttons. Used by :mod:`bot.pickers` (bare
commands' item lists) and :mod:`bot.page_buttons` (/activity and /audit pages).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar


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


class SheetStore(Generic[S]):
    """Tokens → sheets, per process."""

    def __init__(
        self,
        sheets_per_user: int,
        *,
        sweep_every: timedelta = timedelta(minutes=1),
        one_per_message: bool = False,
    ) -> None:
        self._sheets_per_user = sheets_per_user
        self._sweep_every = sweep_every
        self._one_per_message = one_per_message  # a new sheet on a message replaces the old
        self._by_token: dict[str, S] = {}
        self._by_user: dict[int, list[S]] = {}
        self._swept: datetime | None = None

    def __len__(self) -> int:
        return len(self._by_token)

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

    def find(self, token: str) -> S | None:
        """The sheet a token belongs to, if it is still remembered."""
        return self._by_token.get(token)

    def drop(self, sheet: S) -> None:
        """Forget every button of ``sheet``."""
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
                self.drop(sheet)
