"""Why two-factor operations refuse: one Reason per case (words: bot/texts/en/twofactor.py)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Reason


@dataclass(frozen=True)
class TwoFactorAlreadyOn(Reason):
    """Enrolment asked while 2FA is on (``see_status``: point to the status view)."""

    see_status: bool = False


@dataclass(frozen=True)
class EnrolFirst(Reason):
    """A first code arrived without an enrolment started."""


@dataclass(frozen=True)
class FirstCodeMismatch(Reason):
    """The enrolment's first code did not match the new secret."""


@dataclass(frozen=True)
class TwoFactorNotOn(Reason):
    """A code was asked of an account without 2FA."""


@dataclass(frozen=True)
class CodeEntryPaused(Reason):
    """Too many wrong codes: code entry is paused for ``seconds``."""

    seconds: int


@dataclass(frozen=True)
class CodeReplayed(Reason):
    """The TOTP step was already used."""


@dataclass(frozen=True)
class CodeWrong(Reason):
    """Neither a current TOTP code nor an unused backup code."""
