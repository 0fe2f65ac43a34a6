"""Backups (SPEC §8): consistent snapshots packed into verified archives, retention, restore.

The archive format lives in :mod:`core.backups.archive_rules`, its tar I/O in
:mod:`core.adapters.backup_archive`; the SQLite side (the online snapshot, the checks, the file
swap) behind :class:`core.backups.ports.DatabaseFiles`. This module holds the procedures:

- Creating: an online snapshot in one step while the bot keeps writing → its checks → SHA-256
  → packed under a hidden temp name, flushed, renamed, folder flushed → the archive verified
  exactly as a restore would → BACKUP_CREATED. A crash at any point leaves at most a hidden
  ``.tmp`` file, which listing ignores and pruning removes a day later.
- Verifying: the name; the members; the manifest; the database's size and SHA-256;
  ``integrity_check``; ``foreign_key_check``; a schema version not newer than the code; the
  row counts against the manifest.
- Retention: archives older than ``retention_days`` go, except the newest one and the newest
  one that verifies.
- Restoring: :meth:`BackupService.restore`.

Archives and their folder are readable by the owner only: the database holds secrets only as
hashes and ciphertexts, but they are still nobody else's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import stat
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.accounts.ports import EndReason
from core.adapters import backup_archive as archive
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.authz import Actor, AdminRights
from core.backups.archive_rules import (
    NAME_RE,
    STAMP_FORMAT,
    TEMP_RE,
    BackupError,
    Manifest,
    Progress,
    human_size,
    parse_name,
    quiet,
)
from core.backups.ports import DatabaseCheck, DatabaseFiles
from core.backups.results import BackupInfo, RestoreIncomplete, RestoreResult
from core.clock import Clock, to_iso
from core.config import BackupSettings
from core.errors import StorageError
from core.ports import UnitOfWork

__all__ = [
    "MANUAL",
    "NIGHTLY",
    "PRE_RESTORE",
    "BackupError",
    "BackupInfo",
    "BackupService",
    "Manifest",
    "RestoreIncomplete",
    "RestoreResult",
    "human_size",
    "parse_name",
]

# Why a backup was made (the manifest's "reason").
MANUAL, NIGHTLY, PRE_RESTORE = "manual", "nightly", "pre-restore"
STALE_TEMP_AFTER = timedelta(days=1)


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
        version: str | None = None,
    ) -> None:
        self._settings = settings
        self._rights = rights
        self._uow = uow
        self._files = files
        self._audit = audit
        self._clock = clock
        self._version = version or archive.app_version()
        # Creating, pruning and restoring change the folder or the database: one at a time.
        self._lock = asyncio.Lock()
        # name -> (size, mtime, inode) when verified, and the outcome; a changed file is redone.
        self._verdicts: dict[str, tuple[tuple[int, int, int], BackupInfo]] = {}

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
                details=_created_details(info, reason),
            )
        )
        return info

    async def _create(self, reason: str, say: Progress, *, require_sound: bool) -> BackupInfo:
        """Snapshot, pack and verify (the caller holds the lock and audits).

        With ``require_sound`` False (the safety backup before a restore) a database that fails
        its checks, or cannot be read at all, is archived as it is instead of refused.
        """
        now = self._clock.now()
        directory = self.directory
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
                await asyncio.to_thread(archive.raw_copy, self._files.path, snapshot)
                check = DatabaseCheck([str(exc)], 0, None, {})
            problem = self._problem(check)
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
            )
            say(f"compressing {human_size(size)}")
            name = await asyncio.to_thread(archive.pack, directory, manifest, snapshot, say)
        finally:
            await asyncio.to_thread(archive.unlink_quietly, snapshot)
        say(f"verifying {name}")
        info = await self._verdict(name, say)
        if not info.verified and problem is None:
            # Written but not readable back: a disk problem. Never leave it to pass as a backup.
            await asyncio.to_thread(self._delete, [name])
            raise BackupError(f"{name} did not verify after writing ({info.problem}); removed")
        return info

    # --- reading ---------------------------------------------------------------------------

    async def list_backups(
        self, actor: Actor, progress: Progress | None = None
    ) -> list[BackupInfo]:
        """Every archive, newest first, each verified (an unchanged file is checked once).

        Admins only."""
        self._rights.require(actor, "backups")
        infos = []
        for name in await asyncio.to_thread(self._names):
            with contextlib.suppress(BackupError):  # removed meanwhile
                infos.append(await self._verdict(name, progress or quiet))
        return infos

    async def verify(
        self, actor: Actor, name: str, progress: Progress | None = None
    ) -> BackupInfo:
        """Verify one archive from scratch; raises :class:`BackupError` for a bad name or a
        missing file, and otherwise reports the outcome. Admins only."""
        self._rights.require(actor, "backup verify")
        self._verdicts.pop(name, None)
        return await self._verdict(name, progress or quiet)

    async def peek(self, actor: Actor, name: str) -> Manifest:
        """The manifest of an archive (cheap: nothing else is unpacked). Admins only."""
        self._rights.require(actor, "restore")
        path = self._path(name)
        return await asyncio.to_thread(archive.read_manifest, path)

    async def _verdict(self, name: str, say: Progress) -> BackupInfo:
        path = self._path(name)
        st = await asyncio.to_thread(path.stat)
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        cached = self._verdicts.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        temp = archive.temp_path(self.directory, self._clock.now(), "verify")
        try:
            manifest = await self._unpack_and_check(path, temp, say)
            info = BackupInfo(name, manifest.created_at, st.st_size, manifest, True)
        except BackupError as exc:
            try:
                known: Manifest | None = await asyncio.to_thread(archive.read_manifest, path)
            except BackupError:
                known = None
            created_at = known.created_at if known is not None else parse_name(name)[0]
            info = BackupInfo(name, created_at, st.st_size, known, False, exc.problem)
        finally:
            await asyncio.to_thread(archive.unlink_quietly, temp)
        self._verdicts[name] = (key, info)
        return info

    async def _unpack_and_check(self, path: Path, into: Path, say: Progress) -> Manifest:
        """Unpack the archive's database into the new file ``into`` and run every check."""
        manifest = await asyncio.to_thread(archive.unpack, path, into, say)
        try:
            check = await self._files.check(into)
        except StorageError as exc:
            raise BackupError(str(exc)) from None
        problem = self._problem(check, manifest)
        if problem is not None:
            raise BackupError(problem)
        return manifest

    def _problem(self, check: DatabaseCheck, manifest: Manifest | None = None) -> str | None:
        """Why a database (and its manifest) must not be restored, or None."""
        if check.integrity != ["ok"]:
            return "integrity_check failed: " + "; ".join(check.integrity[:3])
        if check.foreign_key_violations:
            return f"foreign_key_check found {check.foreign_key_violations} violation(s)"
        if check.schema_version is None:
            return "not a Verzek Guard database (it has no schema version)"
        code = self._files.code_schema_version()
        if check.schema_version > code:
            return (
                f"its schema version {check.schema_version} is newer than this code knows "
                f"({code}): upgrade Verzek Guard first"
            )
        if manifest is not None and check.schema_version != manifest.schema_version:
            return (
                f"the manifest says schema version {manifest.schema_version} but the database "
                f"has {check.schema_version}"
            )
        if manifest is not None and dict(check.row_counts) != dict(manifest.row_counts):
            return "the row counts differ from the manifest"
        return None

    # --- retention -------------------------------------------------------------------------

    async def prune(self, actor: Actor) -> list[str]:
        """Delete archives older than ``retention_days``; return their names.

        The newest archive is never deleted, and neither is the newest one that verifies, so a
        run of failed backups can never leave nothing to restore. Hidden temp files older than
        a day (left by a crash) go too. Admins only (in practice the nightly job).
        """
        self._rights.require(actor, "backup prune")
        async with self._lock:
            names = await asyncio.to_thread(self._names)
            if not names:
                return []
            keep = {names[0]}
            for name in names:
                with contextlib.suppress(BackupError):
                    if (await self._verdict(name, quiet)).verified:
                        keep.add(name)
                        break
            now = self._clock.now()
            cutoff = now - timedelta(days=self._settings.retention_days)
            doomed = [n for n in names if n not in keep and parse_name(n)[0] < cutoff]
            await asyncio.to_thread(self._delete, doomed)
            await asyncio.to_thread(self._delete_stale_temps, now - STALE_TEMP_AFTER)
            return doomed

    # --- restoring -------------------------------------------------------------------------

    async def restore(
        self,
        actor: Actor,
        name: str,
        *,
        progress: Progress | None = None,
        guard: Callable[[UnitOfWork], Awaitable[None]] | None = None,
    ) -> RestoreResult:
        """Replace the live database with archive ``name`` (SPEC §8). Admins only.

        1. Unpack the database into a temp file in the live database's own folder (flushed)
           and verify it: size and SHA-256 against the manifest, ``integrity_check``,
           ``foreign_key_check``, schema version not newer than the code, row counts. Any
           failure raises :class:`BackupError` and the live database is untouched.
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
            path = self._path(name)
            target = self._files.path
            candidate = target.parent / f".{target.name}.restore-{secrets.token_hex(4)}.tmp"
            safety: BackupInfo | None = None
            logged_out: tuple[int, ...] = ()
            installed = False
            try:
                say(f"verifying {name}")
                manifest = await self._unpack_and_check(path, candidate, say)
                try:
                    ended = await self._files.end_sessions(
                        candidate, self._clock.now(), EndReason.RESTORED, secrets.token_hex(16)
                    )
                except StorageError as exc:
                    raise BackupError(str(exc)) from None
                async with self._files.exclusive(guard) as close:
                    if target.exists():
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
            details=_created_details(safety, PRE_RESTORE),
        )

    # --- the folder ------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        """The archive called ``name``; refuses anything but a regular file in the folder."""
        parse_name(name)
        path = self.directory / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise BackupError(f"there is no backup named {name}") from None
        if not stat.S_ISREG(mode):
            raise BackupError(f"{name} is not a regular file; refused")
        return path

    def _names(self) -> list[str]:
        """Archive names, newest first; temp files and anything else are ignored."""
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        names = [
            e.name
            for e in entries
            if NAME_RE.fullmatch(e.name) and e.is_file(follow_symlinks=False)
        ]
        return sorted(names, key=parse_name, reverse=True)

    def _delete(self, names: list[str]) -> None:
        for name in names:
            archive.unlink_quietly(self.directory / name)
            self._verdicts.pop(name, None)
        if names:
            archive.fsync_dir(self.directory)

    def _delete_stale_temps(self, before: datetime) -> None:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory):
                match = TEMP_RE.fullmatch(entry.name)
                if match is None or not entry.is_file(follow_symlinks=False):
                    continue
                made = datetime.strptime(match[1], STAMP_FORMAT).replace(tzinfo=UTC)
                if made < before:
                    archive.unlink_quietly(Path(entry.path))


def _file_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"file error: {exc.strerror or exc}{where}"


def _created_details(info: BackupInfo, reason: str) -> dict[str, Any]:
    manifest = info.manifest
    return {
        "archive": info.name,
        "reason": reason,
        "size": info.size,
        "verified": info.verified,
        "schema_version": manifest.schema_version if manifest else None,
        "rows": sum(manifest.row_counts.values()) if manifest else None,
    }
