"""A throwaway PostgreSQL server per test process, and a fresh database per test.

One server per pytest worker process (xdist runs several): ``initdb`` into a temporary folder,
``pg_ctl`` starts it listening on a unix socket in that folder only (no TCP port, so workers
never collide), and it is stopped and its folder removed at the end of the session (and, should
the session die first, at interpreter exit). PostgreSQL refuses to run as root; as root (CI and
these machines) every server command runs through ``runuser -u postgres --`` and the folder is
handed to that user. The binaries come from ``pg_config --bindir`` or /usr/lib/postgresql/*/bin.

Each test gets its own database, ``CREATE DATABASE … TEMPLATE`` a database migrated once per
process by storage/postgres/migrator.py (a file copy: ~30 ms with the cluster in /dev/shm, where
migrating costs more), and dropped when the test ends. The server trusts local connections (it
listens on nothing else); fsync and synchronous commit are off: nothing here must survive a crash.

Use the fixtures ``postgres_server`` (session) and ``postgres_url`` (a fresh migrated database),
or :func:`fresh_database` / :func:`drop_database` from code that is not a fixture. When no
PostgreSQL can be had (no binaries, or it does not start), the tests that need one FAIL with
the reason if the session asked for it (``--backend postgres`` or ``both``: a CI whose
PostgreSQL did not install must not pass green), and skip otherwise (the default ``--backend
sqlite``, where only the postgres_only tests need a server).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

TEMPLATE = "verzek_template"
_ADMIN_USER = "postgres"
_PORT = 5432  # names the socket file only: the server listens on no TCP port
_PREFIX = "vzpg-"
_MEMORY_ROOM = 1 << 30  # bytes free in /dev/shm before the servers live there
# Run by a watchdog process per server: it blocks on a pipe from the test process and, once
# that closes (the session ended, or the process died, even by SIGKILL), stops the server and
# removes its folder. So no server outlives its session.
_REAPER = """
import shutil, subprocess, sys
sys.stdin.buffer.read()
command, folder = sys.argv[1:-1], sys.argv[-1]
subprocess.run(command, capture_output=True, timeout=60, check=False)
shutil.rmtree(folder, ignore_errors=True)
"""


def find_bindir() -> Path | None:
    """The folder of initdb/pg_ctl/psql, or None when PostgreSQL is not installed."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(out))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def memory_folder() -> str | None:
    """/dev/shm when it is a writable RAM folder with room, else None (the usual temp folder).

    A CREATE DATABASE copies the template's few hundred files: about 0.3 s on this machine's
    ext4 disk, 0.03 s in RAM, paid by every PostgreSQL test. Nothing here must outlive the
    session, so RAM is the right place for it."""
    folder = "/dev/shm"  # a private mkdtemp folder inside it, removed at the end
    try:
        room = shutil.disk_usage(folder).free
    except OSError:
        return None
    return folder if room >= _MEMORY_ROOM and os.access(folder, os.W_OK | os.X_OK) else None


@dataclass(frozen=True)
class FreshDatabase:
    name: str
    url: str


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, reachable on its unix socket only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # short: socket paths are < 108
        self.folder = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=memory_folder()))
        self.data = self.folder / "data"
        self._as_root = os.geteuid() == 0
        self._counter = itertools.count(1)
        self._reaper: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.running = False

    # -- life cycle ---------------------------------------------------------------------------

    def _server_command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", _ADMIN_USER, "--"] if self._as_root else []
        return [*prefix, *args]

    def start(self) -> None:
        """initdb and start; raises RuntimeError (with the server's log) when it cannot."""
        if self._as_root:
            user = pwd.getpwnam(_ADMIN_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run(
            self._server_command(
                str(self.bindir / "initdb"),
                "-D", str(self.data),
                "-U", _ADMIN_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        )  # fmt: skip
        options = " ".join(
            [
                "-c listen_addresses=''",
                f"-c unix_socket_directories='{self.folder}'",
                f"-p {_PORT}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_buffers=16MB",
                "-c max_connections=200",
                "-c log_min_messages=warning",
            ]
        )
        self._run(
            self._server_command(
                str(self.bindir / "pg_ctl"),
                "-D", str(self.data),
                "-l", str(self.folder / "server.log"),
                "-o", options,
                "-w", "-t", "60",
                "start",
            )
        )  # fmt: skip
        self.running = True
        self._reaper = subprocess.Popen(
            [sys.executable, "-c", _REAPER, *self._stop_command(), str(self.folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of the session does not kill it first
        )

    def _stop_command(self) -> list[str]:
        return self._server_command(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
        )

    def stop(self) -> None:
        """Stop the server (fast: open connections are cut) and remove its folder."""
        if self.running:
            self.running = False
            with contextlib.suppress(RuntimeError):
                self._run(self._stop_command())
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._reaper is not None:
            reaper, self._reaper = self._reaper, None
            assert reaper.stdin is not None
            reaper.stdin.close()  # nothing left to do for it: it exits
            with contextlib.suppress(subprocess.TimeoutExpired):
                reaper.wait(timeout=10)

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{Path(command[-1]).name if command else ''} failed ({result.returncode}): "
                f"{command!r}\n{result.stdout}{result.stderr}{tail}"
            )

    # -- databases ----------------------------------------------------------------------------

    def url(self, database: str, *, user: str = _ADMIN_USER, password: str | None = None) -> str:
        """A libpq/asyncpg URL to ``database`` over the unix socket."""
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@/{database}?host={self.folder}&port={_PORT}"

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run ``sql`` through psql (as the admin user, over the socket); return its output."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", str(self.folder), "-p", str(_PORT), "-U", _ADMIN_USER, "-d", database,
                "-c", sql,
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str, *, template: str = "template0") -> None:
        """CREATE DATABASE ``name`` as a copy of ``template``."""
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')

    def drop_database(self, name: str) -> None:
        """DROP DATABASE ``name``, ending whatever connections a test left open."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def next_name(self, prefix: str = "t") -> str:
        """A database name not used before by this server."""
        with self._lock:
            return f"{prefix}_{os.getpid()}_{next(self._counter)}"


# -- one server per process ---------------------------------------------------------------------

_server: PostgresServer | None = None
_template_ready = False
_start_failure: str | None = None
_guard = threading.Lock()
_required = False  # --backend postgres/both: no server is a failure, not a skip


def pytest_configure(config: pytest.Config) -> None:
    """Remember whether this session asked for PostgreSQL (``--backend``, tests/conftest.py)."""
    global _required
    _required = config.getoption("backend", default="sqlite") in ("postgres", "both")


def server() -> PostgresServer:
    """This process's server, started on first use; when none can be had, pytest.fail if the
    session asked for PostgreSQL, else pytest.skip."""
    global _server, _start_failure
    with _guard:
        if _server is None and _start_failure is None:
            bindir = find_bindir()
            if bindir is None:
                _start_failure = "PostgreSQL is not installed (no initdb/pg_ctl found)"
            else:
                candidate = PostgresServer(bindir)
                try:
                    candidate.start()
                except (RuntimeError, OSError, KeyError, subprocess.SubprocessError) as exc:
                    candidate.stop()
                    _start_failure = f"cannot start PostgreSQL: {exc}"
                else:
                    _server = candidate
                    atexit.register(stop_server)
        if _server is None:
            reason = _start_failure or "no PostgreSQL"
            if _required:
                pytest.fail(f"--backend asks for PostgreSQL, but {reason}", pytrace=False)
            pytest.skip(reason)
        return _server


def stop_server() -> None:
    """Stop this process's server if it runs (idempotent)."""
    global _server, _template_ready
    with _guard:
        if _server is not None:
            _server.stop()
            _server = None
            _template_ready = False


def _in_own_loop(url: str, up_to: int | None) -> None:
    """Migrate the database at ``url`` from a thread with its own event loop, so this works
    from synchronous fixtures and from inside a running loop alike."""
    with ThreadPoolExecutor(1, thread_name_prefix="pg-migrate") as pool:
        pool.submit(lambda: asyncio.run(_migrate(url, up_to))).result()


async def _migrate(url: str, up_to: int | None) -> None:
    import asyncpg

    from storage.postgres.migrator import migrate

    conn = await asyncpg.connect(url)
    try:
        await migrate(conn, up_to=up_to)
    finally:
        await conn.close()


def template_name() -> str:
    """The name of the migrated template database (migrated on first use)."""
    global _template_ready
    pg = server()
    with _guard:
        if not _template_ready:
            pg.drop_database(TEMPLATE)
            pg.create_database(TEMPLATE)
            _in_own_loop(pg.url(TEMPLATE), None)
            _template_ready = True
    return TEMPLATE


def fresh_database(*, migrated: bool = True, up_to: int | None = None) -> FreshDatabase:
    """A new database: a copy of the migrated template (default), empty (``migrated=False``),
    or migrated up to version ``up_to`` only."""
    pg = server()
    name = pg.next_name()
    if migrated and up_to is None:
        pg.create_database(name, template=template_name())
    else:
        pg.create_database(name)
        if migrated:
            _in_own_loop(pg.url(name), up_to)
    return FreshDatabase(name, pg.url(name))


def drop_database(name: str) -> None:
    """Drop a database made by :func:`fresh_database` (no-op once the server is gone)."""
    if _server is not None and _server.running:
        _server.drop_database(name)


# -- fixtures (registered by tests/conftest.py through pytest_plugins) --------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This worker's PostgreSQL server; stopped at the end of the session."""
    try:
        yield server()
    finally:
        stop_server()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, migrated database of its own, dropped after the test."""
    database = fresh_database()
    try:
        yield database.url
    finally:
        drop_database(database.name)
