"""Composition root: builds core services on top of storage from the settings."""

from __future__ import annotations

import httpx

from core.accounts.service import AccountService
from core.accounts.sessions import SessionService
from core.adapters.captcha_image import CaptchaService
from core.adapters.passwords import PasswordService
from core.adapters.ratelimit_storage import open_storage
from core.adapters.tronscan import TronscanClient
from core.apikeys.service import ApiKeyService
from core.audit.activity import ActivityService
from core.audit.alerts import AlertService
from core.audit.detection import Detector
from core.audit.log import AuditLog
from core.audit.notices import NoticeService, OwnerNotifier
from core.audit.stats import StatsService
from core.audit.suspicion import SuspicionReporter
from core.authz import AdminRights
from core.backups.service import BackupService
from core.clock import Clock, SystemClock
from core.config import Settings
from core.crypto import EncryptionService
from core.payments.chain import TransactionSource
from core.payments.licenses import LicenseService, LicenseTierResolver
from core.payments.service import PaymentService
from core.payments.wallet import WalletLedger
from core.ratelimit import RateLimitService
from core.safety.service import SafetyService
from core.services import Services
from core.twofactor.service import TwoFactorService
from core.withdrawals.service import WithdrawalService
from storage.database import Database
from storage.snapshot import SqliteDatabaseFiles


async def bootstrap(
    settings: Settings, clock: Clock | None = None, *, chain: TransactionSource | None = None
) -> Services:
    """Check the key, open and migrate the database, wire the services.

    ``chain`` replaces the TronScan client (tests pass one over a fake transport).
    """
    clock = clock or SystemClock()
    crypto = EncryptionService(settings.encryption)  # refuses a missing/malformed key first
    # Redis must answer
    limits_storage = await open_storage(settings.rate_limits.storage.get(), clock)
    database = Database(settings.database.path)
    await database.open()
    uow = database.unit_of_work
    # Every appended event passes the detector and the owner notifier, inside its transaction.
    audit = AuditLog(uow, clock, [Detector(settings.alerts), OwnerNotifier()])
    passwords = PasswordService()
    sessions = SessionService(
        uow,
        audit,
        clock,
        session_hours=settings.security.session_hours,
        idle_minutes=settings.security.idle_minutes,
    )
    accounts = AccountService(uow, audit, clock, passwords, sessions)
    twofactor = TwoFactorService(uow, audit, clock, crypto, accounts)
    # The one admin check every admin operation of core makes itself (SPEC §10).
    rights = AdminRights(settings.telegram.admins)
    safety = SafetyService(uow, audit, clock, twofactor, rights)
    suspicion = SuspicionReporter(audit, clock, settings.alerts)
    licenses = LicenseService(uow, clock, crypto, suspicion)
    http: httpx.AsyncClient | None = None
    if chain is None:
        http = httpx.AsyncClient()
        chain = TronscanClient(http, settings.tronscan)
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
        backups=BackupService(
            settings.backups,
            SqliteDatabaseFiles(database),
            audit,
            clock,
            rights=rights,
            uow=uow,
        ),
        payments=payments,
        licenses=licenses,
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
    )
    services.closers += [database.close, passwords.aclose, services.ratelimit.aclose]
    if http is not None:
        services.closers.append(http.aclose)
    return services
