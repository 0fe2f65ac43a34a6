"""The withdrawal cool-down after a security change (SPEC §10).

Someone with a victim's unlocked phone for five minutes (or a stolen password and session)
could turn 2FA off and on with their own app, make new backup codes, or change the password
or email, and then withdraw at once. So every such change is recorded
(``SecurityRepository.record_change``) and withdrawals wait
``security.withdrawal_cooldown_hours`` after the latest one, while the owner's other chats are
told of the change (core/audit/notices.py) and have time to react.

New backup codes count as a 2FA change: whoever holds them passes the second factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.accounts.ports import SecurityState
from core.errors import Reason, Refusal

# What starts the cool-down (the kinds recorded by accounts and twofactor).
COOLDOWN_CHANGES = frozenset(
    {"password_changed", "email_changed", "mfa_enabled", "mfa_disabled", "backup_codes"}
)


@dataclass(frozen=True)
class WithdrawalsCoolingDown(Reason):
    """Withdrawals wait until ``until`` after the security change ``kind`` (words: bot/texts)."""

    until: datetime
    kind: str


class CoolingDown(Refusal):
    """Withdrawals are paused until ``until`` because of the change ``kind``."""

    def __init__(self, until: datetime, kind: str) -> None:
        super().__init__(WithdrawalsCoolingDown(until, kind))
        self.until = until
        self.kind = kind


def cooldown_until(state: SecurityState, now: datetime, hours: int) -> datetime | None:
    """When the cool-down of the account's latest change ends, if it has not yet."""
    if hours <= 0 or state.changed_at is None or state.change_kind not in COOLDOWN_CHANGES:
        return None
    until = state.changed_at + timedelta(hours=hours)
    return until if until > now else None
