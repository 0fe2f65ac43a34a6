"""What accounts needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class UserRecord:
    """A platform account as stored."""

    id: int
    email: str
    password_hash: str
    referral_code: str
    referred_by: int | None
    created_at: datetime
    last_telegram_user_id: int | None
    last_login_at: datetime | None
    closed_at: datetime | None = None  # the owner deleted it (core/accounts/deletion.py)


class EndReason(StrEnum):
    """Why a session, a flow or a login attempt can no longer finish (values are stored as
    session end reasons and stamp reasons)."""

    LOGGED_OUT = "logout"
    EXPIRED = "expired"  # the absolute lifetime
    IDLE = "idle"
    REPLACED = "replaced"  # the same Telegram account logged in again
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a password)
    EMAIL_CHANGED = "email_changed"
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    RESTORED = "restored"
    PROOF_EXPIRED = "proof_expired"  # the password/code check is older than the flow timeout
    ENDED_ELSEWHERE = "ended_elsewhere"  # the owner ended it from /sessions on another device
    ACCOUNT_DELETED = "account_deleted"  # the owner deleted the account (/delete_account)
    ENDED = "ended"  # anything else

    @classmethod
    def of(cls, text: str | None) -> EndReason:
        """The reason stored as ``text`` (``ENDED`` when unknown)."""
        try:
            return cls(text or "")
        except ValueError:
            return cls.ENDED


@dataclass(frozen=True)
class SessionRecord:
    """A login session bound to one Telegram user."""

    id: int
    account_id: int
    telegram_user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: EndReason | None = None  # read only by ``SessionsRepository.get``


@dataclass(frozen=True)
class SecurityState:
    """An account's security stamp and its last cool-down change (see migration 0008)."""

    stamp: str  # '' until the first change
    stamp_reason: str
    changed_at: datetime | None  # the last change that starts the withdrawal cool-down
    change_kind: str | None


class SecurityRepository(Protocol):
    """Per-account security stamps (ending pending flows) and cool-down changes."""

    async def get(self, account_id: int) -> SecurityState:
        """The account's state; stamp '' when nothing was ever recorded."""
        ...

    async def replace_stamp(self, account_id: int, stamp: str, reason: str, at: datetime) -> None:
        """Give the account a new stamp (every flow begun under the old one ends)."""
        ...

    async def record_change(self, account_id: int, kind: str, at: datetime) -> None:
        """Remember a change that starts the withdrawal cool-down."""
        ...


class AccountsRepository(Protocol):
    """Users and the failures that throttle their logins."""

    async def add(
        self,
        *,
        email: str,
        password_hash: str,
        referral_code: str,
        referred_by: int | None,
        created_at: datetime,
        registered_telegram_user_id: int | None = None,
    ) -> int:
        """Insert a user; return its id. Raises ``DuplicateError`` on a taken email/code.
        ``registered_telegram_user_id``: the Telegram user whose /register created it."""
        ...

    async def by_id(self, account_id: int) -> UserRecord | None:
        """The user with this id."""
        ...

    async def by_email(self, email: str) -> UserRecord | None:
        """The user with this (lowercased) email."""
        ...

    async def by_referral_code(self, code: str) -> UserRecord | None:
        """The user owning this referral code."""
        ...

    async def referral_code_taken(self, code: str) -> bool:
        """True when some account already has ``code``."""
        ...

    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace the password hash."""
        ...

    async def set_email(self, account_id: int, email: str) -> None:
        """Replace the email. Raises ``DuplicateError`` when taken."""
        ...

    async def record_login(self, account_id: int, telegram_user_id: int, at: datetime) -> None:
        """Remember the Telegram account and time of a successful login."""
        ...

    async def add_login_failure(self, email_key: str, telegram_user_id: int, at: datetime) -> int:
        """Record one failed (or reserved, not yet verified) password check; return its id."""
        ...

    async def remove_login_failure(self, failure_id: int) -> None:
        """Withdraw a reserved failure whose password turned out to be right."""
        ...

    async def login_failures_since(self, *, email_key: str, since: datetime) -> list[datetime]:
        """Times (ascending) of failures for this email key since ``since``."""
        ...

    async def shared_login_failures_since(
        self, *, email_key: str, account_id: int, since: datetime, trusted_since: datetime
    ) -> list[datetime]:
        """Times (ascending) of failures for this email key by Telegram users with no session
        on ``account_id`` begun at or after ``trusted_since`` (the shared bucket)."""
        ...

    async def user_login_failures_since(
        self, *, email_key: str, telegram_user_id: int, since: datetime
    ) -> list[datetime]:
        """Times (ascending) of failures for this email key by one Telegram user."""
        ...

    async def telegram_failures_since(
        self, *, telegram_user_id: int, since: datetime
    ) -> list[datetime]:
        """Times (ascending) of failures by this Telegram user since ``since``."""
        ...

    async def logged_in_from(
        self, *, account_id: int, telegram_user_id: int, since: datetime
    ) -> bool:
        """True when this Telegram user began a session on the account at/after ``since``."""
        ...

    async def clear_login_failures(self, email_key: str) -> None:
        """Forget failures for this email key."""
        ...

    async def clear_user_login_failures(self, email_key: str, telegram_user_id: int) -> None:
        """Forget one Telegram user's failures for this email key (after their good login)."""
        ...

    async def registered_from(self, telegram_user_id: int) -> int:
        """How many accounts were registered from ``telegram_user_id``."""
        ...

    async def referred_count(self, account_id: int) -> int:
        """How many accounts registered with this account's referral code."""
        ...


class SessionsRepository(Protocol):
    """Sessions bound to Telegram users."""

    async def add(
        self,
        *,
        account_id: int,
        telegram_user_id: int,
        created_at: datetime,
        expires_at: datetime,
    ) -> int:
        """Insert a live session; return its id."""
        ...

    async def live_for_telegram_user(self, telegram_user_id: int) -> SessionRecord | None:
        """The live (not ended) session of a Telegram user."""
        ...

    async def get(self, session_id: int) -> SessionRecord | None:
        """A session by id, ended or not, with its ``end_reason``."""
        ...

    async def latest_for_telegram_user(self, telegram_user_id: int) -> SessionRecord | None:
        """This Telegram user's newest session, ended or not, with its ``end_reason``."""
        ...

    async def live_for_account(self, account_id: int) -> list[SessionRecord]:
        """The account's sessions not ended yet (past their deadlines or not), oldest first."""
        ...

    async def touch(self, session_id: int, at: datetime) -> None:
        """Record activity."""
        ...

    async def end(self, session_id: int, at: datetime, reason: EndReason) -> None:
        """End one session."""
        ...

    async def end_for_account(
        self,
        account_id: int,
        at: datetime,
        reason: EndReason,
        *,
        keep_session_id: int | None = None,
    ) -> list[int]:
        """End every live session of an account except ``keep_session_id``; return the
        Telegram user ids whose sessions ended."""
        ...


class PreferencesRepository(Protocol):
    """The owner's notice choices (core/accounts/preferences.py): one row per kind changed."""

    async def choices(self, account_id: int) -> dict[str, bool]:
        """Kind → on/off for the kinds the owner changed (others keep their default)."""
        ...

    async def choose(self, account_id: int, kind: str, enabled: bool, at: datetime) -> None:
        """Store the owner's choice for one kind."""
        ...


@dataclass(frozen=True)
class NewAccountLogin:
    """The last login to an account from a Telegram account other than the one before."""

    at: datetime
    telegram_user_id: int


class AccountCareRepository(Protocol):
    """Reads for /security and the writes of /delete_account (core/accounts/deletion.py)."""

    async def pending_withdrawals(self, account_id: int) -> int:
        """How many of the account's withdrawals wait for an admin."""
        ...

    async def last_new_account_login(self, account_id: int) -> NewAccountLogin | None:
        """The newest LOGIN_SUCCESS audited as coming from a new Telegram account."""
        ...

    async def close(
        self, account_id: int, *, tombstone: str, unusable_hash: str, at: datetime
    ) -> None:
        """Mark the account closed: email replaced by ``tombstone``, password hash by
        ``unusable_hash``, ``closed_at`` set."""
        ...

    async def forget_secrets(self, account_id: int) -> dict[str, int]:
        """Delete what a closed account must not keep (API keys, 2FA secret and backup codes,
        notice choices, queued notices not sent yet); how many rows of each went."""
        ...
