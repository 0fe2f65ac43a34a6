"""The container of core services that the bot and the CLI share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.accounts import AccountService
from core.audit import AuditLog
from core.captcha import CaptchaService
from core.clock import Clock
from core.config import Settings
from core.crypto import EncryptionService
from core.ports import UnitOfWork
from core.sessions import SessionService


@dataclass
class Services:
    """Everything a handler or a command may call, built once by ``bootstrap()``."""

    settings: Settings
    clock: Clock
    crypto: EncryptionService
    uow: Callable[..., UnitOfWork]
    audit: AuditLog
    sessions: SessionService
    accounts: AccountService
    captcha: CaptchaService
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Release databases and clients, newest first."""
        while self.closers:
            await self.closers.pop()()
