"""The container of core services that the bot and the CLI share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.accounts.checkup import SecurityCheckupService
from core.accounts.deletion import AccountDeletionService
from core.accounts.preferences import PreferenceService
from core.accounts.service import AccountService
from core.accounts.sessions import SessionService
from core.adapters.captcha_image import CaptchaService
from core.apikeys.service import ApiKeyService
from core.audit.activity import ActivityService
from core.audit.alerts import AlertService
from core.audit.anchors import AnchorService
from core.audit.log import AuditLog
from core.audit.notices import NoticeService
from core.audit.stats import StatsService
from core.audit.support import SupportService
from core.backups.offsite_service import OffsiteService
from core.backups.service import BackupService
from core.clock import Clock
from core.config import Settings
from core.crypto import EncryptionService
from core.leadership import Leadership
from core.payments.licenses import LicenseService
from core.payments.reminders import ReminderService
from core.payments.screen import PaymentScreen
from core.payments.service import PaymentService
from core.payments.stars import StarsService
from core.payments.watch import PaymentWatch
from core.ports import UnitOfWork, UserLocks
from core.ratelimit import RateLimitService
from core.safety.service import SafetyService
from core.twofactor.service import TwoFactorService
from core.user_locks import InProcessUserLocks
from core.withdrawals.service import WithdrawalService


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
    anchors: AnchorService
    payments: PaymentService
    payment_watch: PaymentWatch  # payments found at the receive address without a hash
    licenses: LicenseService
    payment_screen: PaymentScreen
    reminders: ReminderService
    withdrawals: WithdrawalService
    stats: StatsService
    support: SupportService
    offsite: OffsiteService
    preferences: PreferenceService  # /settings
    deletion: AccountDeletionService  # /delete_account
    checkup: SecurityCheckupService  # /security
    stars: StarsService  # Telegram Stars: the second way to pay (SPEC §12)
    leadership: Leadership  # whether this instance runs the scheduled jobs (SPEC §13)
    # one user's updates one at a time across instances (SPEC §13); SQLite: in this process
    user_locks: UserLocks = field(default_factory=InProcessUserLocks)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Release databases and clients, newest first."""
        while self.closers:
            await self.closers.pop()()
