"""Conversation state in SQLite, sealed, so a restart does not lose a user's place in a flow.

A PTB :class:`BasePersistence` for ``user_data`` and the persistent conversations (bot_data
holds the services, chat_data and callback_data are unused: neither is stored). Rows hold JSON
(:mod:`bot.state_codec`, never pickle) sealed with the master-key-derived at-rest key under
the purpose ``conversation-state`` and bound to the row, so a row that was edited, or copied
from another user, does not open: it is dropped and logged (without its content), and the
user's flow ends with a polite word (:func:`bot.flows.register_after_secret_guard`).
``verzek rotate-key`` re-seals every row under the newest key, keeping its binding
(``conversation_state.sealed`` is in storage/secrets_repository.py's ``ENCRYPTED_COLUMNS``).

A conversation older than the flow timeout when it is loaded is not restored, and one that is
restored answers its first update after its deadline as a timeout (PTB keeps no timeout jobs
across restarts). Writes are gathered into one transaction, and a user's data is written only
when it changed.

Several instances (SPEC §13): with :attr:`core.ports.UserLocks.shared`, each update of a user
is handled under that user's lock across the fleet (bot/user_turns.py), which first calls
:meth:`SealedPersistence.load_user` (this process's memory of the user becomes what the
database holds, when another instance wrote since) and, before releasing the lock, writes
what the update changed. A row this process wrote or read last is recognised by its sealed
text and costs no decryption.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from telegram.ext import Application, BasePersistence, ConversationHandler, PersistenceInput
from telegram.ext._utils.trackingdict import TrackingDict

from bot.context import BotData
from bot.flows import CONVERSATION_TIMEOUT
from bot.secret_steps import SECRET_AFTERMATH
from bot.state_codec import Malformed, NotStorable, decode, encode
from core.errors import DecryptionError
from core.ports import StoredConversationState
from core.services import Services

logger = logging.getLogger(__name__)

PURPOSE = "conversation-state"
USER_DATA, CONVERSATION = "user_data", "conversation"
UPDATE_INTERVAL = 2.0  # seconds between PTB's writes of what changed
_UNSAVED = "unsaved"  # the flows of a user_data row whose data stayed in memory

UserData = dict[Any, Any]
ConversationKey = tuple[int | str, ...]
ConversationDict = dict[ConversationKey, object]
RowKey = tuple[str, str, str]  # (kind, name, key) of a conversation_state row
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class SealedPersistence(BasePersistence[UserData, UserData, BotData]):
    """user_data and conversations, sealed in ``conversation_state``."""

    def __init__(
        self,
        services: Callable[[], Awaitable[Services]],
        *,
        update_interval: float = UPDATE_INTERVAL,
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=False, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self._services = services
        self._written: dict[int, str] = {}  # user id -> digest of the stored JSON
        self._unsaved: dict[int, set[str]] = {}  # loaded rows: flows whose data was not stored
        self._dropped_users: set[int] = set()  # user_data rows that did not open
        self._restored: dict[tuple[str, ConversationKey], datetime] = {}
        self._lost: dict[int, dict[str, datetime]] = {}  # user id -> {flow: until}
        self._puts: dict[tuple[str, str, str], StoredConversationState | None] = {}
        self._writer: asyncio.Task[None] | None = None
        self._known: dict[RowKey, str] = {}  # row -> sealed text last written or read here
        self._known_by_user: dict[int, set[RowKey]] = {}

    # --- what flows ask -----------------------------------------------------------------

    def restored_at(self, name: str | None, key: ConversationKey) -> datetime | None:
        """When a conversation loaded at start-up was last written; asked once per key (its
        first update after the restart), None for every other conversation."""
        return self._restored.pop((str(name), key), None)

    def lost_flows(self, user_id: int, now: datetime) -> list[str]:
        """The flows this user lost at the restart, for a few minutes after (the guard asks
        each flow whether it asked for a secret)."""
        lost = self._lost.get(user_id, {})
        for flow in [flow for flow, until in lost.items() if now >= until]:
            del lost[flow]
        if not lost:
            self._lost.pop(user_id, None)
        return list(lost)

    def _lose(self, user_id: int, flow: str, now: datetime) -> None:
        self._lost.setdefault(user_id, {})[flow] = now + SECRET_AFTERMATH

    # --- sealing ------------------------------------------------------------------------

    @staticmethod
    def _owner(kind: str, name: str, key: str) -> str:
        return json.dumps([kind, name, key], separators=(",", ":"))

    def _open(self, services: Services, row: StoredConversationState) -> Any:
        """The row's value and time, or None after logging why it was dropped."""
        opened = self._open_raw(services, row)
        return None if opened is None else (opened[0], opened[1])

    def _open_raw(self, services: Services, row: StoredConversationState) -> Any:
        """The row's value, time and stored JSON value, or None (logged)."""
        try:
            text = services.crypto.decrypt(
                row.sealed, owner=self._owner(row.kind, row.name, row.key), purpose=PURPOSE
            )
            payload = json.loads(text)
            value = decode(payload["v"])
            at = datetime.fromisoformat(str(payload["at"]))
        except (DecryptionError, Malformed, ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "dropped a %s row of conversation state that did not open (%s)",
                row.kind,
                type(exc).__name__,
            )
            return None
        return value, at, payload["v"]

    def _seal(self, services: Services, kind: str, name: str, key: str, value: Any) -> str:
        payload = {"at": services.clock.now().isoformat(), "v": value}
        return services.crypto.encrypt(
            json.dumps(payload, separators=(",", ":")),
            owner=self._owner(kind, name, key),
            purpose=PURPOSE,
        )

    # --- loading (Application.initialize) ------------------------------------------------

    async def _load(self, kind: str) -> list[StoredConversationState]:
        services = await self._services()
        async with services.uow(read_only=True) as uow:
            return await uow.conversation_state.load(kind)

    async def get_user_data(self) -> dict[int, UserData]:
        """Every user's data that opens; rows that do not are dropped."""
        services = await self._services()
        out: dict[int, UserData] = {}
        for row in await self._load(USER_DATA):
            opened = self._open(services, row)
            try:
                user_id = int(json.loads(row.key))
            except (ValueError, TypeError):
                opened = None
                user_id = 0
            if opened is None or not isinstance(opened[0], dict):
                if user_id:
                    self._dropped_users.add(user_id)
                self._queue(USER_DATA, row.name, row.key, None, user_id)
                continue
            data = opened[0]
            self._unsaved[user_id] = {str(n) for n in data.pop(_UNSAVED, [])}
            out[user_id] = data
            self._know(user_id, (row.kind, row.name, row.key), row.sealed)
        return out

    async def get_conversations(self, name: str) -> ConversationDict:
        """The conversations of one flow that open, are fresh, and whose data was stored."""
        services = await self._services()
        now = services.clock.now()
        out: dict[ConversationKey, object] = {}
        for row in await self._load(CONVERSATION):
            if row.name != name:
                continue
            opened = self._open(services, row)
            key = _key_of(row.key)
            user = key[-1] if key and isinstance(key[-1], int) else None
            usable = (
                opened is not None
                and user is not None
                and user not in self._dropped_users
                and name not in self._unsaved.get(user, set())
                and now - opened[1] <= timedelta(seconds=CONVERSATION_TIMEOUT)
            )
            if not usable or opened is None or key is None:
                if user is not None:
                    self._lose(user, name, now)
                self._queue(CONVERSATION, row.name, row.key, None, user or 0)
                continue
            out[key] = opened[0]
            self._restored[(name, key)] = opened[1]
            self._know(user or 0, (row.kind, row.name, row.key), row.sealed)
        return out

    async def get_chat_data(self) -> dict[int, UserData]:
        """Not stored."""
        return {}

    async def get_bot_data(self) -> BotData:
        """Not stored: bot_data holds the services."""
        return BotData()

    async def get_callback_data(self) -> None:
        """Not stored."""
        return None

    # --- writing ------------------------------------------------------------------------

    async def update_user_data(self, user_id: int, data: UserData) -> None:
        """Store a user's data if it changed; a flow holding what has no JSON form (or must
        stay in memory) is left out, and its conversation is not restored."""
        services = await self._services()
        stored: dict[Any, Any] = {}
        unsaved: list[str] = []
        for name, value in data.items():
            try:
                stored[name] = encode(value)
            except NotStorable as exc:
                unsaved.append(str(name))
                if not str(exc).endswith("stays in memory"):
                    logger.warning("flow data %s kept in memory only: %s", name, exc)
        key = json.dumps(user_id)
        if not stored and not unsaved:
            if self._written.pop(user_id, None) is not None or user_id in self._unsaved:
                self._unsaved.pop(user_id, None)
                self._queue(USER_DATA, "", key, None, user_id)
            return
        stored[_UNSAVED] = sorted(unsaved)
        text = json.dumps(stored, separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if self._written.get(user_id) == digest:
            return
        self._written[user_id] = digest
        sealed = self._seal(services, USER_DATA, "", key, stored)
        self._queue(USER_DATA, "", key, sealed, user_id)

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        """Store (or forget, at the end) one conversation's state."""
        row_key = json.dumps(list(key))
        user = key[-1] if key and isinstance(key[-1], int) else 0
        if new_state is None:
            self._queue(CONVERSATION, name, row_key, None, user)
            return
        services = await self._services()
        try:
            value = encode(new_state)
        except NotStorable as exc:
            logger.warning("conversation %s state kept in memory only: %s", name, exc)
            return
        sealed = self._seal(services, CONVERSATION, name, row_key, value)
        self._queue(CONVERSATION, name, row_key, sealed, user)

    async def drop_user_data(self, user_id: int) -> None:
        """Forget a user's data."""
        self._written.pop(user_id, None)
        self._queue(USER_DATA, "", json.dumps(user_id), None, user_id)

    async def update_chat_data(self, chat_id: int, data: UserData) -> None:
        """Not stored."""

    async def update_bot_data(self, data: BotData) -> None:
        """Not stored."""

    async def update_callback_data(self, data: Any) -> None:
        """Not stored."""

    async def drop_chat_data(self, chat_id: int) -> None:
        """Not stored."""

    async def refresh_user_data(self, user_id: int, user_data: UserData) -> None:
        """Nothing to refresh here: under several instances :meth:`load_user` reads a user's
        state once per update, before any handler (PTB calls this once per handler)."""

    async def refresh_chat_data(self, chat_id: int, chat_data: UserData) -> None:
        """Not stored."""

    async def refresh_bot_data(self, bot_data: BotData) -> None:
        """Not stored."""

    def _queue(self, kind: str, name: str, key: str, sealed: str | None, user_id: int) -> None:
        """Gather writes; one task stores them all in one transaction."""
        row = StoredConversationState(kind, name, key, sealed or "", user_id)
        self._puts[(kind, name, key)] = None if sealed is None else row
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        await asyncio.sleep(0)  # let the other writes of this round join
        while self._puts:
            puts, self._puts = self._puts, {}
            try:
                services = await self._services()
                at = services.clock.now().isoformat()
                async with services.uow() as uow:
                    for (kind, name, key), row in puts.items():
                        if row is None:
                            await uow.conversation_state.delete(kind, name, key)
                        else:
                            await uow.conversation_state.put(row, at=at)
                    await uow.commit()
                for row_key, row in puts.items():
                    self._know(_user_of(row_key), row_key, None if row is None else row.sealed)
            except Exception:
                logger.exception("could not store conversation state")
                self._written.clear()  # write everything again next time

    async def flush(self) -> None:
        """Wait for the writes in progress (PTB calls this at shutdown)."""
        while self._writer is not None and not self._writer.done():
            await self._writer

    # --- several instances (bot/user_turns.py) --------------------------------------------

    def _know(self, user_id: int, row: RowKey, sealed: str | None) -> None:
        """Remember the sealed text of a row as this process last wrote or read it."""
        if sealed is None:
            self._known.pop(row, None)
            rows = self._known_by_user.get(user_id)
            if rows is not None:
                rows.discard(row)
                if not rows:
                    del self._known_by_user[user_id]
            return
        self._known[row] = sealed
        self._known_by_user.setdefault(user_id, set()).add(row)

    async def load_user(self, user_id: int, application: AnyApplication) -> None:
        """Make this process's memory of one user's data and conversations what the database
        holds: another instance may have moved the user's flow on, ended it, or started one.
        Called with the user's lock held, before the update's handlers run."""
        await self.flush()  # this process's own writes first
        services = await self._services()
        async with services.uow(read_only=True) as uow:
            rows = await uow.conversation_state.load_user(user_id)
        found = {(r.kind, r.name, r.key): r for r in rows}
        changed = [k for k, r in found.items() if self._known.get(k) != r.sealed]
        changed += [k for k in self._known_by_user.get(user_id, ()) if k not in found]
        if not changed:
            return
        now = services.clock.now()
        for row_key in sorted(changed, key=lambda k: k[0] != USER_DATA):  # user_data first
            row = found.get(row_key)
            if row_key[0] == USER_DATA:
                self._adopt_user_data(services, user_id, row, application)
            else:
                self._adopt_conversation(services, user_id, row_key, row, application, now)

    def _adopt_user_data(
        self,
        services: Services,
        user_id: int,
        row: StoredConversationState | None,
        application: AnyApplication,
    ) -> None:
        row_key = (USER_DATA, "", json.dumps(user_id))
        data: UserData = application.user_data[user_id]  # made empty when absent
        data.clear()  # what this process held is older than what another one wrote
        self._written.pop(user_id, None)
        self._unsaved.pop(user_id, None)
        self._know(user_id, row_key, None)
        if row is None:
            return
        opened = self._open_raw(services, row)
        if opened is None or not isinstance(opened[0], dict):
            self._dropped_users.add(user_id)
            self._queue(USER_DATA, "", row_key[2], None, user_id)
            return
        value, _, stored = opened
        self._unsaved[user_id] = {str(n) for n in value.pop(_UNSAVED, [])}
        data.update(value)
        text = json.dumps(stored, separators=(",", ":"), sort_keys=True)
        self._written[user_id] = hashlib.sha256(text.encode()).hexdigest()
        self._dropped_users.discard(user_id)
        self._know(user_id, row_key, row.sealed)

    def _adopt_conversation(
        self,
        services: Services,
        user_id: int,
        row_key: RowKey,
        row: StoredConversationState | None,
        application: AnyApplication,
        now: datetime,
    ) -> None:
        _, name, text = row_key
        self._know(user_id, row_key, None)
        key = _key_of(text)
        handler = _persistent_handlers(application).get(name)
        if key is None or handler is None:
            return
        states = handler._conversations  # PTB's TrackingDict: untracked writes below
        if not isinstance(states, TrackingDict):
            return  # not initialized yet: nothing of this user is in memory
        timeout = handler.timeout_jobs.pop(key, None)
        if timeout is not None:  # this process's timeout is over: the flow moved elsewhere
            timeout.schedule_removal()
        opened = None if row is None else self._open(services, row)
        usable = (
            opened is not None
            and user_id not in self._dropped_users
            and name not in self._unsaved.get(user_id, set())
            and now - opened[1] <= timedelta(seconds=CONVERSATION_TIMEOUT)
        )
        if row is None or opened is None or not usable:
            states.data.pop(key, None)
            if row is not None:  # a row that does not open, is stale or lost its data
                self._lose(user_id, name, now)
                self._queue(CONVERSATION, name, text, None, user_id)
            return
        states.update_no_track({key: opened[0]})
        self._restored[(name, key)] = opened[1]
        self._know(user_id, row_key, row.sealed)


def _persistent_handlers(application: AnyApplication) -> dict[str, ConversationHandler[Any]]:
    """The Application's persistent conversations by name (its handlers do not change once
    it runs)."""
    return {
        str(handler.name): handler
        for group in application.handlers.values()
        for handler in group
        if isinstance(handler, ConversationHandler) and handler.persistent
    }


def _user_of(row: RowKey) -> int:
    """Whose row it is: the user id of user_data, a conversation key's last element."""
    kind, _, key = row
    if kind == USER_DATA:
        try:
            return int(key)
        except ValueError:
            return 0
    parsed = _key_of(key)
    return parsed[-1] if parsed and isinstance(parsed[-1], int) else 0


def _key_of(text: str) -> ConversationKey | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int | str) for v in value):
        return None
    return tuple(value)
