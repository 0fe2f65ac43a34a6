"""Who may have an admin effect: the one check every admin operation of core makes itself.

The bot's gate and each admin handler's filter already turn non-admins away; core checks again
(SPEC §10: admin effects are checked twice), so a mistake in the bot alone never grants one.
Every core operation with an admin effect takes a required :class:`Actor` (or an admin's
:class:`~core.accounts.sessions.Session`, which names its Telegram user) and calls
:meth:`AdminRights.require` before it reads or writes anything.

Actors:

* a Telegram user (``Actor.telegram``, ``Actor.of_session``): an admin only when their id is in
  ``telegram.admins``;
* the operator (``OPERATOR``): whoever runs ``verzek`` on the machine. They hold the key and
  the database file already, so the CLI acts with full rights;
* the system (``SYSTEM``): the bot's own scheduled jobs (nightly backup, pruning).

The bot never builds ``OPERATOR`` or ``SYSTEM`` from a Telegram update: handlers only have
``Actor.of_session``/``Actor.telegram`` of the sender.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from core.accounts.sessions import Session


class ActorKind(StrEnum):
    """Where a request comes from."""

    TELEGRAM = "telegram"
    OPERATOR = "operator"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who asks for an operation (named in audit events)."""

    kind: ActorKind
    telegram_user_id: int | None = None
    account_id: int | None = None

    @classmethod
    def telegram(cls, telegram_user_id: int, account_id: int | None = None) -> Actor:
        """A Telegram user, with the account of their session when they have one."""
        return cls(ActorKind.TELEGRAM, telegram_user_id, account_id)

    @classmethod
    def of_session(cls, session: Session) -> Actor:
        """The Telegram user behind a live session."""
        return cls(ActorKind.TELEGRAM, session.telegram_user_id, session.account_id)


OPERATOR = Actor(ActorKind.OPERATOR)
SYSTEM = Actor(ActorKind.SYSTEM)


class NotAdmin(Exception):
    """An admin operation was asked for by someone who is not an admin. Nothing was done.

    Not a :class:`~core.errors.UserError`: the bot answers with its neutral "not allowed",
    never with details of what was refused.
    """

    def __init__(self, operation: str, actor: Actor) -> None:
        super().__init__(f"{operation} refused: {actor.kind} actor is not an admin")
        self.operation = operation
        self.actor = actor


class AdminRights:
    """The admin list (``telegram.admins``) and the one check against it."""

    def __init__(self, admins: Iterable[int]) -> None:
        self._admins = frozenset(admins)

    def is_admin(self, actor: Actor) -> bool:
        """True for the operator, the system, and Telegram users in ``telegram.admins``."""
        if actor.kind in (ActorKind.OPERATOR, ActorKind.SYSTEM):
            return True
        return actor.telegram_user_id is not None and actor.telegram_user_id in self._admins

    def require(self, actor: Actor, operation: str) -> None:
        """Raise :class:`NotAdmin` unless ``actor`` may perform the admin ``operation``."""
        if not self.is_admin(actor):
            raise NotAdmin(operation, actor)

    def require_session(self, session: Session, operation: str) -> Actor:
        """:meth:`require` for an admin acting through their session; returns the actor."""
        actor = Actor.of_session(session)
        self.require(actor, operation)
        return actor
