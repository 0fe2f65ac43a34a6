"""The numbers an admin checks first (/stats)."""

from __future__ import annotations

from collections.abc import Callable

from core.audit.ports import PlatformStats
from core.authz import Actor, AdminRights
from core.clock import Clock
from core.ports import UnitOfWork


class StatsService:
    """Reads platform-wide counts."""

    def __init__(
        self, uow_factory: Callable[..., UnitOfWork], clock: Clock, rights: AdminRights
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._rights = rights

    async def snapshot(self, actor: Actor) -> PlatformStats:
        """Users, active licenses, pending payments and alerts since 00:00 UTC today (admins
        only)."""
        self._rights.require(actor, "stats")
        now = self._clock.now()
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        async with self._uow(read_only=True) as uow:
            return await uow.stats.snapshot(now=now, day_start=day_start)
