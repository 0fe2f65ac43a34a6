"""/security: a one-screen check-up of an account (SPEC §11), read in one transaction.

Each finding says what is true now; the bot puts the button that fixes it next to it. Core
only reads here: every fix is the feature's own command, with its own checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.accounts.devices import mask_telegram_id
from core.accounts.sessions import Session, SessionService
from core.ports import UnitOfWork

FEW_BACKUP_CODES = 3  # at or below this, the check-up suggests new ones


@dataclass(frozen=True)
class Checkup:
    """The account's security at a glance."""

    mfa_on: bool
    backup_codes_left: int
    live_sessions: int
    api_keys: int
    last_new_account_login_at: datetime | None
    last_new_account: str | None  # masked Telegram account
    pending_withdrawals: int

    @property
    def few_backup_codes(self) -> bool:
        """2FA is on and the codes are (nearly) used up."""
        return self.mfa_on and self.backup_codes_left <= FEW_BACKUP_CODES


class SecurityCheckupService:
    """Reads the check-up for a live session."""

    def __init__(self, uow_factory: Callable[..., UnitOfWork], sessions: SessionService) -> None:
        self._uow = uow_factory
        self._sessions = sessions

    async def checkup(self, session: Session) -> Checkup:
        """The check-up of ``session``'s account (raises ``FlowEnded`` when it is not live)."""
        devices = await self._sessions.devices(session)
        account_id = session.account_id
        async with self._uow(read_only=True) as uow:
            await self._sessions.require_live(uow, session)
            mfa = await uow.twofactor.get(account_id)
            mfa_on = mfa is not None and mfa.enabled_at is not None
            codes = len(await uow.twofactor.unused_backup_codes(account_id)) if mfa_on else 0
            keys = await uow.apikeys.count(account_id)
            login = await uow.account_care.last_new_account_login(account_id)
            pending = await uow.account_care.pending_withdrawals(account_id)
        return Checkup(
            mfa_on=mfa_on,
            backup_codes_left=codes,
            live_sessions=len(devices),
            api_keys=keys,
            last_new_account_login_at=login.at if login else None,
            last_new_account=mask_telegram_id(login.telegram_user_id) if login else None,
            pending_withdrawals=pending,
        )
