"""Why account operations refuse: one Reason per case (words: bot/texts/en/accounts.py)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Reason


@dataclass(frozen=True)
class EmailUnreadable(Reason):
    """Empty or too long to be an email address."""


@dataclass(frozen=True)
class EmailInvalid(Reason):
    """Not a valid email address."""


@dataclass(frozen=True)
class UnknownReferralCode(Reason):
    """No account has this referral code."""


@dataclass(frozen=True)
class TooManyAccounts(Reason):
    """This Telegram user already registered ``limit`` accounts."""

    limit: int


@dataclass(frozen=True)
class AccountNotCreated(Reason):
    """The email is taken (said without confirming that it is)."""


@dataclass(frozen=True)
class NotLoggedIn(Reason):
    """The operation needs a logged-in account and there is none."""


@dataclass(frozen=True)
class AccountGone(Reason):
    """The account was deleted meanwhile."""


@dataclass(frozen=True)
class SecondFactorNeeded(Reason):
    """The account has 2FA on and no fresh second factor came with the login."""


@dataclass(frozen=True)
class PasswordLoginLocked(Reason):
    """Too many failed password attempts: password login is paused for ``seconds``."""

    seconds: int


@dataclass(frozen=True)
class WrongPassword(Reason):
    """A re-authentication with the wrong password."""


@dataclass(frozen=True)
class PasswordUnchanged(Reason):
    """The new password is the current one."""


@dataclass(frozen=True)
class EmailUnchanged(Reason):
    """The new email is the current one."""


@dataclass(frozen=True)
class EmailUnavailable(Reason):
    """The new email belongs to another account (said without confirming that it does)."""


@dataclass(frozen=True)
class OwnReferralCode(Reason):
    """A logged-in user offered their own account's referral code (their own invite link)."""


@dataclass(frozen=True)
class SessionButtonStale(Reason):
    """A /sessions button that is not one of the presser's own current ones: copied from
    someone else, made before a logout or restore, or edited by hand. Nothing was ended."""


@dataclass(frozen=True)
class NoticeKindUnknown(Reason):
    """A /settings button named no kind of notice one may turn off (a forged or old one, or a
    security-critical notice, which always stays on)."""


@dataclass(frozen=True)
class DeletionWaitsForWithdrawals(Reason):
    """The account has ``count`` withdrawals waiting for an admin: money in flight is settled
    before the account can go."""

    count: int


@dataclass(frozen=True)
class DeletionButtonStale(Reason):
    """A "delete my account" button that is not the presser's current confirmation."""
