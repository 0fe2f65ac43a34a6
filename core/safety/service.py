"""The platform kill switch (SPEC §3 ``/killswitch``): halts API-key changes and withdrawals.

The state lives in the database (``safety_state``), so it survives restarts and every process
(the bot, the CLI, a second instance) sees the same switch. Nothing is cached: reading one row
is cheap, and a cached "off" could let a change through after an admin pulled the switch.

A feature the switch must stop asks twice:

- :meth:`SafetyService.ensure_allowed` before it starts (a polite refusal before the user
  types anything secret), and
- :meth:`SafetyService.check` inside the unit of work that makes the change, so a switch
  pulled while the user was typing still stops it.

Turning the switch on or off is an admin action: the admin's own session with 2FA on and a
fresh 2FA code. It is audited (SETTINGS_CHANGED) and queued for the admin chat in the alert
outbox, all in one transaction with the change.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.accounts.sessions import Session
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.authz import AdminNeedsTwoFactor, AdminRights, NoteNotPlain, NoteTooLong
from core.clock import Clock
from core.errors import Reason, Refusal
from core.ports import UnitOfWork
from core.safety.ports import SafetyRecord
from core.twofactor.service import TwoFactorService

KILLSWITCH = "killswitch"
ALERT_RULE = "killswitch"
ALERT_SUBJECT = "platform"
REASON_MIN, REASON_MAX = 3, 200

_SPACES = re.compile(r"\s+")


class Action(StrEnum):
    """What the kill switch halts."""

    API_KEYS = "api_keys"
    WITHDRAWALS = "withdrawals"


@dataclass(frozen=True)
class KillSwitchHalts(Reason):
    """The kill switch is on and halts ``action`` (words: bot/texts/en/safety.py)."""

    action: Action


@dataclass(frozen=True)
class KillSwitchAlreadySet(Reason):
    """The kill switch is already ``active`` (or not) as asked."""

    active: bool


@dataclass(frozen=True)
class KillSwitchReasonMissing(Reason):
    """The admin gave no reason (or one of a couple of characters)."""


class Halted(Refusal):
    """The kill switch is on and the action is one it halts."""

    def __init__(self, action: Action) -> None:
        super().__init__(KillSwitchHalts(action))
        self.action = action


class AlreadySet(Refusal):
    """The kill switch is already in the state asked for; nothing changes."""

    def __init__(self, active: bool) -> None:
        super().__init__(KillSwitchAlreadySet(active))


@dataclass(frozen=True)
class KillSwitchState:
    """The kill switch as admins see it."""

    active: bool
    reason: str
    changed_at: datetime | None
    changed_by_account: int | None
    changed_by_telegram: int | None


OFF = KillSwitchState(False, "", None, None, None)


def _action(action: str) -> Action:
    try:
        return Action(action)
    except ValueError:
        # A caller asking about something the switch does not know is a bug, not a refusal.
        raise ValueError(f"unknown safety action {action!r}") from None


def _state(record: SafetyRecord | None) -> KillSwitchState:
    if record is None:
        return OFF
    return KillSwitchState(
        record.active,
        record.reason,
        record.changed_at,
        record.changed_by_account,
        record.changed_by_telegram,
    )


def validate_reason(text: str) -> str:
    """A one-line reason of 3–200 printable characters (whitespace runs folded)."""
    reason = _SPACES.sub(" ", text).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in reason):
        raise Refusal(NoteNotPlain())
    if len(reason) < REASON_MIN:
        raise Refusal(KillSwitchReasonMissing())
    if len(reason) > REASON_MAX:
        raise Refusal(NoteTooLong(REASON_MAX))
    return reason


class SafetyService:
    """Reads and flips the kill switch; tells features whether they may go ahead."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        twofactor: TwoFactorService,
        rights: AdminRights,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self._twofactor = twofactor
        self._rights = rights

    async def killswitch(self) -> KillSwitchState:
        """The kill switch's current state."""
        async with self._uow(read_only=True) as uow:
            return _state(await uow.safety.get(KILLSWITCH))

    async def check(self, uow: UnitOfWork, action: str) -> None:
        """Inside the caller's unit of work: raise :class:`Halted` while ``action`` is halted."""
        wanted = _action(action)
        record = await uow.safety.get(KILLSWITCH)
        if record is not None and record.active:
            raise Halted(wanted)

    async def ensure_allowed(self, action: str) -> None:
        """Raise :class:`Halted` (a Refusal) while the kill switch halts ``action``.

        Opens its own unit of work: inside one, use :meth:`check` instead.
        """
        async with self._uow(read_only=True) as uow:
            await self.check(uow, action)

    async def set_killswitch(
        self, session: Session, *, active: bool, reason: str, code: str
    ) -> KillSwitchState:
        """Turn the kill switch on or off: an admin's own session, 2FA on, a fresh code.

        Audited as SETTINGS_CHANGED and queued for the admin chat, in one transaction with
        the change. Raises :class:`Refusal` when refused (nothing changes then).
        """
        self._rights.require_session(session, "killswitch")
        reason = validate_reason(reason)
        if not await self._twofactor.is_enabled(session.account_id):
            raise Refusal(AdminNeedsTwoFactor())
        if (await self.killswitch()).active == active:
            raise AlreadySet(active)
        proof = await self._twofactor.proof_for_action(session, code, KILLSWITCH)
        state_word = "on" if active else "off"
        async with self._uow() as uow:
            await self._twofactor.sessions.require_live(uow, session, proof)
            current = _state(await uow.safety.get(KILLSWITCH))
            if current.active == active:  # another admin was quicker
                raise AlreadySet(active)
            now = self._clock.now()
            await uow.safety.put(
                SafetyRecord(
                    KILLSWITCH,
                    active,
                    reason,
                    now,
                    session.account_id,
                    session.telegram_user_id,
                )
            )
            severity = Severity.CRITICAL if active else Severity.WARNING
            row = await self._audit.append(
                uow,
                AuditEvent(
                    EventType.SETTINGS_CHANGED,
                    severity,
                    account_id=session.account_id,
                    telegram_user_id=session.telegram_user_id,
                    details={"setting": KILLSWITCH, "state": state_word, "reason": reason},
                ),
            )
            await uow.alerts.add(
                created_at=row.ts,
                rule=ALERT_RULE,
                severity=severity,
                subject=ALERT_SUBJECT,
                account_id=session.account_id,
                telegram_user_id=session.telegram_user_id,
                audit_event_id=row.id,
                evidence={"state": state_word, "reason": reason, "halts": [str(a) for a in Action]},
                folded=0,
            )
            await uow.commit()
        return KillSwitchState(active, reason, now, session.account_id, session.telegram_user_id)
