"""The container of core services that the bot and the CLI share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.accounts import AccountService
from core.activity import ActivityService
from core.alerts import AlertService
from core.apikeys import ApiKeyService
from core.audit import AuditLog
from core.backups import BackupService
from core.captcha import CaptchaService
from core.clock import Clock
from core.config import Settings
from core.crypto import EncryptionService
from core.licenses import LicenseService
from core.notices import NoticeService
from core.payments import PaymentService
from core.ports import UnitOfWork
from core.ratelimit import RateLimitService
from core.safety import SafetyService
from core.sessions import SessionService
from core.stats import StatsService
from core.twofactor import TwoFactorService
from core.withdrawals import WithdrawalService


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
    alerts: AlertService
    notices: NoticeService
    activity: ActivityService
    twofactor: TwoFactorService
    ratelimit: RateLimitService
    safety: SafetyService
    apikeys: ApiKeyService
    backups: BackupService
    payments: PaymentService
    licenses: LicenseService
    withdrawals: WithdrawalService
    stats: StatsService
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Release databases and clients, newest first."""
        while self.closers:
            await self.closers.pop()()
