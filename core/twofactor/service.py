"""Two-factor authentication: TOTP (RFC 6238 via pyotp) and one-time backup codes (SPEC §4).

- Secrets: 160 random bits, stored only encrypted and bound to the account.
- Codes: 6 digits, 30 s steps, one step of clock skew either way. The newest accepted step is
  stored and a code is accepted only for a newer step, so a code (or an older one) that was
  already used is refused as a replay, audited and raised as suspicious.
- Throttle: 5 wrong codes within 5 minutes block code entry for 5 minutes. Each attempt is
  checked and reserved as a failure in one write transaction before any code is compared, so
  concurrent guesses (any number of tasks or processes) cannot slip past it.
- Codes are ASCII: a code in other digits (``١٢٣٤٥٦``) is a wrong code (see core.digits).
- Backup codes: 10 per set, 10 Crockford base32 characters (50 bits), shown once, stored as
  salted argon2id hashes (cheap parameters: the codes are random, not human passwords), each
  usable once.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyotp
import qrcode
from qrcode.image.pil import PilImage

from core.accounts.service import AccountService
from core.accounts.sessions import EndReason, ReauthProof, Session, SessionService
from core.accounts.throttle import window_lock_until
from core.adapters.passwords import BackupCodeHasher
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import Clock
from core.crypto import EncryptionService
from core.digits import parse_code
from core.errors import Refusal
from core.ports import UnitOfWork
from core.twofactor.ports import MfaRecord
from core.twofactor.refusals import (
    CodeEntryPaused,
    CodeReplayed,
    CodeWrong,
    EnrolFirst,
    FirstCodeMismatch,
    TwoFactorAlreadyOn,
    TwoFactorNotOn,
)

ISSUER = "Verzek"
PURPOSE = "totp"
STEP_SECONDS = 30
SKEW_STEPS = 1
BACKUP_CODE_COUNT = 10
BACKUP_CODE_LENGTH = 10
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
FAIL_LIMIT = 5
FAIL_WINDOW = timedelta(minutes=5)
BLOCK_FOR = timedelta(minutes=5)
BACKUP_CODES_CHANGE = "backup_codes"  # the cool-down change kind of a new set of codes

CODE_DIGITS = 6
# Crockford decoding is forgiving: I/L read as 1, O as 0, dashes and spaces ignored.
_CROCKFORD_FIX = str.maketrans({"I": "1", "L": "1", "O": "0"})


def normalise_backup_code(text: str) -> str | None:
    """Upper-case, drop separators, fix look-alikes; None when it cannot be a backup code.

    ASCII only: ``"ı".upper()`` is ``I`` (read as 1) and ``"ß".upper()`` is two letters, so
    anything else is refused before case folding.
    """
    cleaned = "".join(text.split()).replace("-", "")
    if not cleaned.isascii():
        return None
    cleaned = cleaned.upper().translate(_CROCKFORD_FIX)
    if len(cleaned) != BACKUP_CODE_LENGTH or any(ch not in CROCKFORD for ch in cleaned):
        return None
    return cleaned


def format_backup_code(code: str) -> str:
    """``ABCDEFGHJK`` → ``ABCDE-FGHJK`` for reading."""
    return f"{code[:5]}-{code[5:]}"


@dataclass(frozen=True)
class Enrollment:
    """What the user needs to add the account to an authenticator app."""

    secret: str = field(repr=False)
    uri: str = field(repr=False)
    qr_png: bytes = field(repr=False)


@dataclass(frozen=True)
class MfaStatus:
    """What /2fa shows."""

    enabled: bool
    enabled_since: datetime | None
    backup_codes_left: int


async def mfa_status(uow: UnitOfWork, account_id: int) -> MfaStatus:
    """The account's 2FA status, read inside ``uow`` (backup codes are counted only while
    2FA is on: off, there are none to show)."""
    record = await uow.twofactor.get(account_id)
    if record is None or record.enabled_at is None:
        return MfaStatus(False, None, 0)
    left = len(await uow.twofactor.unused_backup_codes(account_id))
    return MfaStatus(True, record.enabled_at, left)


@dataclass(frozen=True)
class SecondFactorProof:
    """Evidence that the account's second factor was just presented."""

    account_id: int
    at: datetime
    backup_codes_left: int | None = None  # set when a backup code was the proof


class CodeBlocked(Refusal):
    """Too many wrong codes: entry is paused (its reason: :class:`CodeEntryPaused`)."""


class TwoFactorService:
    """Enrolment, verification, backup codes and disabling."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        crypto: EncryptionService,
        accounts: AccountService,
        backup_codes: BackupCodeHasher,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self._crypto = crypto
        self._accounts = accounts
        self._code_hasher = backup_codes

    @property
    def sessions(self) -> SessionService:
        """The session service, for the final-step check of flows confirmed with a code."""
        return self._accounts.sessions

    # --- helpers -------------------------------------------------------------------------

    def _step(self, when: datetime) -> int:
        return int(when.timestamp()) // STEP_SECONDS

    def _matching_step(self, secret: str, code: str) -> int | None:
        """The time step (within the skew) whose code equals ``code``."""
        digits = parse_code(code, CODE_DIGITS)
        if digits is None:
            return None
        totp = pyotp.TOTP(secret)
        current = self._step(self._clock.now())
        found = None
        for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step), digits):
                found = step  # no early exit: constant work whichever step matches
        return found

    def _secret(self, record: MfaRecord) -> str:
        return self._crypto.decrypt(record.secret_enc, owner=record.account_id, purpose=PURPOSE)

    async def _new_backup_codes(self) -> tuple[list[str], list[str]]:
        codes = [
            "".join(secrets.choice(CROCKFORD) for _ in range(BACKUP_CODE_LENGTH))
            for _ in range(BACKUP_CODE_COUNT)
        ]
        return codes, await self._code_hasher.hash_all(codes)

    async def _blocked_seconds(self, uow: UnitOfWork, account_id: int) -> int:
        now = self._clock.now()
        times = await uow.twofactor.failures_since(account_id, now - FAIL_WINDOW - BLOCK_FOR)
        until = window_lock_until(
            times, now, limit=FAIL_LIMIT, window=FAIL_WINDOW, duration=BLOCK_FOR
        )
        return 0 if until is None else max(1, int((until - now).total_seconds() + 0.999))

    # --- status and enrolment ------------------------------------------------------------

    async def status(self, account_id: int) -> MfaStatus:
        """Enabled or not, since when, and how many backup codes remain."""
        async with self._uow(read_only=True) as uow:
            return await mfa_status(uow, account_id)

    async def is_enabled(self, account_id: int) -> bool:
        """True when 2FA protects the account."""
        return (await self.status(account_id)).enabled

    async def start_enrollment(self, session: Session, proof: ReauthProof) -> Enrollment:
        """New secret (stored encrypted, pending) and its QR code; 2FA is not on yet.

        Needs a fresh password ``proof``: someone with only a stolen session (an unlocked
        phone) or a stolen password and a fresh login must not bind their own authenticator.
        """
        user = await self._accounts.account(session.account_id)
        secret = pyotp.random_base32(32)  # 32 base32 characters = 160 bits
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, session, proof)
            record = await uow.twofactor.get(user.id)
            if record is not None and record.enabled_at is not None:
                raise Refusal(TwoFactorAlreadyOn(see_status=True))
            await uow.twofactor.put_pending(
                user.id,
                self._crypto.encrypt(secret, owner=user.id, purpose=PURPOSE),
                self._clock.now(),
            )
            await uow.commit()
        png = await asyncio.to_thread(_qr_png, uri)
        return Enrollment(secret, uri, png)

    async def confirm_enrollment(
        self, session: Session, proof: ReauthProof, code: str
    ) -> list[str]:
        """Turn 2FA on with the first valid code; return the backup codes (shown once).

        The session and the password ``proof`` of :meth:`start_enrollment` are checked again
        in the transaction that turns 2FA on (:class:`~core.sessions.FlowEnded`). 2FA on is a
        security change: the stamp is replaced and withdrawals wait their cool-down.
        """
        await self._accounts.sessions.check_live(session, proof)
        code = code.strip().replace(" ", "")
        async with self._uow(read_only=True) as uow:
            record = await uow.twofactor.get(session.account_id)
        if record is None:
            raise Refusal(EnrolFirst())
        if record.enabled_at is not None:
            raise Refusal(TwoFactorAlreadyOn())
        step = self._matching_step(self._secret(record), code)
        if step is None:
            raise Refusal(FirstCodeMismatch())
        codes, hashes = await self._new_backup_codes()
        now = self._clock.now()
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, session, proof)
            if not await uow.twofactor.enable(session.account_id, now, step):
                raise Refusal(TwoFactorAlreadyOn())
            await uow.twofactor.replace_backup_codes(session.account_id, hashes, now)
            await self._accounts.sessions.replace_stamp(
                uow, session.account_id, EndReason.MFA_ENABLED
            )
            await uow.security.record_change(session.account_id, EndReason.MFA_ENABLED, now)
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.MFA_ENABLED,
                    account_id=session.account_id,
                    telegram_user_id=session.telegram_user_id,
                ),
            )
            await uow.commit()
        return codes

    # --- verification --------------------------------------------------------------------

    async def verify(
        self, account_id: int, telegram_user_id: int, code: str, *, purpose: str
    ) -> SecondFactorProof:
        """Check a TOTP or backup code under the throttle and replay guard.

        Raises :class:`CodeBlocked` while throttled and a :class:`Refusal` for a wrong or
        replayed code; every outcome is audited (MFA_VERIFIED / MFA_FAILED).
        """
        totp_code = parse_code(code, CODE_DIGITS)
        now = self._clock.now()
        # Check the throttle and reserve this attempt as a failure in one write transaction,
        # before any code is compared: concurrent guesses (other tasks, other processes on
        # the same database) each see the others' reservations, so at most FAIL_LIMIT of
        # them are ever compared. A right code withdraws its reservation afterwards.
        async with self._uow() as uow:
            record = await uow.twofactor.get(account_id)
            if record is None or record.enabled_at is None:
                raise Refusal(TwoFactorNotOn())
            blocked = await self._blocked_seconds(uow, account_id)
            if blocked:
                await self._failed(
                    uow, account_id, telegram_user_id, "throttled", purpose, count=False
                )
                await uow.commit()
                raise CodeBlocked(CodeEntryPaused(blocked))
            reservation = await uow.twofactor.add_failure(account_id, now)
            candidates = (
                [(c.id, c.code_hash) for c in await uow.twofactor.unused_backup_codes(account_id)]
                if totp_code is None
                else []
            )
            await uow.commit()

        method = "totp"
        step: int | None = None
        backup_id: int | None = None
        if totp_code is not None:
            step = self._matching_step(self._secret(record), totp_code)
        else:
            method = "backup_code"
            normalised = normalise_backup_code(code)
            if normalised is not None and candidates:
                backup_id = await self._code_hasher.matching(candidates, normalised)

        async with self._uow() as uow:
            if step is not None:
                outcome = "ok" if await uow.twofactor.use_step(account_id, step) else "replay"
            elif backup_id is not None:
                accepted = await uow.twofactor.use_backup_code(backup_id, now)
                outcome = "ok" if accepted else "wrong_code"
            else:
                outcome = "wrong_code"
            if outcome == "ok":
                await uow.twofactor.remove_failure(reservation)
                left = len(await uow.twofactor.unused_backup_codes(account_id))
                await self._audit.append(
                    uow,
                    AuditEvent(
                        EventType.MFA_VERIFIED,
                        account_id=account_id,
                        telegram_user_id=telegram_user_id,
                        details={"method": method, "purpose": purpose, "backup_codes_left": left},
                    ),
                )
            else:  # the reservation stays: it is this wrong code's failure
                await self._failed(uow, account_id, telegram_user_id, outcome, purpose, count=False)
            await uow.commit()
        if outcome == "ok":
            return SecondFactorProof(account_id, now, left if method == "backup_code" else None)
        if outcome == "replay":
            raise Refusal(CodeReplayed())
        raise Refusal(CodeWrong())

    async def _failed(
        self,
        uow: UnitOfWork,
        account_id: int,
        telegram_user_id: int,
        reason: str,
        purpose: str,
        *,
        count: bool = True,
    ) -> None:
        """Audit a refused code inside ``uow``; wrong codes and replays count to the throttle."""
        if count:
            await uow.twofactor.add_failure(account_id, self._clock.now())
        await self._audit.append(
            uow,
            AuditEvent(
                EventType.MFA_FAILED,
                Severity.CRITICAL if reason == "replay" else Severity.WARNING,
                account_id=account_id,
                telegram_user_id=telegram_user_id,
                details={"reason": reason, "purpose": purpose},
            ),
        )

    async def proof_for_action(self, session: Session, code: str, action: str) -> ReauthProof:
        """A fresh 2FA code as re-authentication for a sensitive action."""
        await self.verify(session.account_id, session.telegram_user_id, code, purpose=action)
        return await self._accounts.sessions.proof(session)

    # --- changes ---------------------------------------------------------------------------

    async def regenerate_backup_codes(self, session: Session, code: str) -> list[str]:
        """A current code → a new set of backup codes; the old set stops working.

        Checked inside the writing transaction like every final step. New codes are a 2FA
        change for the withdrawal cool-down (whoever holds them can pass the second factor),
        but do not end other flows: nothing that was protected before is weaker now.
        """
        await self._accounts.sessions.check_live(session)
        proof = await self.proof_for_action(session, code, "backup_codes")
        codes, hashes = await self._new_backup_codes()
        now = self._clock.now()
        async with self._uow() as uow:
            await self._accounts.sessions.require_live(uow, session, proof)
            await uow.twofactor.replace_backup_codes(session.account_id, hashes, now)
            await uow.security.record_change(session.account_id, BACKUP_CODES_CHANGE, now)
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.SETTINGS_CHANGED,
                    account_id=session.account_id,
                    telegram_user_id=session.telegram_user_id,
                    details={"change": "backup_codes_regenerated"},
                ),
            )
            await uow.commit()
        return codes

    async def disable(self, session: Session, proof: ReauthProof, code: str) -> list[int]:
        """Password proof + a current code → 2FA off, other sessions ended (their users).

        The session and ``proof`` are checked again in the writing transaction; the stamp is
        replaced (every other pending flow ends) and withdrawals wait their cool-down.
        """
        sessions = self._accounts.sessions
        await sessions.check_live(session, proof)
        await self.verify(session.account_id, session.telegram_user_id, code, purpose="disable")
        now = self._clock.now()
        async with self._uow() as uow:
            await sessions.require_live(uow, session, proof)
            await uow.twofactor.delete(session.account_id)
            ended = await uow.sessions.end_for_account(
                session.account_id, now, EndReason.MFA_DISABLED, keep_session_id=session.id
            )
            await sessions.replace_stamp(uow, session.account_id, EndReason.MFA_DISABLED)
            await uow.security.record_change(session.account_id, EndReason.MFA_DISABLED, now)
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.MFA_DISABLED,
                    Severity.WARNING,
                    account_id=session.account_id,
                    telegram_user_id=session.telegram_user_id,
                    details={"other_sessions_ended": len(ended)},
                ),
            )
            await uow.commit()
        return ended


def _qr_png(uri: str) -> bytes:
    image = qrcode.make(uri, box_size=8, border=3, image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
