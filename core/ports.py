"""What core needs from storage, as Protocols: the unit of work and the kernel's own ports.

Services depend on these interfaces only; ``storage/`` implements them for SQLite. Nothing here
mentions SQL, cursors or SQLite, so a PostgreSQL implementation can be added without touching
``core/``.

Transactions belong to services: ``async with uow_factory() as uow: ...; await uow.commit()``.
Leaving the block without ``commit()`` rolls everything back. Repositories never commit.

Each feature keeps its records and repository Protocols in its own ``ports.py`` next to its
service (``core/accounts/ports.py``, ``core/payments/ports.py``, ...); the unit of work here
names them all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from core.accounts.ports import (
    AccountCareRepository,
    AccountsRepository,
    PreferencesRepository,
    SecurityRepository,
    SessionsRepository,
)
from core.apikeys.ports import ApiKeysRepository
from core.audit.ports import (
    AlertsRepository,
    AnchorsRepository,
    AuditRepository,
    AuditSearchRepository,
    NoticesRepository,
    RestoreNoticesRepository,
    StatsRepository,
)
from core.backups.offsite import OffsiteCopiesRepository
from core.leases import LeasesRepository
from core.payments.ports import LicensesRepository, PaymentsRepository, WalletRepository
from core.payments.screen_ports import RemindersRepository, StatusMessagesRepository
from core.payments.stars_rules import StarsRepository
from core.payments.watch_ports import WatchRepository
from core.safety.ports import SafetyRepository
from core.signing import SignedFields
from core.twofactor.ports import TwoFactorRepository
from core.withdrawals.ports import WithdrawalsRepository


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding tokens made by the encryption service."""

    table: str
    column: str
    purpose: str


# Which row a stored token is in: the values of its table's key columns, in order (one id,
# or a composite key such as a flow's (kind, name, key)).
RowKey = tuple[int | str, ...]


@dataclass(frozen=True)
class EncryptedValue:
    """One stored token with the row it belongs to (``owner`` is None where the owner the
    token is bound to is not a column of the row)."""

    row_id: RowKey
    owner: int | str | None
    token: str


class SecretsRepository(Protocol):
    """Access to every encrypted column, for key rotation."""

    def columns(self) -> list[EncryptedColumn]:
        """Every column that holds encrypted values."""
        ...

    def iter_values(self, column: EncryptedColumn) -> AsyncIterator[EncryptedValue]:
        """Yield each non-empty value of ``column``."""
        ...

    async def replace(self, column: EncryptedColumn, row_id: RowKey, token: str) -> None:
        """Overwrite one value (same row, new token)."""
        ...


@dataclass(frozen=True)
class SignedTable:
    """A table whose rows carry an HMAC signature over ``fields`` (see core/signing.py)."""

    table: str
    fields: SignedFields


@dataclass(frozen=True)
class SignedRow:
    """One row that must carry a signature: its signed fields as stored, and the signature."""

    row_id: int
    values: Mapping[str, Any]
    signature: str | None


class SignaturesRepository(Protocol):
    """Access to every signed table, for re-signing under a new key (``verzek rotate-key``)."""

    def tables(self) -> list[SignedTable]:
        """Every table whose rows are signed."""
        ...

    def iter_rows(self, table: SignedTable) -> AsyncIterator[SignedRow]:
        """Yield each row that carries, or must carry, a signature, in id order."""
        ...

    async def replace(self, table: SignedTable, row_id: int, signature: str) -> None:
        """Overwrite one row's signature."""
        ...


class KeyCheckRepository(Protocol):
    """The stored proof of which master key the database belongs to (core/keycheck.py)."""

    async def get(self) -> str | None:
        """The stored check, or None when none was written yet."""
        ...

    async def put(self, mac: str, written_at: datetime) -> None:
        """Store or replace the check."""
        ...


class UnitOfWork(Protocol):
    """One database transaction and the repositories that work inside it."""

    audit: AuditRepository
    anchors: AnchorsRepository
    secrets: SecretsRepository
    signatures: SignaturesRepository
    accounts: AccountsRepository
    sessions: SessionsRepository
    security: SecurityRepository
    audit_search: AuditSearchRepository
    alerts: AlertsRepository
    notices: NoticesRepository
    restore_notices: RestoreNoticesRepository
    twofactor: TwoFactorRepository
    apikeys: ApiKeysRepository
    safety: SafetyRepository
    payments: PaymentsRepository
    licenses: LicensesRepository
    wallet: WalletRepository
    watch: WatchRepository
    stars: StarsRepository
    withdrawals: WithdrawalsRepository
    stats: StatsRepository
    key_check: KeyCheckRepository
    conversation_state: ConversationStateRepository
    offsite_copies: OffsiteCopiesRepository
    status_messages: StatusMessagesRepository
    reminders: RemindersRepository
    preferences: PreferencesRepository
    account_care: AccountCareRepository
    leases: LeasesRepository  # the job leader's lease (core/leadership.py)
    button_sheets: ButtonSheetsRepository  # what button tokens stand for (bot/button_sheets)
    handled_updates: HandledUpdatesRepository  # webhook updates handled (bot/acks.py)

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make the work durable."""
        ...

    async def rollback(self) -> None:
        """Undo everything done in this unit."""
        ...


UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True)
class StoredConversationState:
    """One sealed row of conversation state (see bot/persistence.py)."""

    kind: str  # "user_data" or "conversation"
    name: str  # the conversation's name; "" for user_data
    key: str  # JSON of the user id or the conversation key
    sealed: str
    user_id: int = 0  # whose row it is (the user id, or the conversation key's last element)


class ConversationStateRepository(Protocol):
    """Sealed conversation state, so flows survive a restart."""

    async def load(self, kind: str) -> list[StoredConversationState]:
        """Every row of one kind."""
        ...

    async def load_user(self, user_id: int) -> list[StoredConversationState]:
        """Every row of one user, of both kinds (what an instance reads before handling that
        user's update)."""
        ...

    async def put(self, row: StoredConversationState, *, at: str) -> None:
        """Insert or replace a row."""
        ...

    async def delete(self, kind: str, name: str, key: str) -> None:
        """Forget a row (no error when there is none)."""
        ...


@dataclass(frozen=True)
class StoredButtonSheet:
    """One sealed sheet of buttons (bot/button_sheets.py), found by any of its tokens' hashes."""

    store: str
    sheet_id: str
    telegram_user_id: int
    expires_at: str  # core.clock.to_iso text
    sealed: str
    token_hashes: tuple[str, ...] = ()


class ButtonSheetsRepository(Protocol):
    """What opaque button tokens stand for, shared by every instance."""

    async def find(self, store: str, token_hash: str) -> StoredButtonSheet | None:
        """The sheet holding this token, if any (expired ones included: the caller judges)."""
        ...

    async def add(self, sheet: StoredButtonSheet, *, keep: int) -> None:
        """Store a sheet (one row per token) as its user's newest, then forget that user's
        oldest sheets of the same store beyond ``keep``."""
        ...

    async def drop(self, sheet_id: str) -> None:
        """Forget every token of a sheet (no error when there is none)."""
        ...

    async def sweep(self, now: str) -> int:
        """Forget every sheet expired at ``now``; how many rows went."""
        ...


class HandledUpdatesRepository(Protocol):
    """The Telegram update ids already handled, so a redelivered update runs once (bot/acks.py)."""

    async def handled(self, update_id: int) -> bool:
        """Whether this update was recorded as handled."""
        ...

    async def record(self, update_id: int, at: str) -> None:
        """Record the update as handled at ``at`` (recording it twice changes nothing)."""
        ...

    async def sweep(self, before: str) -> int:
        """Forget the updates handled before ``before``; how many went."""
        ...


class UserLocks(Protocol):
    """One user's updates one at a time across every instance (SPEC §13): held while one
    update of that user is handled. ``shared`` says whether other instances may serve the
    same users, so the user's conversation state must be read from the database under the
    lock and written back before it is released."""

    @property
    def shared(self) -> bool: ...

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]:
        """Wait for the user's lock; release it on leaving the block."""
        ...
