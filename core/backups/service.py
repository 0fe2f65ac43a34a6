"""Backups (SPEC §8, §8a): sealed snapshots in verified archives, retention, restore, drill.

The archive format lives in :mod:`core.backups.archive_rules`, its tar and age I/O in
:mod:`core.adapters.backup_archive`; the SQLite side (the online snapshot, the checks, the file
swap) behind :class:`core.backups.ports.DatabaseFiles`. Verifying is
:mod:`core.backups.verdicts`, the checks of a candidate :mod:`core.backups.checks`, the folder
:mod:`core.backups.folder`. This module holds the procedures:

- Creating: an online snapshot in one step while the bot keeps writing → every check →
  SHA-256 → gzipped and sealed (age) under a hidden temp name, flushed, renamed, folder
  flushed → the archive verified exactly as a restore would → BACKUP_CREATED → the
  "archive written" hooks (:data:`ArchiveWritten`: off-site copies, the audit anchor). A crash
  at any point leaves at most a hidden ``.tmp`` file, which listing ignores and pruning
  removes a day later.
- Retention: archives older than ``retention_days`` go, except the newest one and the newest
  one that verifies.
- Restoring: :meth:`BackupService.restore`; the drill: :meth:`BackupService.drill`.

Archives and their folder are readable by the owner only, and the database inside is sealed:
someone with the folder but not the master key can neither read nor forge one.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

from core.accounts.ports import EndReason
from core.adapters import backup_archive as archive
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.authz import Actor, AdminRights
from core.backups.archive_rules import (
    BackupError,
    Manifest,
    Progress,
    UnsealedArchive,
    human_size,
    parse_name,
    quiet,
)
from core.backups.checks import CandidateChecks, ChainVerifier
from core.backups.events import created_details, drill_event
from core.backups.folder import ArchiveFolder
from core.backups.ports import DatabaseCheck, DatabaseFiles
from core.backups.results import BackupInfo, DrillResult, RestoreIncomplete, RestoreResult
from core.backups.sealing import Seals, SealSource
from core.backups.verdicts import ArchiveVerifier
from core.clock import Clock, to_iso
from core.config import BackupSettings
from core.errors import StorageError
from core.ports import UnitOfWork

__all__ = [
    "MANUAL",
    "NIGHTLY",
    "PRE_RESTORE",
    "ArchiveWritten",
    "BackupError",
    "BackupInfo",
    "BackupService",
    "DrillResult",
    "Manifest",
    "RestoreIncomplete",
    "RestoreResult",
    "UnsealedArchive",
    "human_size",
    "parse_name",
]

# Why a backup was made (the manifest's "reason").
MANUAL, NIGHTLY, PRE_RESTORE = "manual", "nightly", "pre-restore"
STALE_TEMP_AFTER = timedelta(days=1)
# Called once an archive is written, verified and audited, with its description and why it was
# made (off-site copies, the audit anchor hook in here). A hook handles its own failures: one
# that raises makes ``create`` raise, though the archive exists and stays.
ArchiveWritten = Callable[[BackupInfo, str], Awaitable[None]]


class BackupService:
    """Creates, lists, verifies, prunes and restores backups of the one database file."""

    def __init__(
        self,
        settings: BackupSettings,
        files: DatabaseFiles,
        audit: AuditLog,
        clock: Clock,
        *,
        rights: AdminRights,
        uow: Callable[..., UnitOfWork],
        seal: SealSource,
        verify_chain: ChainVerifier,
        after_written: Sequence[ArchiveWritten] = (),
        version: str | None = None,
    ) -> None:
        self._settings = settings
        self._rights = rights
        self._uow = uow
        self._files = files
        self._audit = audit
        self._clock = clock
        self._version = version or archive.app_version()
        self._after_written = tuple(after_written)
        # Creating, pruning and restoring change the folder or the database: one at a time.
        self._lock = asyncio.Lock()
        self._folder = ArchiveFolder(settings.dir)
        self._seals = Seals(seal)
        self._checks = CandidateChecks(files, verify_chain)
        self._verifier = ArchiveVerifier(self._folder, self._checks, self._seals, clock)

    @property
    def directory(self) -> Path:
        """Where the archives are."""
        return self._settings.dir

    # --- creating --------------------------------------------------------------------------

    async def create(
        self,
        actor: Actor,
        *,
        reason: str = MANUAL,
        progress: Progress | None = None,
    ) -> BackupInfo:
        """Back up the live database now (the bot may keep writing); audit BACKUP_CREATED.

        Admins only (:class:`~core.authz.NotAdmin` otherwise). Raises :class:`BackupError` when
        the database fails its checks or the archive does not verify after writing; nothing is
        left behind then.
        """
        self._rights.require(actor, "backup")
        async with self._lock:
            try:
                info = await self._create(reason, progress or quiet, require_sound=True)
            except OSError as exc:
                raise BackupError(_file_error(exc)) from None
        await self._audit.record(
            AuditEvent(
                EventType.BACKUP_CREATED,
                account_id=actor.account_id,
                telegram_user_id=actor.telegram_user_id,
                details=created_details(info, reason),
            )
        )
        await self._archive_written(info, reason)
        return info

    async def _archive_written(self, info: BackupInfo, reason: str) -> None:
        """The step after an archive is written, verified and audited: every hook, in order
        (the hooks are the composition root's ``after_written``)."""
        for hook in self._after_written:
            await hook(info, reason)

    async def _create(self, reason: str, say: Progress, *, require_sound: bool) -> BackupInfo:
        """Snapshot, pack and verify (the caller holds the lock and audits).

        With ``require_sound`` False (the safety backup before a restore) a database that fails
        its checks, or cannot be read at all, is archived as it is instead of refused.
        """
        now = self._clock.now()
        directory = self.directory
        seal = self._seals.get()  # no key, no backup: refused before anything is written
        await asyncio.to_thread(archive.ensure_dir, directory)
        snapshot = archive.temp_path(directory, now, "snapshot")
        try:
            say(f"taking a consistent snapshot of {self._files.path}")
            try:
                await self._files.snapshot(snapshot)
                check = await self._files.check(snapshot)
            except StorageError as exc:
                if require_sound:
                    raise BackupError(f"cannot snapshot the database: {exc}") from None
                # The database being replaced cannot be read: keep its file's bytes as they are.
                say("the database cannot be read; archiving its file as it is")
                await asyncio.to_thread(archive.unlink_quietly, snapshot)
                try:
                    await self._files.raw_copy(snapshot)
                except StorageError as copy_failed:
                    raise BackupError(f"cannot copy the database: {copy_failed}") from None
                check = DatabaseCheck([str(exc)], 0, None, {})
            problem = self._checks.basic_problem(check)
            if problem is None:
                try:
                    await self._checks.trust(snapshot, check.schema_version or 0)
                except BackupError as exc:
                    problem = exc.problem
            if problem is not None and require_sound:
                raise BackupError(f"the database fails its checks ({problem}); no backup was made")
            size, digest = await asyncio.to_thread(archive.sha256_file, snapshot)
            manifest = Manifest(
                created_at=now,
                reason=reason,
                schema_version=check.schema_version or 0,
                app_version=self._version,
                db_size=size,
                db_sha256=digest,
                row_counts=check.row_counts,
                engine=self._files.engine,
            )
            say(f"compressing and sealing {human_size(size)}")
            name = await asyncio.to_thread(
                lambda: archive.pack(
                    directory, manifest, snapshot, say, seal=seal.age, mac_key=seal.mac_keys[0]
                )
            )
        finally:
            await asyncio.to_thread(archive.unlink_quietly, snapshot)
        say(f"verifying {name}")
        info = await self._verifier.verdict(name, say)
        if not info.verified and problem is None:
            # Written but not readable back: a disk problem. Never leave it to pass as a backup.
            await asyncio.to_thread(self._delete, [name])
            raise BackupError(f"{name} did not verify after writing ({info.problem}); removed")
        return info

    # --- reading ---------------------------------------------------------------------------

    async def list_backups(
        self, actor: Actor, progress: Progress | None = None
    ) -> list[BackupInfo]:
        """Every archive, newest first, each verified (an unchanged file is checked once);
        archives made before sealing are listed as not verifying (``unsealed`` set).

        Admins only."""
        self._rights.require(actor, "backups")
        infos = []
        for name in await asyncio.to_thread(self._folder.names):
            with contextlib.suppress(BackupError):  # removed meanwhile
                infos.append(await self._verifier.verdict(name, progress or quiet))
        return infos

    async def verify(
        self,
        actor: Actor,
        name: str,
        progress: Progress | None = None,
        *,
        allow_unsealed: bool = False,
    ) -> BackupInfo:
        """Verify one archive from scratch; raises :class:`BackupError` for a bad name or a
        missing file, and otherwise reports the outcome. ``allow_unsealed`` (the command
        line's ``--allow-unsealed``, never Telegram's) checks an archive made before sealing
        instead of refusing it. Admins only."""
        self._rights.require(actor, "backup verify")
        self._verifier.forget(name)
        return await self._verifier.verdict(name, progress or quiet, allow_unsealed=allow_unsealed)

    async def peek(self, actor: Actor, name: str) -> Manifest:
        """The manifest of an archive, once its MAC is checked (cheap: nothing else is
        unpacked); raises :class:`UnsealedArchive` for one made before sealing. Admins only."""
        self._rights.require(actor, "restore")
        return await self._verifier.manifest(name)

    async def sealed_problem(self, actor: Actor, name: str) -> str | None:
        """Why ``name`` is not a sealed archive this key made (its manifest's MAC and time;
        cheap, nothing is unpacked), or None. What leaves the machine must pass this. Admins
        only (in practice the off-site copy)."""
        self._rights.require(actor, "backup offsite")
        try:
            await self._verifier.manifest(name)
        except BackupError as exc:
            return exc.problem
        except OSError as exc:
            return _file_error(exc)
        return None

    async def drill(
        self, actor: Actor, progress: Progress | None = None, *, audit: bool = True
    ) -> DrillResult:
        """The restore drill: the newest archive restored into a temp file and put through
        every check of a real restore, its sessions ended as a restore would; nothing is
        swapped. The outcome is audited (BACKUP_DRILL) unless ``audit`` is False (the command
        line drilling a folder with no database next to it). Raises :class:`BackupError` when
        there is no archive at all. Admins only."""
        self._rights.require(actor, "backup drill")
        say = progress or quiet
        names = await asyncio.to_thread(self._folder.names)
        if not names:
            raise BackupError(f"there is no backup in {self.directory} to drill")
        name = names[0]
        self._verifier.forget(name)
        path = self._folder.path(name)
        size = (await asyncio.to_thread(path.stat)).st_size
        temp = archive.temp_path(self.directory, self._clock.now(), "drill")
        try:
            say(f"restoring {name} into a temp file")
            manifest = await self._verifier.unpack_and_check(name, path, temp, say)
            await self._files.end_sessions(temp, self._clock.now(), EndReason.RESTORED)
            info = BackupInfo(name, manifest.created_at, size, manifest, True)
        except (BackupError, StorageError) as exc:
            info = await self._verifier.verdict(name, quiet)
            if info.verified:  # the checks passed the second time: report the first failure
                problem = exc.problem if isinstance(exc, BackupError) else str(exc)
                info = BackupInfo(name, info.created_at, size, info.manifest, False, problem)
        finally:
            await asyncio.to_thread(archive.unlink_quietly, temp)
        await asyncio.to_thread(self._folder.mark_drill, self._clock.now())
        if audit:
            await self._audit.record(drill_event(actor, info))
        return DrillResult(info)

    async def drill_due(self, actor: Actor) -> bool:
        """True when the last restore drill is ``drill_days`` old or more (or never ran);
        False when the drill is off (``drill_days = 0``). Admins only."""
        self._rights.require(actor, "backup drill")
        if not self._settings.drill_days:
            return False
        last = await asyncio.to_thread(self._folder.last_drill)
        return last is None or self._clock.now() - last >= timedelta(days=self._settings.drill_days)

    # --- retention -------------------------------------------------------------------------

    async def prune(self, actor: Actor) -> list[str]:
        """Delete archives older than ``retention_days``; return their names.

        The newest archive is never deleted, and neither is the newest one that verifies, so a
        run of failed backups can never leave nothing to restore. Hidden temp files older than
        a day (left by a crash) go too. Admins only (in practice the nightly job).
        """
        self._rights.require(actor, "backup prune")
        async with self._lock:
            names = await asyncio.to_thread(self._folder.names)
            if not names:
                return []
            keep = {names[0]}
            for name in names:
                with contextlib.suppress(BackupError):
                    if (await self._verifier.verdict(name, quiet)).verified:
                        keep.add(name)
                        break
            now = self._clock.now()
            cutoff = now - timedelta(days=self._settings.retention_days)
            doomed = [n for n in names if n not in keep and parse_name(n)[0] < cutoff]
            await asyncio.to_thread(self._delete, doomed)
            await asyncio.to_thread(self._folder.delete_stale_temps, now - STALE_TEMP_AFTER)
            return doomed

    # --- restoring -------------------------------------------------------------------------

    async def restore(
        self,
        actor: Actor,
        name: str,
        *,
        progress: Progress | None = None,
        guard: Callable[[UnitOfWork], Awaitable[None]] | None = None,
        allow_unsealed: bool = False,
    ) -> RestoreResult:
        """Replace the live database with archive ``name`` (SPEC §8, §8a). Admins only.

        1. Unpack the database into a temp file in the live database's own folder (flushed)
           and verify it as :mod:`core.backups.verdicts` does: the manifest's MAC, every age
           chunk, size and SHA-256 against the manifest, ``integrity_check``,
           ``foreign_key_check``, schema version not newer than the code, row counts, the
           schema equal to the migrations' for its version, the audit chain. Any failure
           raises :class:`BackupError` and the live database is untouched. An archive made
           before sealing is refused (:class:`UnsealedArchive`) unless ``allow_unsealed``
           (the command line's ``--allow-unsealed``; the bot never passes it).
        2. End every live session in that copy: sessions ended since the backup was taken (a
           logout, a password change after a compromise) must not come back. Everyone logs in
           again, the admin doing the restore included.
        3. Hold off every unit of work; take a safety backup of the live database (archived as
           it is even when damaged; without one, no restore); close every connection.
        4. Delete the live file's ``-wal``/``-shm``, ``os.replace`` the copy into place, fsync
           the folder (refused, changing nothing, while another process has the file open).
        5. Reopen (migrating an older schema) and audit BACKUP_RESTORED in the restored
           database, after the safety backup's BACKUP_CREATED.

        The copy is unpacked once, before the pause, so the file installed is byte for byte
        the file that was verified, and the bot pauses only for steps 3–5.

        ``guard`` (the admin's session and proof check, see ``SessionService.require_live``)
        runs at the start of step 3 on the live database, with every other unit of work held
        off; raising refuses the restore with nothing changed. Step 2 also gives every
        account a new security stamp, so no flow or login begun before the restore finishes.
        """
        self._rights.require(actor, "restore")
        account_id, telegram_user_id = actor.account_id, actor.telegram_user_id
        say = progress or quiet
        async with self._lock:
            path = self._folder.path(name)
            target = self._files.path
            candidate = target.parent / f".{target.name}.restore-{secrets.token_hex(4)}.tmp"
            safety: BackupInfo | None = None
            logged_out: tuple[int, ...] = ()
            installed = False
            try:
                say(f"verifying {name}")
                manifest = await self._verifier.unpack_and_check(
                    name, path, candidate, say, allow_unsealed=allow_unsealed
                )
                try:
                    ended = await self._files.end_sessions(
                        candidate, self._clock.now(), EndReason.RESTORED, secrets.token_hex(16)
                    )
                except StorageError as exc:
                    raise BackupError(str(exc)) from None
                async with self._files.exclusive(guard) as close:
                    if self._files.live_exists():
                        say("taking a safety backup of the current database")
                        safety = await self._create(PRE_RESTORE, say, require_sound=False)
                        logged_out = await self._logged_in_now(target)
                        # What was delivered since the backup must not be sent again.
                        with contextlib.suppress(StorageError):  # damaged: better twice than never
                            await self._files.carry_deliveries(target, candidate)
                    say("closing the database")
                    await close()
                    say(f"putting {name} in place")
                    try:
                        await self._files.install(candidate)
                    except StorageError as exc:
                        raise BackupError(f"{exc}. Nothing was changed.") from None
                    installed = True
                    say("reopening the database")
            except Exception as exc:
                if installed:
                    where = f"; the previous data is in {safety.name}" if safety else ""
                    raise RestoreIncomplete(
                        f"{name} was put in place but the database did not reopen ({exc}){where}"
                    ) from exc
                if safety is not None:  # refused after the safety backup: it exists all the same
                    await self._audit.record(
                        self._safety_event(safety, account_id, telegram_user_id)
                    )
                if isinstance(exc, OSError):
                    raise BackupError(f"{_file_error(exc)}. Nothing was changed.") from None
                raise
            finally:
                await asyncio.to_thread(archive.unlink_quietly, candidate)
        if safety is not None:
            await self._audit.record(self._safety_event(safety, account_id, telegram_user_id))
        restored = AuditEvent(
            EventType.BACKUP_RESTORED,
            Severity.WARNING,
            account_id=account_id,
            telegram_user_id=telegram_user_id,
            details={
                "archive": name,
                "archive_created_at": to_iso(manifest.created_at),
                "schema_version": manifest.schema_version,
                "safety_backup": safety.name if safety else None,
                "sessions_ended": ended,
            },
        )
        # Everyone the restore logged out is told why by the bot's outbox job, also when the
        # restore ran from the command line with the bot stopped (the one who ran it knows).
        told = [user for user in logged_out if user != telegram_user_id]
        async with self._uow() as uow:
            await self._audit.append(uow, restored)
            await uow.restore_notices.add(
                told,
                archive_created_at=manifest.created_at,
                at=self._clock.now(),
            )
            await uow.commit()
        return RestoreResult(name, manifest, safety.name if safety else None, ended, logged_out)

    async def _logged_in_now(self, target: Path) -> tuple[int, ...]:
        """Who is logged in to the live database (units of work are held off, so nobody logs
        in meanwhile). A damaged file, which a restore is also for, just yields nobody."""
        try:
            users = await self._files.live_session_users(target, self._clock.now())
        except StorageError:
            return ()
        return tuple(users)

    @staticmethod
    def _safety_event(
        safety: BackupInfo, account_id: int | None, telegram_user_id: int | None
    ) -> AuditEvent:
        return AuditEvent(
            EventType.BACKUP_CREATED,
            account_id=account_id,
            telegram_user_id=telegram_user_id,
            details=created_details(safety, PRE_RESTORE),
        )

    # --- the folder ------------------------------------------------------------------------

    def _delete(self, names: list[str]) -> None:
        self._folder.delete(names)
        for name in names:
            self._verifier.forget(name)


def _file_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"file error: {exc.strerror or exc}{where}"
