"""SQLite implementation of core's UnitOfWork: one transaction, rolled back unless committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self

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
from core.ports import (
    ButtonSheetsRepository,
    ConversationStateRepository,
    HandledUpdatesRepository,
    KeyCheckRepository,
    SecretsRepository,
    SignaturesRepository,
)
from core.safety.ports import SafetyRepository
from core.twofactor.ports import TwoFactorRepository
from core.withdrawals.ports import WithdrawalsRepository
from storage.account_care_repository import SqliteAccountCareRepository
from storage.accounts_repository import SqliteAccountsRepository
from storage.alerts_repository import SqliteAlertsRepository
from storage.anchors_repository import SqliteAnchorsRepository
from storage.apikeys_repository import SqliteApiKeysRepository
from storage.audit_repository import SqliteAuditRepository
from storage.audit_search_repository import SqliteAuditSearchRepository
from storage.button_sheets_repository import SqliteButtonSheetsRepository
from storage.conversation_state_repository import SqliteConversationStateRepository
from storage.handled_updates_repository import SqliteHandledUpdatesRepository
from storage.keycheck_repository import SqliteKeyCheckRepository
from storage.leases_repository import SqliteLeasesRepository
from storage.licenses_repository import SqliteLicensesRepository
from storage.notices_repository import SqliteNoticesRepository
from storage.offsite_repository import SqliteOffsiteCopiesRepository
from storage.payments_repository import SqlitePaymentsRepository
from storage.payscreen_repository import (
    SqliteRemindersRepository,
    SqliteStatusMessagesRepository,
)
from storage.preferences_repository import SqlitePreferencesRepository
from storage.restore_notices_repository import SqliteRestoreNoticesRepository
from storage.safety_repository import SqliteSafetyRepository
from storage.secrets_repository import EncryptedColumnSpec, SqliteSecretsRepository
from storage.security_repository import SqliteSecurityRepository
from storage.sessions_repository import SqliteSessionsRepository
from storage.signatures_repository import SIGNED_TABLES, SqliteSignaturesRepository
from storage.sql import SqlConnection
from storage.stars_repository import SqliteStarsRepository
from storage.stats_repository import SqliteStatsRepository
from storage.twofactor_repository import SqliteTwoFactorRepository
from storage.wallet_repository import SqliteWalletRepository
from storage.watch_repository import SqliteWatchRepository
from storage.withdrawals_repository import SqliteWithdrawalsRepository


class TransactionLock:
    """An asyncio lock that refuses re-entry from the task holding it.

    One connection serves the process, so a unit of work opened inside another in the same
    task would wait for itself forever; this turns that bug into an immediate error.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None

    async def acquire(self) -> None:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise RuntimeError("a unit of work was opened inside another one in the same task")
        await self._lock.acquire()
        self._holder = task

    def release(self) -> None:
        self._holder = None
        self._lock.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class HeldLock(TransactionLock):
    """For a unit of work opened while :meth:`Database.exclusive` already holds the lock."""

    async def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None


# How each repository of a unit is built from its connection (and the encrypted columns).
_Factory = Callable[[SqlConnection, list[EncryptedColumnSpec]], object]
_REPOSITORIES: dict[str, _Factory] = {
    "audit": lambda conn, _: SqliteAuditRepository(conn),
    "anchors": lambda conn, _: SqliteAnchorsRepository(conn),
    "secrets": SqliteSecretsRepository,
    "signatures": lambda conn, _: SqliteSignaturesRepository(conn, SIGNED_TABLES),
    "accounts": lambda conn, _: SqliteAccountsRepository(conn),
    "sessions": lambda conn, _: SqliteSessionsRepository(conn),
    "security": lambda conn, _: SqliteSecurityRepository(conn),
    "audit_search": lambda conn, _: SqliteAuditSearchRepository(conn),
    "alerts": lambda conn, _: SqliteAlertsRepository(conn),
    "notices": lambda conn, _: SqliteNoticesRepository(conn),
    "restore_notices": lambda conn, _: SqliteRestoreNoticesRepository(conn),
    "offsite_copies": lambda conn, _: SqliteOffsiteCopiesRepository(conn),
    "twofactor": lambda conn, _: SqliteTwoFactorRepository(conn),
    "apikeys": lambda conn, _: SqliteApiKeysRepository(conn),
    "safety": lambda conn, _: SqliteSafetyRepository(conn),
    "payments": lambda conn, _: SqlitePaymentsRepository(conn),
    "licenses": lambda conn, _: SqliteLicensesRepository(conn),
    "wallet": lambda conn, _: SqliteWalletRepository(conn),
    "watch": lambda conn, _: SqliteWatchRepository(conn),
    "stars": lambda conn, _: SqliteStarsRepository(conn),
    "withdrawals": lambda conn, _: SqliteWithdrawalsRepository(conn),
    "stats": lambda conn, _: SqliteStatsRepository(conn),
    "key_check": lambda conn, _: SqliteKeyCheckRepository(conn),
    "conversation_state": lambda conn, _: SqliteConversationStateRepository(conn),
    "status_messages": lambda conn, _: SqliteStatusMessagesRepository(conn),
    "reminders": lambda conn, _: SqliteRemindersRepository(conn),
    "preferences": lambda conn, _: SqlitePreferencesRepository(conn),
    "account_care": lambda conn, _: SqliteAccountCareRepository(conn),
    "leases": lambda conn, _: SqliteLeasesRepository(conn),
    "button_sheets": lambda conn, _: SqliteButtonSheetsRepository(conn),
    "handled_updates": lambda conn, _: SqliteHandledUpdatesRepository(conn),
}


class UnitOfWorkRepositories:
    """The repositories of a unit of work, bound to its connection (either engine)."""

    # Declared as core's port types: the Protocol's attributes are mutable, so a member typed
    # as the concrete Sqlite class would not match it (attributes are invariant).
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
    leases: LeasesRepository
    button_sheets: ButtonSheetsRepository
    handled_updates: HandledUpdatesRepository
    _repo_conn: SqlConnection
    _repo_columns: list[EncryptedColumnSpec]

    def _bind(self, conn: SqlConnection, columns: list[EncryptedColumnSpec]) -> None:
        # Lazily: a unit of work uses two or three of its 30 repositories, and building them
        # all was a measurable part of every update (bench/updates.py). Each is built on first
        # use (``__getattr__``) and kept for the rest of the unit; a new binding forgets them.
        for name in [n for n in self.__dict__ if n in _REPOSITORIES]:
            del self.__dict__[name]  # built for an earlier binding of this object
        self._repo_conn = conn
        self._repo_columns = columns

    if not TYPE_CHECKING:  # for mypy the repositories are the plain attributes declared above

        def __getattr__(self, name: str) -> object:
            factory = _REPOSITORIES.get(name)
            conn = self.__dict__.get("_repo_conn")
            if factory is None or conn is None:
                raise AttributeError(name)
            repository = factory(conn, self.__dict__["_repo_columns"])
            self.__dict__[name] = repository
            return repository


class SqliteUnitOfWork(UnitOfWorkRepositories):
    """``async with uow: ...; await uow.commit()`` — leaving without commit rolls back."""

    def __init__(
        self,
        connection: Callable[[], SqlConnection],
        lock: TransactionLock,
        *,
        read_only: bool,
        columns: list[EncryptedColumnSpec],
    ) -> None:
        self._connection = connection
        self._lock = lock
        self._read_only = read_only
        self._columns = columns
        self._conn: SqlConnection | None = None
        self._open = False

    async def __aenter__(self) -> Self:
        if self._read_only:
            # One turn of the loop per read unit, before its lock, where each statement
            # used to take one: other updates still interleave with this one (a flood piles
            # up against the per-user cap, racing submissions meet), and the statements then
            # run back to back, so other tasks seldom find the lock held by a read. Each turn
            # resumes the whole chain of coroutines under the update: ten per /me were a
            # measurable part of its CPU (bench/me_inprocess.py: 0.69 -> 0.65 ms).
            await asyncio.sleep(0)
        await self._lock.acquire()
        try:
            conn = self._connection()
            await conn.execute("BEGIN" if self._read_only else "BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        self._conn = conn
        self._open = True
        self._bind(conn, self._columns)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._open:
                await self.rollback()
        finally:
            self._lock.release()

    async def commit(self) -> None:
        """Commit the transaction; the unit is finished afterwards."""
        if not self._open or self._conn is None:
            raise RuntimeError("this unit of work is not open")
        await self._conn.execute("COMMIT")
        self._open = False

    async def rollback(self) -> None:
        """Undo the transaction; the unit is finished afterwards."""
        if self._open and self._conn is not None:
            self._open = False
            await self._conn.execute("ROLLBACK")
