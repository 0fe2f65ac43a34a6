"""Composition root: builds core services on top of storage from the settings."""

from __future__ import annotations

from core.audit import AuditLog
from core.clock import Clock, SystemClock
from core.config import Settings
from core.crypto import EncryptionService
from core.services import Services
from storage.database import Database


async def bootstrap(settings: Settings, clock: Clock | None = None) -> Services:
    """Check the key, open and migrate the database, wire the services."""
    clock = clock or SystemClock()
    crypto = EncryptionService(settings.encryption)  # refuses a missing/malformed key first
    database = Database(settings.database.path)
    await database.open()
    services = Services(
        settings=settings,
        clock=clock,
        crypto=crypto,
        uow=database.unit_of_work,
        audit=AuditLog(database.unit_of_work, clock),
    )
    services.closers.append(database.close)
    return services
