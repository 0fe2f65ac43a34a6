"""The password policy (SPEC §4), pure: length, no email name, zxcvbn strength, and why a
password is refused (words: bot/texts/en/accounts.py).

zxcvbn is CPU-heavy but does no I/O: :class:`core.adapters.passwords.PasswordService` runs
:func:`policy_problem` in its thread pool, off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from zxcvbn import zxcvbn

from core.errors import Reason

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3


@dataclass(frozen=True)
class PasswordTooShort(Reason):
    """Fewer than ``minimum`` characters (``length`` given)."""

    minimum: int
    length: int


@dataclass(frozen=True)
class PasswordTooLong(Reason):
    """More than ``maximum`` characters."""

    maximum: int


@dataclass(frozen=True)
class PasswordHasEmailName(Reason):
    """The password contains the name part of the account's email address."""


@dataclass(frozen=True)
class PasswordGuessable(Reason):
    """zxcvbn scores it too low; ``hints`` are zxcvbn's own feedback (its warning first)."""

    hints: tuple[str, ...] = ()


def policy_problem(password: str, email: str) -> Reason | None:
    """Why ``password`` is not acceptable for the account ``email``; None when it is."""
    if len(password) < MIN_LENGTH:
        return PasswordTooShort(MIN_LENGTH, len(password))
    if len(password) > MAX_LENGTH:
        return PasswordTooLong(MAX_LENGTH)
    local = email.split("@", 1)[0].lower()
    if len(local) >= 3 and local in password.lower():
        return PasswordHasEmailName()
    result = zxcvbn(password, user_inputs=[email, local], max_length=MAX_LENGTH)
    if result["score"] < MIN_SCORE:
        feedback = result.get("feedback") or {}
        hints = [feedback.get("warning") or "", *feedback.get("suggestions", [])]
        return PasswordGuessable(tuple(part for part in hints if part))
    return None
