"""/delete_account: the owner closes their account for good (SPEC §11).

It takes what a password change takes and more: a live session, the password, a current 2FA
code when 2FA is on, and a press of the confirmation button shown for exactly that check.
Then, in one transaction:

- every session of the account ends (this one too) and the security stamp is replaced, so
  every pending flow and login attempt on any Telegram account ends without writing;
- the email is replaced by a tombstone (``deleted-<id>@closed.invalid``, a reserved domain no
  one can type as a login), so the address is no longer stored and can register again, as a
  new account that inherits nothing; the password hash becomes a value no password matches;
- the 2FA secret, backup codes, exchange API keys and notice choices are deleted, and queued
  notices not sent yet are dropped;
- what law and the audit log require stays: the user row itself (id, referral code, dates),
  because invoices, payments, licenses, wallet entries and withdrawals point at it and are
  accounting records; and the append-only audit log, whose rows hold only masked emails;
- ACCOUNT_DELETED is audited; the account's other Telegram accounts are told through the
  owner-notice outbox (a critical notice: no setting silences it).

A withdrawal waiting for an admin blocks deletion (:class:`DeletionWaitsForWithdrawals`):
money in flight is settled first. A referral code of a closed account invites nobody.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from core.accounts.refusals import (
    DeletionButtonStale,
    DeletionWaitsForWithdrawals,
    SecondFactorNeeded,
)
from core.accounts.service import AccountService, mask_email
from core.accounts.sessions import REAUTH_VALIDITY, EndReason, FlowEnded, ReauthProof, Session
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import Clock
from core.errors import Refusal
from core.ports import UnitOfWork
from core.twofactor.service import TwoFactorService

# Not an argon2 hash: every verification of it fails (core/adapters/passwords.py).
UNUSABLE_HASH = "!closed"
TOMBSTONE_DOMAIN = "closed.invalid"  # RFC 2606: never a real domain, refused as an email
REFERENCE_LENGTH = 16


def tombstone(account_id: int) -> str:
    """What a closed account's email column holds instead of the address."""
    return f"deleted-{account_id}@{TOMBSTONE_DOMAIN}"


@dataclass(frozen=True)
class SecondFactorCheck:
    """A current 2FA code checked for this deletion (only :meth:`AccountDeletionService.
    check_code` makes one: a password proof cannot stand in for it)."""

    proof: ReauthProof


@dataclass(frozen=True)
class DeletionOutlook:
    """What the flow needs to know before it asks for anything."""

    needs_code: bool


def _reference(stamp: str, session: Session, proof: ReauthProof) -> str:
    message = f"{session.id}|{session.started_at.isoformat()}|{proof.at.isoformat()}".encode()
    digest = hmac.new(b"delete-account:" + stamp.encode(), message, hashlib.sha256).hexdigest()
    return digest[:REFERENCE_LENGTH]


class AccountDeletionService:
    """Checks the owner, then closes the account in one transaction."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        accounts: AccountService,
        twofactor: TwoFactorService,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self._accounts = accounts
        self._twofactor = twofactor

    async def outlook(self, session: Session) -> DeletionOutlook:
        """Whether a code will be asked; raises a Refusal when deletion cannot happen now
        (a pending withdrawal) and :class:`FlowEnded` when ``session`` is not live."""
        async with self._uow(read_only=True) as uow:
            await self._accounts.sessions.require_live(uow, session)
            await self._refuse_pending_withdrawals(uow, session.account_id)
            mfa = await uow.twofactor.get(session.account_id)
        return DeletionOutlook(needs_code=mfa is not None and mfa.enabled_at is not None)

    async def check_password(self, session: Session, password: str) -> ReauthProof:
        """The password, throttled and audited like a login (raises Refusal when wrong)."""
        return await self._accounts.reauthenticate(session, password)

    async def check_code(self, session: Session, code: str) -> SecondFactorCheck:
        """A current 2FA or backup code, under the code throttle (raises Refusal)."""
        proof = await self._twofactor.proof_for_action(session, code, "delete_account")
        return SecondFactorCheck(proof)

    async def confirmation(self, session: Session, password: ReauthProof) -> str:
        """The opaque reference the confirmation button carries: it matches only this
        session, this password check and the account's current stamp."""
        async with self._uow(read_only=True) as uow:
            await self._accounts.sessions.require_live(uow, session, password)
            stamp = await self._accounts.sessions.stamp(uow, session.account_id)
        return _reference(stamp, session, password)

    async def _refuse_pending_withdrawals(self, uow: UnitOfWork, account_id: int) -> None:
        pending = await uow.account_care.pending_withdrawals(account_id)
        if pending:
            raise Refusal(DeletionWaitsForWithdrawals(pending))

    def _second_factor_ok(
        self, check: SecondFactorCheck | None, session: Session, stamp: str
    ) -> bool:
        if check is None:
            return False
        proof = check.proof
        fresh = self._clock.now() - proof.at <= REAUTH_VALIDITY
        return proof.session_id == session.id and proof.stamp == stamp and fresh

    async def delete(
        self,
        session: Session,
        password: ReauthProof,
        second_factor: SecondFactorCheck | None,
        reference: str,
    ) -> list[int]:
        """Close the account (see the module docstring); the Telegram user ids whose other
        sessions ended. Everything is checked again in the writing transaction:
        :class:`FlowEnded` when the session, the stamp or the password check went stale;
        ``Refusal(SecondFactorNeeded())`` when 2FA is on and no fresh code was checked;
        ``Refusal(DeletionButtonStale())`` when ``reference`` is not this confirmation's;
        ``Refusal(DeletionWaitsForWithdrawals(n))``. Nothing is written then.
        """
        sessions = self._accounts.sessions
        now = self._clock.now()
        async with self._uow() as uow:
            await sessions.require_live(uow, session, password)
            account_id = session.account_id
            stamp = await sessions.stamp(uow, account_id)
            if not hmac.compare_digest(_reference(stamp, session, password), reference):
                raise Refusal(DeletionButtonStale())
            mfa = await uow.twofactor.get(account_id)
            had_2fa = mfa is not None and mfa.enabled_at is not None
            if had_2fa and not self._second_factor_ok(second_factor, session, stamp):
                raise Refusal(SecondFactorNeeded())
            await self._refuse_pending_withdrawals(uow, account_id)
            user = await uow.accounts.by_id(account_id)
            if user is None or user.closed_at is not None:
                raise FlowEnded(EndReason.ACCOUNT_DELETED, session_ended=True)
            ended = await uow.sessions.end_for_account(account_id, now, EndReason.ACCOUNT_DELETED)
            await sessions.replace_stamp(uow, account_id, EndReason.ACCOUNT_DELETED)
            gone = await uow.account_care.forget_secrets(account_id)
            await uow.account_care.close(
                account_id, tombstone=tombstone(account_id), unusable_hash=UNUSABLE_HASH, at=now
            )
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.ACCOUNT_DELETED,
                    Severity.WARNING,
                    account_id=account_id,
                    telegram_user_id=session.telegram_user_id,
                    details={
                        "email": mask_email(user.email),
                        "sessions_ended": len(ended),
                        "exchange_keys_deleted": gone.get("api_keys", 0),
                        "had_2fa": had_2fa,
                    },
                ),
            )
            await uow.commit()
        return [t for t in ended if t != session.telegram_user_id]
