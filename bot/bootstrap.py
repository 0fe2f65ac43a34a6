"""Composition root: builds core services on top of storage from the settings."""

from __future__ import annotations

from core.accounts import AccountService
from core.audit import AuditLog
from core.captcha import CaptchaService
from core.clock import Clock, SystemClock
from core.config import Settings
from core.crypto import EncryptionService
from core.passwords import PasswordService
from core.services import Services
from core.sessions import SessionService
from storage.database import Database


async def bootstrap(settings: Settings, clock: Clock | None = None) -> Services:
    """Check the key, open and migrate the database, wire the services."""
    clock = clock or SystemClock()
    crypto = EncryptionService(settings.encryption)  # refuses a missing/malformed key first
    database = Database(settings.database.path)
    await database.open()
    uow = database.unit_of_work
    audit = AuditLog(uow, clock)
    passwords = PasswordService()
    sessions = SessionService(
        uow,
        audit,
        clock,
        session_hours=settings.security.session_hours,
        idle_minutes=settings.security.idle_minutes,
    )
    services = Services(
        settings=settings,
        clock=clock,
        crypto=crypto,
        uow=uow,
        audit=audit,
        sessions=sessions,
        accounts=AccountService(uow, audit, clock, passwords, sessions),
        captcha=CaptchaService(),
    )
    services.closers += [database.close, passwords.aclose]
    return services
