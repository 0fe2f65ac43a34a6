"""PostgreSQL mechanics of backups (SPEC §8, §8a, §13): :class:`core.backups.ports.DatabaseFiles`
over ``pg_dump``/``pg_restore``, so the sealed-archive procedure of :mod:`core.backups` is the
same on both engines.

- The snapshot is ``pg_dump --format=custom`` (uncompressed: the archive gzips it): one
  repeatable-read snapshot, consistent while every instance keeps writing.
- A candidate (a dump file) is first read without running any of it: its table of contents
  and the SQL of every object must equal those of a reference dump, made by this same pg_dump
  from a scratch database the migrations 1..its version built. Only then is it restored
  (``pg_restore --single-transaction --exit-on-error``) into a scratch database of its own:
  integrity is that the restore succeeded (every CHECK, UNIQUE and FOREIGN KEY holds) and no
  constraint is left unvalidated; the schema is the server's catalog of that database
  (:mod:`storage.postgres.catalog`) next to the reference's; its audit chain is verified
  through a :class:`PostgresDatabase` on it (migrated first when it is older).
- Changing a candidate (sessions ended, deliveries carried) restores it, changes the scratch
  database and dumps it back over the file.
- The swap runs inside :meth:`exclusive`, which holds the fleet's writer lock (every
  instance's writes wait) and closes this instance's pool: one transaction on a connection of
  its own empties the live schema ``public`` and rebuilds it from the candidate (its SQL, then
  its rows by COPY, then indexes, constraints and triggers), so other instances see the old
  database or the new one, never a mix, and a failure changes nothing.

The dump is never handed to pg_restore for the live database: nothing of a candidate reaches
the live database but its verified SQL and its rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path

import asyncpg

from core.accounts.ports import EndReason
from core.backups.checks import schema_difference
from core.backups.ports import DatabaseCheck, SchemaObject
from core.errors import StorageError
from core.ports import UnitOfWork
from storage.columns import stored_time
from storage.postgres import candidate_sql as sql
from storage.postgres import dump_tools as tools
from storage.postgres.catalog import catalog_objects
from storage.postgres.database import PostgresDatabase
from storage.postgres.migrator import code_schema_version, migrate

ENGINE = "postgresql"
SWAP_LOCK_TIMEOUT = "10s"  # readers of other instances holding a table that long: refused
_RESTORE = ("--no-owner", "--no-privileges")


class _Reference:
    """What the migrations 1..version make: the catalog, and the dump's contents and SQL."""

    def __init__(
        self,
        catalog: frozenset[SchemaObject],
        toc: frozenset[SchemaObject],
        ddl: frozenset[SchemaObject],
    ) -> None:
        self.catalog, self.toc, self.ddl = catalog, toc, ddl


# Built once per version and server, by whichever instance asks first (as the SQLite side's).
_references: dict[tuple[int, str], _Reference] = {}
_building = asyncio.Lock()


class _Slot:
    """A candidate restored in a scratch database, open until released."""

    def __init__(
        self,
        key: tuple[object, ...],
        name: str,
        problems: list[str],
        stack: contextlib.AsyncExitStack,
    ) -> None:
        self.key, self.name, self.problems, self.stack = key, name, problems, stack


def _file_key(path: Path) -> tuple[object, ...]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


class PostgresDumpFiles:
    """:class:`core.backups.ports.DatabaseFiles` for the PostgreSQL database behind a
    :class:`PostgresDatabase`; candidates are dump files in ``work_dir`` (the backup folder)."""

    engine = ENGINE

    def __init__(self, database: PostgresDatabase, work_dir: Path) -> None:
        self._database = database
        self._server = tools.Server(database.dsn)
        self._work_dir = work_dir
        # The last candidate restored, kept for the next check of the same unchanged file
        # (check, schema and the audit chain each need it): one restore instead of three.
        self._slot: _Slot | None = None
        self._slot_lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        """Stands for the live database in messages; candidates are written beside it."""
        return self._work_dir / f"{self._server.database}.postgresql"

    def live_exists(self) -> bool:
        """The live database is on its server (the bot is connected to it)."""
        return True

    def code_schema_version(self) -> int:
        """The newest schema version this code knows."""
        return code_schema_version()

    # --- snapshots ----------------------------------------------------------------------------

    async def snapshot(self, dest: Path) -> None:
        """``pg_dump --format=custom`` of the live database into the new file ``dest``."""
        await self._dump(self._server.tool_url(), dest)

    async def raw_copy(self, dest: Path) -> None:
        """A dump with no checks (the safety backup of a database that fails them)."""
        await self._dump(self._server.tool_url(), dest)

    async def _dump(self, url: str, dest: Path) -> None:
        def create() -> int:
            return os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

        try:
            fd = await asyncio.to_thread(create)
        except FileExistsError:
            raise StorageError(f"{dest} already exists") from None
        try:
            with os.fdopen(fd, "wb") as out:
                await tools.run_tool(
                    self._server,
                    "pg_dump",
                    "--format=custom",
                    "--compress=0",
                    f"--dbname={url}",
                    stdout=out,
                )
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dest)
            raise

    # --- what a dump holds --------------------------------------------------------------------

    async def _gate(self, path: Path, version: int) -> None:
        """Refuse a dump whose contents or SQL are not the reference's for ``version``, before
        any of it runs anywhere."""
        reference = await self._reference(version)
        listed = await tools.listing(self._server, path)
        problem = schema_difference(listed, reference.toc, version)
        if problem is None:
            problem = schema_difference(await tools.ddl(self._server, path), reference.ddl, version)
        if problem is not None:
            raise StorageError(problem)

    async def _reference(self, version: int) -> _Reference:
        key = (version, self._server.tool_url(""))  # per server (its version shapes pg_dump's)
        async with _building:
            cached = _references.get(key)
            if cached is not None:
                return cached
            async with tools.scratch_database(self._server) as name:
                conn = await self._server.connect(name)
                try:
                    await migrate(conn, up_to=version)
                    catalog = await catalog_objects(conn)
                finally:
                    await conn.close()
                dump = self._work_dir / f".verzek-reference-{name}.tmp"
                await asyncio.to_thread(self._work_dir.mkdir, parents=True, exist_ok=True)
                try:
                    await self._dump(self._server.tool_url(name), dump)
                    built = _Reference(
                        catalog,
                        await tools.listing(self._server, dump),
                        await tools.ddl(self._server, dump),
                    )
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(dump)
            _references[key] = built
            return built

    @asynccontextmanager
    async def _restored(self, path: Path) -> AsyncIterator[tuple[str, list[str]]]:
        """The dump at ``path`` (gated first) restored into a scratch database; yields its name
        and pg_restore's complaints (empty when it restored whole)."""
        version = await tools.dump_version(self._server, path)
        if version is None:
            raise StorageError("not a Verzek Guard database (it has no schema version)")
        await self._gate(path, version)
        async with tools.scratch_database(self._server) as name:
            problems: list[str] = []
            try:
                await tools.run_tool(
                    self._server,
                    "pg_restore",
                    "--single-transaction",
                    "--exit-on-error",
                    *_RESTORE,
                    f"--dbname={self._server.tool_url(name)}",
                    str(path),
                )
            except StorageError as exc:
                problems.append(str(exc))
            yield name, problems

    async def _kept(self, path: Path) -> tuple[str, list[str]]:
        """The candidate at ``path`` restored (see :meth:`_restored`), reusing the kept one
        when the file is unchanged; the caller holds ``_slot_lock``."""
        try:
            key = await asyncio.to_thread(_file_key, path)
        except OSError:
            raise StorageError(f"no dump file at {path}") from None
        if self._slot is not None and self._slot.key == key:
            return self._slot.name, self._slot.problems
        await self._release()
        stack = contextlib.AsyncExitStack()
        try:
            name, problems = await stack.enter_async_context(self._restored(path))
        except BaseException:
            await stack.aclose()
            raise
        self._slot = _Slot(key, name, problems, stack)
        return name, problems

    async def _release(self) -> None:
        """Drop the kept scratch database, if any."""
        slot, self._slot = self._slot, None
        if slot is not None:
            await slot.stack.aclose()

    async def close(self) -> None:
        """Drop what is kept (the bot's shutdown)."""
        async with self._slot_lock:
            await self._release()

    async def check(self, path: Path) -> DatabaseCheck:
        """The dump restored into a scratch database: integrity (the restore succeeded with
        every constraint), unvalidated constraints, schema version and row counts."""
        version = await tools.dump_version(self._server, await self._readable(path))
        if version is None or version > self.code_schema_version():
            return DatabaseCheck(["ok"], 0, version, {})  # refused on the version alone
        async with self._slot_lock:
            name, problems = await self._kept(path)
            if problems:
                return DatabaseCheck(problems, 0, version, {})
            conn = await self._server.connect(name)
            try:
                unvalidated = await conn.fetchval(
                    "SELECT count(*) FROM pg_constraint WHERE NOT convalidated"
                )
                tables = await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                )
                counts = {
                    str(row[0]): int(
                        await conn.fetchval(f"SELECT count(*) FROM public.{sql.quote(row[0])}")  # noqa: S608
                    )
                    for row in tables
                }
            except tools.DB_ERRORS as exc:
                raise StorageError(
                    f"cannot read the restored dump: {self._server.error(exc)}"
                ) from None
            finally:
                await conn.close()
        return DatabaseCheck(["ok"], int(unvalidated), version, counts)

    async def _readable(self, path: Path) -> Path:
        await tools.listing(self._server, path)
        return path

    async def schema(self, path: Path) -> frozenset[SchemaObject]:
        """The server's catalog of the dump restored into a scratch database."""
        async with self._slot_lock:
            name, problems = await self._kept(path)
            if problems:
                raise StorageError(problems[0])
            conn = await self._server.connect(name)
            try:
                return await catalog_objects(conn)
            finally:
                await conn.close()

    async def reference_schema(self, version: int) -> frozenset[SchemaObject]:
        """The catalog of a scratch database the migrations 1..``version`` built."""
        return (await self._reference(version)).catalog

    @asynccontextmanager
    async def _candidate(self, path: Path) -> AsyncIterator[Callable[..., UnitOfWork]]:
        async with self._slot_lock:
            name, problems = await self._kept(path)
            if problems:
                await self._release()
                raise StorageError(problems[0])
            database = PostgresDatabase(self._server.url(name), max_connections=2)
            try:
                await database.open(apply_migrations=True)  # the code's checks read its schema

                def units(*, read_only: bool = True) -> UnitOfWork:
                    return database.unit_of_work(read_only=True)

                yield units
            finally:
                await database.close()
                # The last check of a candidate, and migrating changed it: not kept.
                await self._release()

    def candidate(self, path: Path) -> AbstractAsyncContextManager[Callable[..., UnitOfWork]]:
        """Read-only units of work on the dump restored (and migrated) in a scratch database."""
        return self._candidate(path)

    # --- changing a candidate -----------------------------------------------------------------

    @asynccontextmanager
    async def _rewriting(self, path: Path) -> AsyncIterator[asyncpg.Connection]:
        """A connection to the dump restored in a scratch database; the database is dumped
        back over ``path`` when the block ends without an error."""
        await self.close()  # the kept copy of this file is about to be out of date
        async with self._restored(path) as (name, problems):
            if problems:
                raise StorageError(f"cannot prepare {path.name} for restore: {problems[0]}")
            conn = await self._server.connect(name)
            try:
                yield conn
            finally:
                await conn.close()
            fresh = path.with_name(path.name + ".new")
            await self._dump(self._server.tool_url(name), fresh)
            await asyncio.to_thread(os.replace, fresh, path)

    async def end_sessions(
        self, path: Path, at: datetime, reason: EndReason, new_stamp: str = ""
    ) -> int:
        """End every live session in the dump at ``path`` (as storage/snapshot.py does for a
        SQLite file); return how many."""
        when = stored_time(at)
        async with self._rewriting(path) as conn:
            try:
                async with conn.transaction():
                    status = await conn.execute(sql.END_SESSIONS[0], when, str(reason))
                    if new_stamp:
                        await conn.execute(sql.END_SESSIONS[1], new_stamp, str(reason), when)
                    for table in sql.FORGOTTEN:
                        if await sql.has_table(conn, table):
                            await conn.execute(f"DELETE FROM {table}")  # noqa: S608
            except tools.DB_ERRORS as exc:
                raise StorageError(
                    f"cannot prepare {path.name} for restore: {self._server.error(exc)}"
                ) from None
        return int(status.rsplit(" ", 1)[-1])

    async def live_session_users(self, path: Path, at: datetime) -> list[int]:
        """Telegram users with a live session at ``at`` in the live database (read only)."""
        conn = await self._server.connect()
        try:
            rows = await conn.fetch(
                "SELECT DISTINCT telegram_user_id FROM sessions WHERE ended_at IS NULL"
                " AND expires_at > $1 ORDER BY telegram_user_id",
                stored_time(at),
            )
        except tools.DB_ERRORS as exc:
            raise StorageError(f"cannot read the sessions: {self._server.error(exc)}") from None
        finally:
            await conn.close()
        return [int(row[0]) for row in rows]

    async def carry_deliveries(self, live: Path, candidate: Path) -> int:
        """Mark as delivered in the dump ``candidate`` what the live database delivered since
        (and carry the live off-site state whole); return how many rows changed."""
        source = await self._server.connect()
        changed = 0
        try:
            async with self._rewriting(candidate) as conn, conn.transaction():
                for table, statement in sql.CARRY:
                    if not await sql.has_table(source, table) or not await sql.has_table(
                        conn, table
                    ):
                        continue
                    rows = await source.fetch(f"SELECT * FROM {table}")  # noqa: S608
                    await conn.execute(
                        f"CREATE TEMP TABLE live_{table} (LIKE {table}) ON COMMIT DROP"
                    )
                    if rows:
                        await conn.copy_records_to_table(
                            f"live_{table}",
                            records=[tuple(r) for r in rows],
                            columns=list(rows[0].keys()),
                        )
                    status = await conn.execute(statement)
                    changed += int(status.rsplit(" ", 1)[-1])
        except tools.DB_ERRORS as exc:
            raise StorageError(
                f"cannot carry delivered alerts into {candidate.name}: {self._server.error(exc)}"
            ) from None
        finally:
            await source.close()
        return changed

    # --- the swap -----------------------------------------------------------------------------

    @asynccontextmanager
    async def exclusive(
        self, guard: Callable[[UnitOfWork], Awaitable[None]] | None = None
    ) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """See :meth:`PostgresDatabase.exclusive` (the fleet's writer lock is held for the
        block); ``guard`` runs first, on the lock's own connection (it raises to refuse)."""
        async with self._database.exclusive() as close:
            if guard is not None:
                async with self._database.unit_of_work_in_exclusive() as uow:
                    await guard(uow)
            yield close

    async def install(self, candidate: Path) -> None:
        """Inside :meth:`exclusive`: the live schema replaced by the dump's, in one
        transaction (see the module); raises ``StorageError`` and changes nothing when it
        fails."""
        await self.close()
        sections = {}
        for section in ("pre-data", "post-data"):
            out = await tools.run_tool(
                self._server,
                "pg_restore",
                f"--section={section}",
                *_RESTORE,
                "--file=-",
                str(candidate),
            )
            sections[section] = tools.script_statements(out.decode())
        data = await tools.run_tool(
            self._server, "pg_restore", "--data-only", "--file=-", str(candidate)
        )
        conn = await self._server.connect()
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                await conn.execute(sql.CLEAR_PUBLIC)
                await conn.execute(sections["pre-data"])
                await sql.load(conn, data.decode())
                await conn.execute(sections["post-data"])
        except tools.DB_ERRORS as exc:
            raise StorageError(
                f"the database could not be replaced: {self._server.error(exc)}"
            ) from None
        finally:
            await conn.close()
