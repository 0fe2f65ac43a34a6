"""This instance's part in the one-job-leader scheme: take, renew and give back the lease.

The rules and records are :mod:`core.leases`; the bot asks :meth:`Leadership.leads` before
each scheduled job (bot/jobs/leader.py) and renews every :data:`~core.leases.RENEW_EVERY`.
"""

from __future__ import annotations

import logging
import os
import platform
import secrets
from collections.abc import Callable
from datetime import timedelta

from core.clock import Clock
from core.leases import JOBS, LEASE_TTL, RENEW_EVERY, Lease, next_lease
from core.ports import UnitOfWork

logger = logging.getLogger(__name__)


def instance_name() -> str:
    """This process's holder id: host, process id and a random part (a restarted process
    with a reused pid is someone else)."""
    return f"{platform.node()}:{os.getpid()}:{secrets.token_hex(4)}"


class Leadership:
    """Whether this instance runs the scheduled jobs now (see the module docstring)."""

    def __init__(
        self,
        uow: Callable[..., UnitOfWork],
        clock: Clock,
        holder: str,
        *,
        name: str = JOBS,
        ttl: timedelta = LEASE_TTL,
        renew_before: timedelta = RENEW_EVERY,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.holder = holder
        self._name = name
        self._ttl = ttl
        self._renew_before = renew_before
        self._seen: Lease | None = None  # the lease as last read or written

    @classmethod
    def lasting(
        cls, uow: Callable[..., UnitOfWork], clock: Clock, holder: str, seconds: int
    ) -> Leadership:
        """Leadership over a lease of ``seconds`` (``jobs.lease_seconds``), renewed every
        third of it: a dead leader is replaced within about ``seconds``."""
        ttl = timedelta(seconds=seconds)
        return cls(uow, clock, holder, ttl=ttl, renew_before=ttl / 3)

    async def leads(self) -> bool:
        """True when this instance holds the lease. Answered from memory while the lease
        is known to run (ours with time to spare, or another's not yet ended); otherwise
        the database is asked (and the lease taken or renewed when it may be)."""
        seen, now = self._seen, self._clock.now()
        if seen is not None:
            if seen.holder == self.holder and now < seen.expires_at - self._renew_before:
                return True
            if seen.holder != self.holder and now < seen.expires_at:
                return False
        return await self.renew()

    async def renew(self) -> bool:
        """Take or renew the lease if :func:`next_lease` allows; True when held after."""
        now = self._clock.now()
        written = False
        async with self._uow() as uow:
            current = await uow.leases.get(self._name)
            wanted = next_lease(self._name, current, self.holder, now, self._ttl)
            if wanted is not None:
                written = (
                    await uow.leases.create(wanted)
                    if current is None
                    else await uow.leases.replace(current, wanted)
                )
                if written:
                    await uow.commit()
        was = self._seen is not None and self._seen.holder == self.holder
        # A lost compare-and-set (another wrote between) leaves nothing known: ask next time.
        self._seen = wanted if written else (current if wanted is None else None)
        held = self._seen is not None and self._seen.holder == self.holder
        if held != was:
            logger.info(
                "%s the scheduled jobs (%s)",
                "this instance now runs" if held else "another instance runs",
                self.holder if held else (self._seen.holder if self._seen else "nobody"),
            )
        return held

    async def release(self) -> None:
        """Give the lease back (at shutdown), so another instance takes over at once."""
        seen = self._seen
        if seen is None or seen.holder != self.holder:
            return
        now = self._clock.now()
        async with self._uow() as uow:
            ended = Lease(seen.name, seen.holder, min(now, seen.expires_at))
            if await uow.leases.replace(seen, ended):
                await uow.commit()
        self._seen = None
        logger.info("scheduled jobs handed back (%s)", self.holder)
