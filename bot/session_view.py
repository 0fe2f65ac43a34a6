"""How a session's two limits read to its owner (after login, registration and in /me)."""

from __future__ import annotations

from bot import texts
from bot.wording import count
from core.accounts.sessions import Session

TIME_FORMAT = "%Y-%m-%d %H:%M"


def session_limits(session: Session, idle_minutes: int) -> str:
    """Both limits, each as it really is: the idle end (which activity moves) and the absolute
    end (which nothing moves), as UTC times."""
    return texts.SESSION_LIMITS.format(
        idle=count(idle_minutes, "minute"),
        idle_end=session.expires_at.strftime(TIME_FORMAT),
        absolute_end=session.ends_at_latest.strftime(TIME_FORMAT),
    )
