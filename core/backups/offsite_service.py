"""Copying the nightly archives off-site (SPEC §8a); see :mod:`core.backups.offsite`.

One run (after each nightly backup): record the new archive as pending, try every pending one
(the new one and those earlier runs could not copy), then apply retention to the store. The
local archive is only ever read here: a failed or refused copy leaves it as it was, and local
retention keeps its own rules. Uploads run in the store's adapter, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.authz import Actor, AdminRights
from core.backups.archive_rules import NAME_RE
from core.backups.offsite import (
    CopyStatus,
    OffsiteCopy,
    OffsiteError,
    OffsiteStore,
    OffsiteTarget,
    decide,
    remote_doomed,
)
from core.clock import Clock
from core.ports import UnitOfWork


@dataclass
class OffsiteReport:
    """What one run did; ``problems`` are what the admins must hear of."""

    target: str = ""
    sent: list[tuple[str, str]] = field(default_factory=list)  # (archive, where it is now)
    too_big: list[tuple[str, int]] = field(default_factory=list)  # (archive, size)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (archive, problem)
    removed: list[str] = field(default_factory=list)  # off-site copies past retention
    retention_problem: str | None = None

    @property
    def problems(self) -> bool:
        """True when something went wrong or was refused."""
        return bool(self.too_big or self.failed or self.retention_problem)


class OffsiteService:
    """Copies nightly archives to the configured place and prunes it."""

    def __init__(
        self,
        target: OffsiteTarget | None,
        directory: Path,
        retention_days: int,
        uow: Callable[..., UnitOfWork],
        clock: Clock,
        *,
        rights: AdminRights,
        store: OffsiteStore | None = None,
        vouch: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._target = target
        self._directory = directory
        self._retention_days = retention_days
        self._uow = uow
        self._clock = clock
        self._rights = rights
        self._store = store
        # Why an archive is not one to ship (not sealed, its manifest's MAC fails), or None:
        # a file swapped in the folder between the backup and a retry never leaves.
        self._vouch = vouch
        self._lock = asyncio.Lock()

    @property
    def target(self) -> OffsiteTarget | None:
        """Where copies go (None: nowhere)."""
        return self._target

    async def copy(
        self, actor: Actor, new_archive: str | None, store: OffsiteStore | None = None
    ) -> OffsiteReport:
        """Record ``new_archive`` as pending, copy every pending archive, prune the store.

        ``store`` replaces the one given at construction (the bot passes its Telegram sender).
        Admins only (in practice the nightly job). Never raises for a store's failure: each
        is in the report, and the archive stays pending for the next run.
        """
        self._rights.require(actor, "backup offsite")
        target, store = self._target, store or self._store
        if target is None:
            return OffsiteReport()
        report = OffsiteReport(target.describe())
        if store is None:
            report.failed.append((new_archive or "", "no off-site store is configured"))
            return report
        async with self._lock:
            where = target.describe()
            if new_archive is not None:
                size = await asyncio.to_thread(self._size, new_archive)
                if size is not None:
                    async with self._uow() as uow:
                        await uow.offsite_copies.add(
                            new_archive, where, size=size, at=self._clock.now()
                        )
                        await uow.commit()
            async with self._uow(read_only=True) as uow:
                pending = await uow.offsite_copies.pending(where)
            for copy in pending:
                await self._try(store, target, copy, report)
            if not report.failed:  # a store failing now would fail pruning too: one alert
                await self._prune(store, report)
        return report

    async def _try(
        self,
        store: OffsiteStore,
        target: OffsiteTarget,
        copy: OffsiteCopy,
        report: OffsiteReport,
    ) -> None:
        name, where = copy.archive, target.describe()
        decision = decide(copy, target, await asyncio.to_thread(self._size, name))
        ref: str | None = None
        status, problem, attempted = decision.action, decision.problem, False
        if status is CopyStatus.SENT and self._vouch is not None:
            refused = await self._vouch(name)
            if refused is not None:
                status, problem = CopyStatus.PENDING, f"not copied: {refused}"
        if status is CopyStatus.SENT:
            attempted = True
            try:
                ref = await store.put(self._directory / name, name, copy.size)
            except OffsiteError as exc:
                status, problem = CopyStatus.PENDING, exc.problem
        if status is CopyStatus.SENT and ref is not None:
            report.sent.append((name, ref))
        elif status is CopyStatus.TOO_BIG:
            report.too_big.append((name, copy.size))
        elif problem is not None:
            report.failed.append((name, problem))
        async with self._uow() as uow:
            await uow.offsite_copies.update(
                name,
                where,
                status=status,
                error=problem,
                at=self._clock.now() if status is CopyStatus.SENT else None,
                remote_ref=ref,
                attempted=attempted,
            )
            await uow.commit()

    async def _prune(self, store: OffsiteStore, report: OffsiteReport) -> None:
        try:
            names = await store.names()
            if names is None:
                return  # the store cannot list (Telegram): see core.backups.offsite
            for name in remote_doomed(names, self._clock.now(), self._retention_days):
                await store.delete(name)
                report.removed.append(name)
        except OffsiteError as exc:
            report.retention_problem = exc.problem

    def _size(self, name: str) -> int | None:
        """The archive's size, or None when it is not (or no longer) a regular file here."""
        if not NAME_RE.fullmatch(name):
            return None
        try:
            st = os.lstat(self._directory / name)
        except FileNotFoundError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None
