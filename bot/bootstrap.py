"""Composition root: the one place that builds core services on top of storage.

:func:`bootstrap` builds everything the bot and ``verzek shell`` use; :func:`operations` is the
same root for the commands run with the bot stopped (``verzek audit …``, ``backup …``,
``migrate``, ``rotate-key``) and the benchmarks: it opens nothing (no Redis, no TronScan, no
key unless asked), and its audit log passes every event through the same detector and owner
notifier as the bot's. Nothing outside this module constructs a service or a
:class:`Database` (``tests/test_composition_root.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from limits.aio.storage import Storage

from core.accounts.checkup import SecurityCheckupService
from core.accounts.deletion import AccountDeletionService
from core.accounts.preferences import PreferenceService
from core.accounts.service import AccountService
from core.accounts.sessions import SessionService
from core.adapters.age_seal import AgeSeal
from core.adapters.captcha_image import CaptchaService
from core.adapters.passwords import PasswordService
from core.adapters.ratelimit_storage import MemoryWindows, open_storage
from core.adapters.trongrid import trongrid_source
from core.adapters.tronscan import TronscanClient
from core.apikeys.service import ApiKeyService
from core.audit.activity import ActivityService
from core.audit.alerts import AlertService
from core.audit.anchors import AnchorService, ChainKeyWatch
from core.audit.chain import ChainKeys
from core.audit.detection import Detector
from core.audit.log import AuditLog
from core.audit.notices import NoticeService, OwnerNotifier
from core.audit.stats import StatsService
from core.audit.support import SupportService
from core.audit.suspicion import SuspicionReporter
from core.authz import SYSTEM, AdminRights
from core.backups.offsite import OffsiteKind, OffsiteStore
from core.backups.offsite_service import OffsiteService
from core.backups.ports import DatabaseFiles
from core.backups.sealing import ArchiveSeal
from core.backups.service import BackupService
from core.clock import Clock, SystemClock
from core.config import Settings, tolerance_problem
from core.crypto import EncryptionService, backup_keys
from core.errors import ConfigError
from core.leadership import Leadership, instance_name
from core.payments.agreement import AgreeingSource
from core.payments.chain import ChainSource, TransactionSource
from core.payments.licenses import LicenseService, LicenseTierResolver
from core.payments.reminders import ReminderService
from core.payments.screen import PaymentScreen
from core.payments.service import PaymentService
from core.payments.stars import StarsService
from core.payments.wallet import WalletLedger
from core.payments.watch import PaymentWatch
from core.ratelimit import RateLimitService
from core.safety.service import SafetyService
from core.services import Services
from core.twofactor.service import TwoFactorService
from core.withdrawals.service import WithdrawalService
from storage.database import Database
from storage.postgres.database import PostgresDatabase
from storage.postgres.dump_files import PostgresDumpFiles
from storage.postgres.user_locks import PostgresUserLocks
from storage.snapshot import SqliteDatabaseFiles

# The SQLite file (the default) or PostgreSQL (``database.url``: several instances on one).
BotDatabase = Database | PostgresDatabase


def encryption(settings: Settings) -> EncryptionService:
    """The configured key; a :class:`ConfigError` when it is missing or malformed."""
    return EncryptionService(settings.encryption)


def archive_seal(settings: Settings) -> ArchiveSeal:
    """What seals and opens backups: the age identity and MAC keys derived from the master
    key (and ENCRYPTION_OLD_KEYS), sealing also to ``backups.age_recipients``."""
    keys = backup_keys(settings.encryption)
    return ArchiveSeal(AgeSeal(keys.age_secrets, settings.backups.age_recipients), keys.mac_keys)


def chain_keys(settings: Settings) -> Callable[[], ChainKeys]:
    """The audit chain's keys, derived from the configured master key(s) when first asked for
    (a :class:`ConfigError` then when no key is set): commands that only read need none."""
    built: list[ChainKeys] = []

    def keys() -> ChainKeys:
        if not built:
            crypto = encryption(settings)
            built.append(ChainKeys(crypto.audit_chain_keys(), crypto))
        return built[0]

    return keys


def open_database(settings: Settings) -> BotDatabase:
    """The configured database, not opened: PostgreSQL when ``database.url`` is set, else the
    SQLite file at ``database.path``."""
    if settings.database.url is not None:
        return PostgresDatabase(settings.database.url)
    return Database(settings.database.path)


def database_files(settings: Settings, database: BotDatabase) -> DatabaseFiles:
    """What backups snapshot, check and restore for this database: pg_dump archives for
    PostgreSQL (their candidates in the backup folder), the file itself for SQLite."""
    if isinstance(database, PostgresDatabase):
        return PostgresDumpFiles(database, settings.backups.dir)
    return SqliteDatabaseFiles(database)


def audit_log(settings: Settings, database: BotDatabase, clock: Clock) -> AuditLog:
    """The audit log every door appends to: each event passes the detector and the owner
    notifier inside its transaction, whether the bot or a command wrote it."""
    return AuditLog(
        database.unit_of_work,
        clock,
        [Detector(settings.alerts), OwnerNotifier(), ChainKeyWatch()],
        keys=chain_keys(settings),
    )


@dataclass
class Operations:
    """What a command run with the bot stopped uses. The database is not opened here: each
    command opens it as it must (migrated or not, over a damaged file, not at all)."""

    settings: Settings
    clock: Clock
    database: BotDatabase
    audit: AuditLog
    backups: BackupService
    anchors: AnchorService

    def crypto(self) -> EncryptionService:
        """The configured key, built when a command needs it (many need none)."""
        return encryption(self.settings)


def operations(settings: Settings, clock: Clock | None = None) -> Operations:
    """Wire the commands' services over the configured database without opening anything."""
    clock = clock or SystemClock()
    database = open_database(settings)
    audit = audit_log(settings, database, clock)
    anchors = AnchorService(database.unit_of_work, clock, chain_keys(settings))
    backups = BackupService(
        settings.backups,
        database_files(settings, database),
        audit,
        clock,
        rights=AdminRights(settings.telegram.admins),
        uow=database.unit_of_work,
        seal=lambda: archive_seal(settings),
        # A candidate's chain is checked as the live one is (the audit log's own verification,
        # with the chain's keys).
        verify_chain=lambda units: AuditLog(units, clock, keys=chain_keys(settings)).verify(),
        # Each backup anchors the audit chain's head (SPEC §8a).
        after_written=[lambda info, reason: anchors.after_backup()],
    )
    return Operations(settings, clock, database, audit, backups, anchors)


def offsite(
    settings: Settings, database: BotDatabase, clock: Clock, backups: BackupService
) -> OffsiteService:
    """Off-site copies to ``backups.offsite``; the S3 store is built here, the Telegram one by
    the nightly job (it needs the bot)."""
    target = settings.backups.offsite
    store: OffsiteStore | None = None
    if target is not None and target.kind is OffsiteKind.S3:
        try:
            from core.adapters.offsite_s3 import S3Store  # optional: boto3
        except ImportError:
            raise ConfigError(
                ["backups.offsite is an s3:// place but boto3 is missing: pip install '.[s3]'"]
            ) from None
        store = S3Store(target, settings.backups.s3_endpoint_url)
    return OffsiteService(
        target,
        settings.backups.dir,
        settings.backups.retention_days,
        database.unit_of_work,
        clock,
        rights=AdminRights(settings.telegram.admins),
        store=store,
        # Only sealed archives this key made leave the machine.
        vouch=lambda name: backups.sealed_problem(SYSTEM, name),
    )


def standalone_rate_limiter(
    settings: Settings, storage: MemoryWindows, audit: AuditLog
) -> RateLimitService:
    """A limiter over ``storage`` with the free tier for everyone (benchmarks measure the
    limiter's own cost with it)."""
    return RateLimitService(settings.rate_limits, storage, audit)


async def bootstrap(
    settings: Settings,
    clock: Clock | None = None,
    *,
    chain: ChainSource | None = None,
    second_chain: TransactionSource | None = None,
    passwords: PasswordService | None = None,
    rate_limit_storage: Storage | None = None,
) -> Services:
    """Check the key, open and migrate the database, wire the services.

    Every part may be replaced: ``clock``; ``chain`` replaces the TronScan client (tests pass
    one over a fake transport); ``second_chain`` (default: TronGrid when
    ``payments.second_source = "trongrid"``, else none) must then agree with it on every
    transaction before a payment is approved; ``passwords`` the password hasher (tests pass a
    cheap one); ``rate_limit_storage`` the limiter's storage (no Redis is asked for then).
    """
    clock = clock or SystemClock()
    crypto = encryption(settings)  # refuses a missing/malformed key first
    if (loose := tolerance_problem(settings.payments.amount_tolerance_micro)) is not None:
        raise ConfigError([loose])  # before anything is opened; PaymentService refuses it too
    # Redis must answer
    limits_storage = rate_limit_storage or await open_storage(
        settings.rate_limits.storage.get(), clock
    )
    ops = operations(settings, clock)
    database = ops.database
    await database.open()
    uow = database.unit_of_work
    audit = ops.audit
    await audit.ensure_keyed()  # a log from before keying is sealed under the key, audited
    passwords = passwords or PasswordService()
    sessions = SessionService(
        uow,
        audit,
        clock,
        session_hours=settings.security.session_hours,
        idle_minutes=settings.security.idle_minutes,
    )
    accounts = AccountService(
        uow,
        audit,
        clock,
        passwords,
        sessions,
        accounts_per_telegram_user=settings.security.accounts_per_telegram_user,
    )
    twofactor = TwoFactorService(uow, audit, clock, crypto, accounts, passwords.backup_codes)
    # The one admin check every admin operation of core makes itself (SPEC §10).
    rights = AdminRights(settings.telegram.admins)
    safety = SafetyService(uow, audit, clock, twofactor, rights)
    suspicion = SuspicionReporter(audit, clock, settings.alerts)
    licenses = LicenseService(uow, clock, crypto, suspicion)
    http: httpx.AsyncClient | None = None
    if chain is None:
        http = httpx.AsyncClient()
        chain = TronscanClient(http, settings.tronscan)
    grid_http: httpx.AsyncClient | None = None
    if second_chain is None and settings.payments.second_source == "trongrid":
        grid_http = httpx.AsyncClient()
        pay = settings.payments
        second_chain = trongrid_source(grid_http, pay.trongrid_url, pay.trongrid_api_key)
    if second_chain is not None:  # both must agree before a payment is approved
        chain = AgreeingSource(chain, second_chain)
    ledger = WalletLedger(crypto)
    payments = PaymentService(
        uow,
        audit,
        clock,
        crypto,
        settings,
        chain,
        accounts=accounts,
        licenses=licenses,
        wallet=ledger,
        suspicion=suspicion,
        rights=rights,
    )
    tiers = LicenseTierResolver(uow, clock, licenses, idle_minutes=settings.security.idle_minutes)
    services = Services(
        settings=settings,
        clock=clock,
        crypto=crypto,
        uow=uow,
        audit=audit,
        sessions=sessions,
        accounts=accounts,
        captcha=CaptchaService(),
        alerts=AlertService(uow, clock, rights),
        notices=NoticeService(uow, clock),
        activity=ActivityService(uow, audit, rights),
        twofactor=twofactor,
        ratelimit=RateLimitService(settings.rate_limits, limits_storage, audit, tiers),
        safety=safety,
        apikeys=ApiKeyService(uow, audit, clock, crypto, accounts, twofactor, safety),
        backups=ops.backups,
        anchors=ops.anchors,
        payments=payments,
        payment_watch=PaymentWatch(uow, audit, clock, settings.payments, chain, payments),
        licenses=licenses,
        payment_screen=PaymentScreen(uow, clock, crypto),
        reminders=ReminderService(uow, clock, licenses, crypto),
        withdrawals=WithdrawalService(
            uow,
            audit,
            clock,
            crypto,
            ledger=ledger,
            twofactor=twofactor,
            safety=safety,
            suspicion=suspicion,
            rights=rights,
            receive_address=settings.payments.receive_address,
            cooldown_hours=settings.security.withdrawal_cooldown_hours,
        ),
        stats=StatsService(uow, clock, rights),
        support=SupportService(uow, clock, audit),
        offsite=offsite(settings, database, clock, ops.backups),
        preferences=PreferenceService(uow, sessions, audit, clock),
        deletion=AccountDeletionService(uow, audit, clock, accounts, twofactor),
        checkup=SecurityCheckupService(uow, sessions),
        stars=StarsService(
            uow,
            audit,
            clock,
            crypto,
            settings,
            accounts=accounts,
            licenses=licenses,
            wallet=ledger,
            suspicion=suspicion,
            rights=rights,
        ),
        leadership=Leadership.lasting(uow, clock, instance_name(), settings.jobs.lease_seconds),
    )
    services.closers += [database.close, passwords.aclose, services.ratelimit.aclose]
    if isinstance(database, PostgresDatabase):  # a fleet: each user's turn locked across it
        user_locks = PostgresUserLocks(database.dsn)
        services.user_locks = user_locks
        services.closers.append(user_locks.aclose)
    services.closers += [client.aclose for client in (http, grid_http) if client is not None]
    return services
