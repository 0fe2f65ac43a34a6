"""The PostgreSQL client tools behind backups: ``pg_dump``/``pg_restore`` runs, scratch databases,
and reading what a dump holds without running any of it.

The tools get the DSN without its password (the password goes in ``PGPASSWORD``, so it is in
no process list) and their error text is scrubbed of it before it reaches a message. Scratch
databases (``verzek_scratch_<hex>``) live on the same server as the bot's database, made from
``template0`` with the live database's encoding and locale, and are dropped (``WITH (FORCE)``)
when their block ends.

What a dump holds is read from ``pg_restore``'s own text output, which runs nothing: its table
of contents (``--list``: one line per object or data item) and, per object, the SQL that a
restore would run (``--schema-only``), split at the ``-- Name: …; Type: …`` header each object
gets. :mod:`storage.postgres.dump_files` compares both with a reference dump before it
restores anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg

from core.backups.ports import SchemaObject
from core.config_values import SecretUrl
from core.errors import StorageError

SCRATCH_PREFIX = "verzek_scratch_"
TOOL_TIMEOUT_S = 600.0
ERROR_LINES = 3  # of a tool's stderr, in a message
_HEADER = re.compile(r"^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: .*$")
_TOC_LINE = re.compile(r"^[0-9]+; [0-9]+ [0-9]+ (.*) \S+$")
_COPY = re.compile(r"^COPY ([^ ]+) \((.*)\) FROM stdin;$")
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Server:
    """Where the live database is, and how to reach it or another database on its server."""

    def __init__(self, dsn: SecretUrl) -> None:
        self._dsn = dsn
        parts = urlsplit(dsn.get())
        self._parts = parts
        self.database = unquote(parts.path.lstrip("/")) or unquote(parts.username or "")
        password = parts.password
        self._password = unquote(password) if password else None

    def url(self, database: str | None = None) -> str:
        """The DSN (with its password) of ``database`` on this server (default: the live one)."""
        if database is None:
            return self._dsn.get()
        return urlunsplit(self._parts._replace(path="/" + quote(database)))

    def tool_url(self, database: str | None = None) -> str:
        """The DSN without its password, for a client tool's ``--dbname``."""
        parts = urlsplit(self.url(database))
        host = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit(parts._replace(netloc=user + host))

    def scrub(self, text: str) -> str:
        """``text`` with the password (should a tool or driver quote it) masked."""
        for secret in {self._password, self._parts.password} - {None, ""}:
            text = text.replace(str(secret), "***")
        return text

    def env(self) -> dict[str, str]:
        """The environment for a client tool: the password in ``PGPASSWORD``, if any."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self._password:
            env["PGPASSWORD"] = self._password
        return env

    async def connect(self, database: str | None = None) -> asyncpg.Connection:
        """A connection of its own to ``database`` (default: the live one)."""
        try:
            conn: asyncpg.Connection = await asyncpg.connect(self.url(database))
        except DB_ERRORS as exc:
            raise StorageError(
                f"cannot connect to the database server: {self.error(exc)}"
            ) from None
        return conn

    def error(self, exc: BaseException) -> str:
        """A driver error as a message fragment, the password masked."""
        return self.scrub(f"{type(exc).__name__}: {exc}")


def find_tool(name: str) -> str:
    """The path of PostgreSQL client tool ``name`` (``pg_dump``, ``pg_restore``): on PATH, else
    the newest /usr/lib/postgresql/*/bin (Debian installs them there)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    raise StorageError(f"{name} is not installed (PostgreSQL backups need its client tools)")


async def run_tool(server: Server, name: str, *args: str, stdout: IO[bytes] | None = None) -> bytes:
    """Run tool ``name``; return its output (or write it to ``stdout``). Raises
    :class:`StorageError` with the end of its error text when it fails."""
    try:
        process = await asyncio.create_subprocess_exec(
            find_tool(name),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout if stdout is not None else asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=server.env(),
        )
        out, err = await asyncio.wait_for(process.communicate(), TOOL_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        raise StorageError(f"{name} did not finish within {int(TOOL_TIMEOUT_S)} s") from None
    except OSError as exc:
        raise StorageError(f"cannot run {name}: {exc.strerror or exc}") from None
    if process.returncode != 0:
        lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        shown = server.scrub("; ".join(lines[-ERROR_LINES:])) or f"exit code {process.returncode}"
        raise StorageError(f"{name} failed: {shown}")
    return out or b""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@asynccontextmanager
async def scratch_database(server: Server) -> AsyncIterator[str]:
    """A new empty database on the live one's server, dropped when the block ends; yields
    its name."""
    name = SCRATCH_PREFIX + secrets.token_hex(6)
    admin = await server.connect()
    try:
        try:
            row = await admin.fetchrow(
                "SELECT pg_encoding_to_char(encoding) AS enc, datcollate, datctype"
                " FROM pg_database WHERE datname = current_database()"
            )
            assert row is not None
            await admin.execute(
                f"CREATE DATABASE {_quoted(name)} TEMPLATE template0 ENCODING "
                f"{_literal(row['enc'])} LC_COLLATE {_literal(row['datcollate'])} "
                f"LC_CTYPE {_literal(row['datctype'])}"
            )
        except DB_ERRORS as exc:
            raise StorageError(f"cannot create a scratch database: {server.error(exc)}") from None
        try:
            yield name
        finally:
            with contextlib.suppress(*DB_ERRORS):
                await admin.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
    finally:
        with contextlib.suppress(*DB_ERRORS):
            await admin.close()


def _literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


# --- what a dump holds, read without running it ------------------------------------------------


def toc_entries(listing: str) -> frozenset[SchemaObject]:
    """``pg_restore --list``'s lines as objects (kind = the entry's type and schema, name = its
    name): every object and every data item of the dump, owners left out."""
    found = set()
    for line in listing.splitlines():
        match = _TOC_LINE.match(line)
        if match:
            found.add(SchemaObject("toc entry", match[1], "", ""))
    return frozenset(found)


def _is_meta(line: str) -> bool:
    # psql meta-commands pg_restore adds (\restrict with a random key, \unrestrict).
    return line.startswith("\\")


def ddl_objects(script: str) -> frozenset[SchemaObject]:
    """The SQL a restore runs, one object per ``-- Name: …; Type: …; Schema: …`` header (the
    SQL normalised for whitespace); what precedes the first header is pg_restore's own
    session settings."""
    found: set[SchemaObject] = set()
    current: tuple[str, str, str] | None = None
    body: list[str] = []

    def flush() -> None:
        if current is not None:
            name, kind, schema = current
            found.add(SchemaObject(kind.lower(), name, schema, " ".join(" ".join(body).split())))

    lines = [line for line in script.splitlines() if not _is_meta(line)]
    for index, line in enumerate(lines):
        match = _HEADER.match(line)
        if match and index > 0 and lines[index - 1] == "--":
            if body and body[-1] == "--":
                body.pop()
            flush()
            current, body = (match[1], match[2], match[3]), []
        elif current is not None and line != "--":
            body.append(line)
    flush()
    return frozenset(found)


def script_statements(script: str) -> str:
    """A pg_restore text script without its psql meta-commands, to run through the driver."""
    return "\n".join(line for line in script.splitlines() if not _is_meta(line))


def _unquote(identifier: str) -> str:
    identifier = identifier.strip()
    if identifier.startswith('"') and identifier.endswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier


def copy_target(line: str) -> tuple[str, str, list[str]] | None:
    """``COPY public.t (a, b) FROM stdin;`` → ("public", "t", ["a", "b"]); None otherwise."""
    match = _COPY.match(line)
    if match is None:
        return None
    schema, _, table = match[1].partition(".")
    columns = [_unquote(column) for column in match[2].split(",")]
    return _unquote(schema), _unquote(table), columns


def data_rows(lines: Iterator[str], table: str) -> list[str]:
    """The rows of one COPY block of a data script (up to its ``\\.``), as text lines."""
    rows: list[str] = []
    for line in lines:
        if line == "\\.":
            return rows
        rows.append(line)
    raise StorageError(f"the data of {table} in the dump is cut short")


async def listing(server: Server, path: Path) -> frozenset[SchemaObject]:
    """The dump's table of contents (see :func:`toc_entries`); raises StorageError for a
    file that is not a dump."""
    if not await asyncio.to_thread(path.is_file):
        raise StorageError(f"no dump file at {path}")
    try:
        out = await run_tool(server, "pg_restore", "--list", str(path))
    except StorageError as exc:
        raise StorageError(f"not a readable PostgreSQL dump ({exc})") from None
    return toc_entries(out.decode(errors="replace"))


async def ddl(server: Server, path: Path) -> frozenset[SchemaObject]:
    """The SQL a restore of the dump would run, per object (see :func:`ddl_objects`)."""
    out = await run_tool(
        server,
        "pg_restore",
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--file=-",
        str(path),
    )
    return ddl_objects(out.decode(errors="replace"))


async def dump_version(server: Server, path: Path) -> int | None:
    """The highest row of schema_migrations in the dump (None: it has none), read from
    the data pg_restore prints, without restoring anything."""
    out = await run_tool(
        server,
        "pg_restore",
        "--data-only",
        "--table=schema_migrations",
        "--file=-",
        str(path),
    )
    lines = iter(out.decode(errors="replace").splitlines())
    for line in lines:
        target = copy_target(line)
        if target is None or target[1] != "schema_migrations" or "version" not in target[2]:
            continue
        at = target[2].index("version")
        rows = data_rows(lines, "schema_migrations")
        try:
            return max((int(row.split("\t")[at]) for row in rows), default=0)
        except (ValueError, IndexError):
            raise StorageError("schema_migrations in the dump is not readable") from None
    return None
