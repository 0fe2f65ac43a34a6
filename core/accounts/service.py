"""Accounts: registration, login with throttling and no enumeration, password/email change.

Login is split in two so the bot can put the captcha between them without ever holding a
password: :meth:`AccountService.check_credentials` verifies the password at once (reserving a
failure before the check, so neither abandoning the captcha nor racing many guesses at once can
dodge the throttle) and returns an opaque
:class:`LoginAttempt`; :meth:`AccountService.complete_login` turns a good attempt into a session.

Unknown emails and wrong passwords take the same path: a dummy hash is verified for unknown
emails, failures are keyed by the normalised email typed (not the account), so an unknown email
locks exactly as a real one does, and callers show one message for both.

A Telegram user that logged in to the account in the last 30 days is throttled on its own
failures; every other Telegram user shares the email's bucket, so strangers hammering an address
lock each other out, never the owner's phone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from email_validator import EmailNotValidError, validate_email

from core.accounts.login_throttle import login_lock_seconds
from core.accounts.ports import UserRecord
from core.accounts.refusals import (
    AccountGone,
    AccountNotCreated,
    EmailInvalid,
    EmailUnavailable,
    EmailUnchanged,
    EmailUnreadable,
    OwnReferralCode,
    PasswordLoginLocked,
    PasswordUnchanged,
    SecondFactorNeeded,
    TooManyAccounts,
    UnknownReferralCode,
    WrongPassword,
)
from core.accounts.sessions import (
    REAUTH_VALIDITY,
    EndReason,
    FlowEnded,
    ReauthProof,
    Session,
    SessionService,
)
from core.adapters.passwords import PasswordService
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import Clock
from core.errors import DuplicateError, Refusal
from core.ports import UnitOfWork

REFERRAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
REFERRAL_LENGTH = 8
MAX_EMAIL_LENGTH = 254


def mask_email(email: str) -> str:
    """``jane.doe@example.com`` → ``j***@example.com`` (for audit details and notices)."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def normalise_email(text: str) -> str:
    """Validate syntax (no DNS) and return the lowercased address, or raise a Refusal."""
    candidate = text.strip()
    if not candidate or len(candidate) > MAX_EMAIL_LENGTH:
        raise Refusal(EmailUnreadable())
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError:
        raise Refusal(EmailInvalid()) from None
    return result.normalized.lower()


@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of a password check. ``account_id`` is set only when it succeeded."""

    account_id: int | None
    locked_seconds: int = 0
    mfa_required: bool = False
    # A new hash when the stored one uses outdated parameters (written on completion), so
    # nobody has to keep the password around until then.
    rehash: str | None = field(default=None, repr=False)
    # The account's security stamp read before the password was checked, and when: the login
    # completes only under the same stamp and within the flow timeout (SPEC §10).
    stamp: str = ""
    checked_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.account_id is not None


class SecondFactor(Protocol):
    """A second-factor proof (made by the 2FA service)."""

    @property
    def account_id(self) -> int: ...

    @property
    def at(self) -> datetime: ...


@dataclass(frozen=True)
class LoginResult:
    """A completed login."""

    session: Session
    email: str
    previous_telegram_user_id: int | None  # set when the last login came from another account


class AccountService:
    """Everything about platform accounts."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        passwords: PasswordService,
        sessions: SessionService,
        *,
        accounts_per_telegram_user: int = 3,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self.passwords = passwords
        self._sessions = sessions
        self._accounts_per_telegram_user = accounts_per_telegram_user

    @property
    def sessions(self) -> SessionService:
        """The session service (its :meth:`~SessionService.require_live` is the final check
        of every flow)."""
        return self._sessions

    # --- registration ----------------------------------------------------------------------

    async def check_new_password(self, password: str, email: str) -> None:
        """Raise a Refusal saying why ``password`` is refused for ``email``."""
        await self.passwords.check_policy(password, email)

    async def referral_code_exists(self, code: str) -> bool:
        """True when ``code`` (any case) belongs to an account."""
        cleaned = code.strip().upper()
        if not cleaned or len(cleaned) > 32:
            return False
        async with self._uow(read_only=True) as uow:
            # by_referral_code: a deleted account's code invites nobody.
            return await uow.accounts.by_referral_code(cleaned) is not None

    async def invited_by(self, code: str, telegram_user_id: int) -> str:
        """The referral code of an invite link (``/start ref_CODE``), normalised, when it may
        pre-fill this Telegram user's /register: the same rule as a typed code, and not the
        code of the account this Telegram user is logged in to (their own link).

        Raises ``Refusal(UnknownReferralCode())`` or ``Refusal(OwnReferralCode())``.
        """
        if not await self.referral_code_exists(code):
            raise Refusal(UnknownReferralCode())
        cleaned = code.strip().upper()
        session = await self._sessions.current(telegram_user_id)
        if session is not None and (await self.account(session.account_id)).referral_code == (
            cleaned
        ):
            raise Refusal(OwnReferralCode())
        return cleaned

    async def register(
        self,
        *,
        email: str,
        password_hash: str,
        referral_code: str | None,
        telegram_user_id: int,
        sign_in: bool = False,
    ) -> UserRecord:
        """Create the account (and its REGISTERED event) in one transaction.

        With ``sign_in`` the same transaction opens a session for ``telegram_user_id`` (audited
        as LOGIN_SUCCESS): the person just chose the password and passed the captcha, so a
        second captcha and password check would prove nothing new.

        At most ``security.accounts_per_telegram_user`` accounts are registered from one
        Telegram user (:class:`TooManyAccounts`): counted and inserted in this one write
        transaction, so concurrent registrations cannot pass the limit together.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            limit = self._accounts_per_telegram_user
            if await uow.accounts.registered_from(telegram_user_id) >= limit:
                raise Refusal(TooManyAccounts(limit))
            referrer = None
            if referral_code:
                referrer = await uow.accounts.by_referral_code(referral_code.strip().upper())
                if referrer is None:
                    raise Refusal(UnknownReferralCode())
            for _ in range(10):
                code = "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_LENGTH))
                if not await uow.accounts.referral_code_taken(code):
                    break
            try:
                account_id = await uow.accounts.add(
                    email=email,
                    password_hash=password_hash,
                    referral_code=code,
                    referred_by=referrer.id if referrer else None,
                    created_at=now,
                    registered_telegram_user_id=telegram_user_id,
                )
            except DuplicateError:
                raise Refusal(AccountNotCreated()) from None
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.REGISTERED,
                    account_id=account_id,
                    telegram_user_id=telegram_user_id,
                    details={"referred": referrer is not None},
                ),
            )
            if sign_in:
                await self._sessions.start(uow, account_id, telegram_user_id)
                await uow.accounts.record_login(account_id, telegram_user_id, now)
                await self._audit.append(
                    uow,
                    AuditEvent(
                        EventType.LOGIN_SUCCESS,
                        account_id=account_id,
                        telegram_user_id=telegram_user_id,
                        details={"new_telegram_account": False, "via": "registration"},
                    ),
                )
            user = await uow.accounts.by_id(account_id)
            await uow.commit()
        assert user is not None
        return user

    # --- login -----------------------------------------------------------------------------

    async def check_credentials(
        self, email_text: str, password: str, telegram_user_id: int
    ) -> LoginAttempt:
        """Verify email + password under the throttle; audit the outcome.

        The throttle is checked and the attempt reserved as a failure in one write
        transaction before the (slow, threaded) password check, so any number of concurrent
        guesses, from this process or another sharing the database, see each other and at
        most the allowed few are verified. A right password withdraws its reservation (and
        the same Telegram user's earlier failures on this email); a wrong one keeps it.
        """
        try:
            email_key = normalise_email(email_text)
        except Refusal:
            email_key = email_text.strip().lower()[:MAX_EMAIL_LENGTH]
        async with self._uow() as uow:
            user = await uow.accounts.by_email(email_key)
            if user is not None and user.closed_at is not None:
                user = None  # a deleted account: the same path as an unknown email
            # Read with the password hash: a password change after this ends the attempt.
            stamp_before = await self._sessions.stamp(uow, user.id) if user is not None else ""
            locked = await login_lock_seconds(
                uow, self._clock.now(), email_key, user, telegram_user_id
            )
            if locked:
                await self._audit.append(
                    uow,
                    AuditEvent(
                        EventType.LOGIN_FAILED,
                        Severity.WARNING,
                        telegram_user_id=telegram_user_id,
                        details={"reason": "locked"},
                    ),
                )
            else:
                await uow.accounts.add_login_failure(email_key, telegram_user_id, self._clock.now())
            await uow.commit()
        if locked:
            # No password work while locked: the reply already says so, and hashing for
            # refused guesses would only hand an attacker our CPU.
            return LoginAttempt(None, locked_seconds=locked)
        if user is None:
            await self.passwords.verify_dummy(password)
            good = False
        else:
            good = await self.passwords.verify(user.password_hash, password)
        async with self._uow() as uow:
            if good and user is not None:
                await uow.accounts.clear_user_login_failures(email_key, telegram_user_id)
                await uow.commit()
            else:
                await self._audit.append(
                    uow,
                    AuditEvent(
                        EventType.LOGIN_FAILED,
                        Severity.WARNING,
                        account_id=user.id if user else None,
                        telegram_user_id=telegram_user_id,
                        details={"reason": "bad_credentials"},
                    ),
                )
                await uow.commit()
                return LoginAttempt(None)
        rehash = (
            await self.passwords.hash(password)
            if self.passwords.needs_rehash(user.password_hash)
            else None
        )
        async with self._uow(read_only=True) as uow:
            mfa = await uow.twofactor.get(user.id)
        return LoginAttempt(
            user.id,
            rehash=rehash,
            mfa_required=mfa is not None and mfa.enabled_at is not None,
            stamp=stamp_before,
            checked_at=self._clock.now(),
        )

    def _attempt_problem(self, attempt: LoginAttempt, stamp: str, reason: str) -> None:
        """Raise :class:`FlowEnded` when a checked password may no longer open a session."""
        if attempt.stamp != stamp:
            raise FlowEnded(EndReason.of(reason))
        if attempt.checked_at is None or self._clock.now() - attempt.checked_at > REAUTH_VALIDITY:
            raise FlowEnded(EndReason.PROOF_EXPIRED)

    async def check_attempt(self, attempt: LoginAttempt) -> None:
        """Before the 2FA step of a login: raise :class:`FlowEnded` when the password check
        is older than the flow timeout or from before a security change of the account
        (:meth:`complete_login` checks again inside its transaction)."""
        if attempt.account_id is None:
            return
        async with self._uow(read_only=True) as uow:
            state = await uow.security.get(attempt.account_id)
        self._attempt_problem(attempt, state.stamp, state.stamp_reason)

    async def complete_login(
        self,
        attempt: LoginAttempt,
        telegram_user_id: int,
        second_factor: SecondFactor | None = None,
    ) -> LoginResult:
        """Open the session for a successful attempt; LOGIN_SUCCESS audited.

        When the account has 2FA on, a fresh second-factor proof for it is required here,
        whatever the caller believed when the attempt started. Raises :class:`FlowEnded`
        when the password was checked before a security change of the account (password,
        email or 2FA change, logout, restore) or longer ago than the flow timeout.
        """
        if attempt.account_id is None:
            raise ValueError("complete_login needs a successful attempt")
        new_hash = attempt.rehash
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.accounts.by_id(attempt.account_id)
            if user is None or user.closed_at is not None:
                raise Refusal(AccountGone())
            state = await uow.security.get(user.id)
            self._attempt_problem(attempt, state.stamp, state.stamp_reason)
            mfa = await uow.twofactor.get(user.id)
            if (
                mfa is not None
                and mfa.enabled_at is not None
                and (
                    second_factor is None
                    or second_factor.account_id != user.id
                    or self._clock.now() - second_factor.at > REAUTH_VALIDITY
                )
            ):
                raise Refusal(SecondFactorNeeded())
            if new_hash:
                await uow.accounts.set_password_hash(user.id, new_hash)
            session = await self._sessions.start(uow, user.id, telegram_user_id)
            previous = user.last_telegram_user_id
            await uow.accounts.record_login(user.id, telegram_user_id, now)
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.LOGIN_SUCCESS,
                    account_id=user.id,
                    telegram_user_id=telegram_user_id,
                    details=(
                        {"new_telegram_account": True, "previous_telegram_user_id": previous}
                        if previous not in (None, telegram_user_id)
                        else {"new_telegram_account": False}
                    ),
                ),
            )
            await uow.commit()
        return LoginResult(
            session,
            user.email,
            previous if previous not in (None, telegram_user_id) else None,
        )

    # --- with a session ----------------------------------------------------------------------

    async def account(self, account_id: int) -> UserRecord:
        """The account behind a session."""
        async with self._uow(read_only=True) as uow:
            user = await uow.accounts.by_id(account_id)
        if user is None or user.closed_at is not None:
            raise Refusal(AccountGone())
        return user

    async def reauthenticate(self, session: Session, password: str) -> ReauthProof:
        """Fresh password check for a sensitive action (throttled like a login).

        Returns a proof the sensitive operation demands; raises Refusal when wrong.
        """
        user = await self.account(session.account_id)
        attempt = await self.check_credentials(user.email, password, session.telegram_user_id)
        if attempt.locked_seconds:
            raise Refusal(PasswordLoginLocked(attempt.locked_seconds))
        if not attempt.ok:
            raise Refusal(WrongPassword())
        return await self._sessions.proof(session)

    async def change_password(self, session: Session, proof: ReauthProof, new: str) -> list[int]:
        """Replace the password, end every other session; return their Telegram user ids.

        The session and ``proof`` are checked again in the transaction that writes (raises
        :class:`FlowEnded`); the stamp is replaced, so every other pending flow and login
        attempt of the account ends, and withdrawals wait their cool-down.
        """
        await self._sessions.check_live(session, proof)
        user = await self.account(session.account_id)
        await self.passwords.check_policy(new, user.email)
        if await self.passwords.verify(user.password_hash, new):
            raise Refusal(PasswordUnchanged())
        new_hash = await self.passwords.hash(new)
        now = self._clock.now()
        async with self._uow() as uow:
            await self._sessions.require_live(uow, session, proof)
            await uow.accounts.set_password_hash(user.id, new_hash)
            ended = await uow.sessions.end_for_account(
                user.id, now, EndReason.PASSWORD_CHANGED, keep_session_id=session.id
            )
            await self._sessions.replace_stamp(uow, user.id, EndReason.PASSWORD_CHANGED)
            await uow.security.record_change(user.id, EndReason.PASSWORD_CHANGED, now)
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.PASSWORD_CHANGED,
                    account_id=user.id,
                    telegram_user_id=session.telegram_user_id,
                    details={"other_sessions_ended": len(ended)},
                ),
            )
            await uow.commit()
        return ended

    async def change_email(self, session: Session, proof: ReauthProof, new_email_text: str) -> str:
        """Replace the email after a fresh password check; return the new address.

        Checked and stamped like :meth:`change_password` (other sessions stay open).
        """
        new_email = normalise_email(new_email_text)
        user = await self.account(session.account_id)
        if new_email == user.email:
            raise Refusal(EmailUnchanged())
        now = self._clock.now()
        async with self._uow() as uow:
            await self._sessions.require_live(uow, session, proof)
            await self._sessions.replace_stamp(uow, user.id, EndReason.EMAIL_CHANGED)
            await uow.security.record_change(user.id, EndReason.EMAIL_CHANGED, now)
            try:
                await uow.accounts.set_email(user.id, new_email)
            except DuplicateError:
                raise Refusal(EmailUnavailable()) from None
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.EMAIL_CHANGED,
                    account_id=user.id,
                    telegram_user_id=session.telegram_user_id,
                    details={"old": mask_email(user.email), "new": mask_email(new_email)},
                ),
            )
            await uow.commit()
        return new_email
