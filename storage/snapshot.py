"""SQLite mechanics of backups: the online snapshot, checks of a copy, and the restore swap.

:mod:`core.backups` holds the procedure; this module holds everything that speaks SQL or knows
SQLite's files, behind :class:`core.backups.ports.DatabaseFiles`. The functions block and run in a
worker thread (``asyncio.to_thread``) on connections of their own, so the bot's connection
keeps serving while a snapshot is taken or a copy is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path

from core.accounts.ports import EndReason
from core.backups.archive_rules import SQLITE
from core.backups.ports import DatabaseCheck, SchemaObject
from core.errors import StorageError
from core.ports import UnitOfWork
from storage.columns import stored_time
from storage.database import Database
from storage.migrator import code_schema_version
from storage.restore_checks import candidate_units, reference_schema, schema_of

# Files SQLite keeps next to a database; a leftover one would be applied to the restored file.
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
INTEGRITY_MESSAGES = 20  # how many problems integrity_check reports before stopping
BUSY_TIMEOUT_S = 10.0
IN_USE_TIMEOUT_S = 1.0


def _connect(path: Path, *, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection to an existing file (never creates one), in autocommit mode."""
    if not path.is_file():
        raise StorageError(f"no database file at {path}")
    uri = f"{path.resolve().as_uri()}?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    # A copy being checked or prepared may hold planted triggers and views: they may not call
    # functions with side effects (SPEC §8a).
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames and deletions in a folder durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def snapshot_file(source: Path, dest: Path) -> None:
    """Copy ``source`` into the new file ``dest`` with the online backup API, in one step.

    ``pages=-1`` copies every page under a single read transaction: in WAL mode writers keep
    committing meanwhile and the copy is the database as of the step's start. A stepwise copy
    restarts whenever another connection writes between steps, so under steady writes it may
    never finish. The copy is switched to rollback-journal mode, which makes it one
    self-contained file, and flushed to disk.
    """
    if dest.exists():
        raise StorageError(f"{dest} already exists")
    src = _connect(source)
    try:
        dst = sqlite3.connect(dest, isolation_level=None)
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StorageError(f"snapshot of {source} failed: {exc}") from None
    finally:
        src.close()
    fsync_file(dest)


def copy_raw(source: Path, dest: Path) -> None:
    """Copy a file byte for byte into the new file ``dest`` (owner only, flushed)."""
    try:
        with (
            source.open("rb") as src,
            os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out,
        ):
            shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise StorageError(f"cannot copy {source}: {exc.strerror or exc}") from None


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\' ORDER BY name"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_file(path: Path) -> DatabaseCheck:
    """Integrity, foreign keys, schema version and row counts of a database file.

    Meant for copies (snapshots, restore candidates), never the live file: it is opened
    read-write because a WAL-mode copy cannot be read otherwise, but ``query_only`` refuses
    any change.
    """
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        raise StorageError(f"not a readable SQLite database ({exc})") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        integrity = [
            str(row[0])
            for row in conn.execute(f"PRAGMA integrity_check({INTEGRITY_MESSAGES})").fetchall()
        ]
        violations = len(conn.execute("PRAGMA foreign_key_check").fetchall())
        tables = _tables(conn)
        version: int | None = None
        if "schema_migrations" in tables:
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
            version = int(row[0]) if row else 0
        counts = {
            table: int(conn.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()[0])  # noqa: S608
            for table in tables
        }
    except sqlite3.Error as exc:
        raise StorageError(f"not a readable SQLite database ({exc})") from None
    finally:
        conn.close()
    return DatabaseCheck(integrity, violations, version, counts)


def end_live_sessions(path: Path, at: str, reason: str, new_stamp: str = "") -> int:
    """End every live session in the (not live) database file at ``path``; return how many.

    A restored file carries the sessions of its day: ones ended since (a logout, a password
    change after a compromise) would otherwise come back to life. With ``new_stamp``, every
    account also gets that security stamp, so no flow or login attempt begun before the
    restore can finish after it.
    """
    conn = _connect(path)
    try:
        tables = _tables(conn)
        if "sessions" not in tables:
            return 0
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL",
            (at, reason),
        )
        ended = max(cursor.rowcount, 0)
        if new_stamp and "account_security" in tables:
            conn.execute(
                "INSERT INTO account_security (account_id, stamp, stamp_reason, stamp_at)"
                " SELECT id, ?, ?, ? FROM users WHERE true ON CONFLICT (account_id) DO UPDATE"
                " SET stamp = excluded.stamp, stamp_reason = excluded.stamp_reason,"
                " stamp_at = excluded.stamp_at",
                (new_stamp, reason, at),
            )
        if "conversation_state" in tables:
            # The flows of the backup's day would come back at the next start.
            conn.execute("DELETE FROM conversation_state")
        if "restore_notices" in tables:
            # Notices of an earlier restore, undelivered on the backup's day, are old news.
            conn.execute("DELETE FROM restore_notices")
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot prepare {path.name} for restore: {exc}") from None
    finally:
        conn.close()
    fsync_file(path)
    return ended


def live_session_users(path: Path, at: str) -> list[int]:
    """Telegram users with a session not ended and not past its absolute end at ``at`` in the
    database file at ``path`` (read only): whom a restore is about to log out."""
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read the sessions of {path.name}: {exc}") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        if "sessions" not in _tables(conn):
            return []
        found = conn.execute(
            "SELECT DISTINCT telegram_user_id FROM sessions WHERE ended_at IS NULL"
            " AND expires_at > ? ORDER BY telegram_user_id",
            (at,),
        ).fetchall()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read the sessions of {path.name}: {exc}") from None
    finally:
        conn.close()
    return [int(row[0]) for row in found]


# What a restored file must not send again: rows the live file delivered (or gave up) since the
# backup was taken. A row is the same row when its id and creation time agree: ids are never
# reused within one history, and a file from another history will not match on both.
_CARRY = (
    "UPDATE alerts SET status = l.status, sent_at = l.sent_at, attempts = l.attempts,"
    " last_error = l.last_error, telegram_message_id = l.telegram_message_id"
    " FROM live.alerts AS l WHERE alerts.id = l.id AND alerts.created_at = l.created_at"
    " AND alerts.rule = l.rule AND alerts.subject = l.subject"
    " AND alerts.status = 'pending' AND l.status <> 'pending'",
    "UPDATE user_notices SET status = l.status, sent_at = l.sent_at, attempts = l.attempts,"
    " last_error = l.last_error FROM live.user_notices AS l"
    " WHERE user_notices.id = l.id AND user_notices.created_at = l.created_at"
    " AND user_notices.telegram_user_id = l.telegram_user_id"
    " AND user_notices.event_type = l.event_type"
    " AND user_notices.status = 'pending' AND l.status <> 'pending'",
)
# The off-site state is about files outside the database, which a restore leaves as they are:
# the live file's record wins whole (what was copied since, and what is still to copy).
_CARRY_OFFSITE = (
    "INSERT INTO offsite_copies (archive, target, status, size, attempts, created_at,"
    " last_error, sent_at, remote_ref) SELECT archive, target, status, size, attempts,"
    " created_at, last_error, sent_at, remote_ref FROM live.offsite_copies WHERE true"
    " ON CONFLICT (archive, target) DO UPDATE SET status = excluded.status,"
    " size = excluded.size, attempts = excluded.attempts, last_error = excluded.last_error,"
    " sent_at = excluded.sent_at, remote_ref = excluded.remote_ref"
)


def carry_deliveries(live: Path, candidate: Path) -> int:
    """Copy the delivery state of alerts and owner notices from ``live`` (read only) to the
    rows of ``candidate`` that are still pending there, and the live off-site state whole;
    return how many rows changed.

    An archive holds its outboxes as of the backup: what was pending then (Telegram down, a
    send in flight) and delivered since would be sent a second time after a restore.
    """
    conn = _connect(candidate)
    try:
        conn.execute("ATTACH DATABASE ? AS live", (f"{live.resolve().as_uri()}?mode=ro",))
        live_tables = {
            str(row[0])
            for row in conn.execute("SELECT name FROM live.sqlite_master WHERE type = 'table'")
        }
        tables = set(_tables(conn))
        conn.execute("BEGIN IMMEDIATE")
        changed = 0
        statements = (*zip(("alerts", "user_notices"), _CARRY, strict=True),)
        for table, sql in (*statements, ("offsite_copies", _CARRY_OFFSITE)):
            if table in tables and table in live_tables:
                changed += max(conn.execute(sql).rowcount, 0)
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE live")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot carry delivered alerts into {candidate.name}: {exc}") from None
    finally:
        conn.close()
    fsync_file(candidate)
    return changed


def _claim(target: Path) -> None:
    """Refuse when any other connection (this process or another) still has ``target`` open.

    Leaving WAL mode needs the only connection to the file, so it fails while anyone else is
    connected; as a side effect the WAL is folded into the file before it is replaced.
    """
    try:
        conn = _connect(target, timeout=IN_USE_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {target}: {exc}") from None
    try:
        row = conn.execute("PRAGMA journal_mode = DELETE").fetchone()
        mode = str(row[0]).lower() if row else ""
    except sqlite3.OperationalError as exc:
        mode = "busy" if "lock" in str(exc) or "busy" in str(exc) else "unreadable"
    except sqlite3.DatabaseError:
        mode = "unreadable"  # a damaged file: nobody can be using it, and it is being replaced
    finally:
        conn.close()
    if mode not in {"delete", "unreadable"}:
        raise StorageError(
            f"{target} is in use by another process; stop the bot (and any other verzek "
            "command) and try again"
        )


def install_file(candidate: Path, target: Path) -> None:
    """Make ``candidate`` the database at ``target``, atomically and durably.

    The target must have no open connection left. Its ``-wal``/``-shm`` (and any journal) are
    removed first, since SQLite would apply them to the new file; then the candidate (already
    flushed, in the same folder) is renamed over the target and the folder is flushed.
    """
    if candidate.parent.resolve() != target.parent.resolve():
        raise StorageError("the replacement must be in the same folder as the database")
    if target.exists():
        _claim(target)
    fsync_file(candidate)
    for suffix in SIDE_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{target}{suffix}")
    os.replace(candidate, target)
    fsync_dir(target.parent)


class SqliteDatabaseFiles:
    """:class:`core.backups.ports.DatabaseFiles` for the SQLite file behind a :class:`Database`."""

    engine = SQLITE

    def __init__(self, database: Database) -> None:
        self._database = database

    @property
    def path(self) -> Path:
        """Where the live database file is."""
        return self._database.path

    def live_exists(self) -> bool:
        """Whether the live database file exists."""
        return self._database.path.exists()

    async def raw_copy(self, dest: Path) -> None:
        """The live file's bytes as they are into the new file ``dest`` (flushed)."""
        await asyncio.to_thread(copy_raw, self._database.path, dest)

    def code_schema_version(self) -> int:
        """The newest schema version this code knows."""
        return code_schema_version()

    async def snapshot(self, dest: Path) -> None:
        """Online backup of the live file into ``dest`` (see :func:`snapshot_file`)."""
        await asyncio.to_thread(snapshot_file, self._database.path, dest)

    async def check(self, path: Path) -> DatabaseCheck:
        """See :func:`check_file`."""
        return await asyncio.to_thread(check_file, path)

    async def schema(self, path: Path) -> frozenset[SchemaObject]:
        """See :func:`storage.restore_checks.schema_of`."""
        return await asyncio.to_thread(schema_of, path)

    async def reference_schema(self, version: int) -> frozenset[SchemaObject]:
        """See :func:`storage.restore_checks.reference_schema`."""
        return await reference_schema(version)

    def candidate(self, path: Path) -> AbstractAsyncContextManager[Callable[..., UnitOfWork]]:
        """See :func:`storage.restore_checks.candidate_units`."""
        return candidate_units(path)

    async def end_sessions(
        self, path: Path, at: datetime, reason: EndReason, new_stamp: str = ""
    ) -> int:
        """See :func:`end_live_sessions`."""
        return await asyncio.to_thread(
            end_live_sessions, path, stored_time(at), str(reason), new_stamp
        )

    async def live_session_users(self, path: Path, at: datetime) -> list[int]:
        """See :func:`live_session_users`."""
        return await asyncio.to_thread(live_session_users, path, stored_time(at))

    async def carry_deliveries(self, live: Path, candidate: Path) -> int:
        """See :func:`carry_deliveries`."""
        return await asyncio.to_thread(carry_deliveries, live, candidate)

    @asynccontextmanager
    async def exclusive(
        self, guard: Callable[[UnitOfWork], Awaitable[None]] | None = None
    ) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """See :meth:`Database.exclusive`; ``guard`` runs first, on the live database, with
        every other unit of work held off (it raises to refuse)."""
        async with self._database.exclusive() as close:
            if guard is not None:
                async with self._database.unit_of_work_in_exclusive() as uow:
                    await guard(uow)
            yield close

    async def install(self, candidate: Path) -> None:
        """See :func:`install_file`."""
        await asyncio.to_thread(install_file, candidate, self._database.path)
