"""One user's update at a time across every instance, with that user's state read first and
written before the next one starts (SPEC §13, issue 21).

The update processor (bot/update_processor.py) orders a user's updates inside one process.
With several instances behind one webhook URL, two of them can hold updates of the same user,
so each update is also handled as a *turn* (:func:`turn`):

1. the user's lock across the fleet is taken (:class:`core.ports.UserLocks`: on PostgreSQL
   an advisory lock, storage/postgres/user_locks.py);
2. the user's conversation states and user_data are read from the database
   (:meth:`bot.persistence.SealedPersistence.load_user`), and so is the sheet of a pressed
   button (:func:`bot.button_sheets.refresh`), so the handlers continue what another instance
   started;
3. the handlers run;
4. what they changed is written (conversations, user_data, button sheets), and only then is
   the lock released: the next update of that user, on any instance, reads it.

A conversation's timeout runs as a turn of its user too (bot/flows.py), so a flow that moved
on elsewhere is not ended here. With a lock that is not ``shared`` (one SQLite bot) a turn is
nothing at all: the process owns its users' state, as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, Protocol, runtime_checkable

from telegram import Update
from telegram.ext import Application

from bot import button_sheets
from bot.context import BotData

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


@runtime_checkable
class LoadsUsers(Protocol):
    """What a turn needs of the persistence (bot/persistence.py's SealedPersistence)."""

    async def load_user(self, user_id: int, application: AnyApplication) -> None: ...

    async def flush(self) -> None: ...


def turn(
    application: AnyApplication, user_id: int, update: object | None = None
) -> AbstractAsyncContextManager[None]:
    """The block in which ``update`` of ``user_id`` (or a job about them) is handled."""
    data = application.bot_data
    services = data.attached if isinstance(data, BotData) else None
    if services is None or not services.user_locks.shared:
        return nullcontext()
    return _shared_turn(application, user_id, update)


@asynccontextmanager
async def _shared_turn(
    application: AnyApplication, user_id: int, update: object | None
) -> AsyncIterator[None]:
    data: BotData = application.bot_data
    services = data.services
    persistence = application.persistence
    async with services.user_locks.hold(user_id):
        if isinstance(persistence, LoadsUsers):
            await persistence.load_user(user_id, application)
        if isinstance(update, Update) and update.callback_query is not None:
            await button_sheets.refresh(data, update.callback_query.data or "")
        try:
            yield
        finally:
            # Written before the lock goes, whatever the handlers did (an error included).
            await button_sheets.flush(data)
            if persistence is not None:
                await application.update_persistence()
                if isinstance(persistence, LoadsUsers):
                    await persistence.flush()
