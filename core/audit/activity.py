"""Reading the audit trail: a user's own events (/activity) and an admin's view (/audit).

Users only ever get events whose ``account_id`` is the account of their own live session;
nothing a user sends (a forged button included) can name another account, because the account
comes from the session and pages are cursors *within* that account's events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from core.accounts.service import normalise_email
from core.audit.log import AuditEvent, AuditLog, EventType
from core.audit.ports import AuditRow
from core.authz import Actor, AdminRights
from core.errors import UserError
from core.ids import parse_id
from core.ports import UnitOfWork

ACTIVITY_PAGE = 10
AUDIT_PAGE = 20


TargetKind = Literal["account", "telegram"]


@dataclass(frozen=True)
class Page:
    """Events newest first, and whether there are more on either side."""

    events: list[AuditRow]
    has_older: bool
    has_newer: bool

    @property
    def oldest_id(self) -> int | None:
        """Id of the oldest event shown (the cursor for "Older")."""
        return self.events[-1].id if self.events else None

    @property
    def newest_id(self) -> int | None:
        """Id of the newest event shown (the cursor for "Newer")."""
        return self.events[0].id if self.events else None


@dataclass(frozen=True)
class AuditTarget:
    """Whose events an admin asked for."""

    kind: TargetKind
    id: int
    email: str | None = None


class ActivityService:
    """Pages of audit events by account or Telegram user."""

    def __init__(
        self, uow_factory: Callable[..., UnitOfWork], audit: AuditLog, rights: AdminRights
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._rights = rights

    async def own_page(
        self, account_id: int, *, before_id: int | None = None, after_id: int | None = None
    ) -> Page:
        """A page of the account's own events (the caller passes the session's account)."""
        return await self._page(
            AuditTarget("account", account_id), ACTIVITY_PAGE, before_id, after_id
        )

    async def target_page(
        self,
        actor: Actor,
        target: AuditTarget,
        *,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> Page:
        """A page of any account's or Telegram user's events (admins only)."""
        self._rights.require(actor, "/audit")
        return await self._page(target, AUDIT_PAGE, before_id, after_id)

    async def resolve_target(self, actor: Actor, text: str) -> AuditTarget:
        """``EMAIL``, ``ACCOUNT_ID`` or ``tg:TELEGRAM_USER_ID`` → the target; UserError when
        there is no such account. A number that is no account id means a Telegram user.
        Admins only (whether an email has an account is nobody else's business)."""
        self._rights.require(actor, "/audit")
        raw = text.strip()
        lowered = raw.lower()
        if lowered.startswith("tg:") and (telegram_id := parse_id(lowered[3:])) is not None:
            return AuditTarget("telegram", telegram_id)
        async with self._uow(read_only=True) as uow:
            if (number := parse_id(raw)) is not None:
                user = await uow.accounts.by_id(number)
                if user is None:
                    return AuditTarget("telegram", number)
                return AuditTarget("account", user.id, user.email)
            user = await uow.accounts.by_email(normalise_email(raw))
        if user is None:
            raise UserError("There is no account with that email.")
        return AuditTarget("account", user.id, user.email)

    async def record_admin_view(self, actor: Actor, target: AuditTarget) -> None:
        """Audit that an admin opened someone's trail (reading it is sensitive too)."""
        self._rights.require(actor, "/audit")
        await self._audit.record(
            AuditEvent(
                EventType.ADMIN_ACTION,
                telegram_user_id=actor.telegram_user_id,
                details={
                    "action": "/audit",
                    "outcome": "allowed",
                    "target": f"{target.kind}:{target.id}",
                },
            )
        )

    async def account_target(self, actor: Actor, account_id: int) -> AuditTarget:
        """The target for an account id (used when paging; the email may have changed).
        Admins only."""
        self._rights.require(actor, "/audit")
        async with self._uow(read_only=True) as uow:
            user = await uow.accounts.by_id(account_id)
        return AuditTarget("account", account_id, user.email if user else None)

    async def _page(
        self, target: AuditTarget, size: int, before_id: int | None, after_id: int | None
    ) -> Page:
        who = (
            {"account_id": target.id}
            if target.kind == "account"
            else {"telegram_user_id": target.id}
        )
        async with self._uow(read_only=True) as uow:
            search = uow.audit_search
            events = await search.page(
                limit=size,
                before_id=before_id if after_id is None else None,
                after_id=after_id,
                **who,
            )
            if not events and after_id is not None:
                # Nothing newer than the cursor: show the newest page instead.
                events = await search.page(limit=size, **who)
            if not events:
                return Page([], False, False)
            older = await search.page(limit=1, before_id=events[-1].id, **who)
            newer = await search.page(limit=1, after_id=events[0].id, **who)
        return Page(events, bool(older), bool(newer))
