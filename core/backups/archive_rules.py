"""The backup archive format's pure rules: archive and temp names, the manifest (what it holds,
how it is written and checked) and why a backup fails. The tar and file mechanics that use them
are the adapter :mod:`core.adapters.backup_archive`.

An archive is ``verzek-YYYYmmddTHHMMSSZ.tar.gz`` (a second one within the same second gets
``-1``, ``-2`` … before the extension). It holds exactly two regular files: ``manifest.json``
first, then the database. The manifest records when and why it was made, the schema and app
versions, the database file's size and SHA-256 and the rows per table; nothing secret (no
key, no recipient, no row's content).

Format 2 (sealed, SPEC §8a): the database member is ``verzek.db.gz.age``, the database
gzipped and then encrypted in the age format to the X25519 recipient derived from the master
key (and any ``backups.age_recipients``), so ``age -d -i KEY verzek.db.gz.age | gunzip`` opens
it in an emergency. The manifest stays readable but carries ``mac``: HMAC-SHA256, under a key
derived for that alone, of its canonical JSON without the ``mac``; the database's SHA-256 in it
is what ties the decrypted file to the MAC. Format 1 (before sealing) held ``verzek.db`` in the
clear and no MAC: it is refused unless the operator allows it on the command line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.clock import from_iso, to_iso
from core.digits import parse_int
from core.errors import Reason, Refusal

NAME_RE = re.compile(r"^verzek-([0-9]{8}T[0-9]{6}Z)(?:-([1-9][0-9]{0,2}))?\.tar\.gz$")
TEMP_RE = re.compile(r"^\.verzek-([0-9]{8}T[0-9]{6}Z)-[0-9a-f]{8}\.[a-z]+\.tmp$")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MANIFEST_MEMBER = "manifest.json"
DATABASE_MEMBER = "verzek.db"  # format 1: the database in the clear
SEALED_MEMBER = "verzek.db.gz.age"  # format 2: gzip, then age
PG_SEALED_MEMBER = "verzek.pgdump.gz.age"  # format 2, PostgreSQL: pg_dump's file, gzip, age
SQLITE, POSTGRESQL = "sqlite", "postgresql"  # the engines, as a manifest names them
ENGINE_NAMES = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}
FORMAT = "verzek-backup"
FORMAT_VERSION = 2
UNSEALED_FORMAT_VERSION = 1
SEALING = {"cipher": "age-x25519", "compression": "gzip"}
MAX_MANIFEST_BYTES = 64 * 1024

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """A progress sink that drops everything."""


@dataclass(frozen=True)
class BackupFailed(Reason):
    """A backup could not be made, read or restored, for the operator's ``problem``.

    ``problem`` is a diagnostic, as ConfigError's lines are: a lower-case fragment naming the
    file, the check or the system's own error text (``strerror``), no HTML and no command
    names. The bot shows it inside its own sentence, escaped; the CLI prints it. It is not
    translated: it is what the operator searches logs and the web for.
    """

    problem: str


class BackupError(Refusal):
    """A backup could not be made, read or restored; ``problem`` says why (see BackupFailed).

    Raised by a restore, it means the live database was not changed.
    """

    def __init__(self, problem: str) -> None:
        super().__init__(BackupFailed(problem))
        self.problem = problem


@dataclass(frozen=True)
class ArchiveOfOtherEngine(Reason):
    """The archive holds a database of ``archive_engine`` (its MAC'd manifest says so) but the
    bot runs on ``database_engine``: a SQLite file cannot become a PostgreSQL database, nor
    the reverse. Both are display names (``SQLite``, ``PostgreSQL``)."""

    archive_engine: str
    database_engine: str


class OtherEngineArchive(BackupError):
    """A genuine archive of another database engine than the bot's (see ArchiveOfOtherEngine)."""

    def __init__(self, archive_engine: str, database_engine: str) -> None:
        made, runs = ENGINE_NAMES[archive_engine], ENGINE_NAMES[database_engine]
        super().__init__(
            f"the archive holds a {made} database but this bot runs on {runs}: restore it "
            f"into a bot configured for {made}"
        )
        Refusal.__init__(self, ArchiveOfOtherEngine(made, runs))


class UnsealedArchive(BackupError):
    """The archive was made before archives were sealed: nothing authenticates it, so it is
    refused unless the operator passes ``--allow-unsealed`` on the command line."""

    def __init__(self) -> None:
        super().__init__(
            "the archive is not sealed (made before sealed backups, so nothing proves it was "
            "not edited)"
        )


def human_size(size: int) -> str:
    """``1234567`` → ``1.2 MB`` (decimal units, as disks are sold)."""
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def parse_name(name: str) -> tuple[datetime, int]:
    """The time and same-second sequence number in an archive name.

    Raises :class:`BackupError` for anything else, which includes every path (``../x``,
    ``/etc/x``, ``a/b``): only a bare archive name can select a file.
    """
    match = NAME_RE.fullmatch(name)
    if match is None:
        shown = name if len(name) <= 80 else name[:77] + "…"
        raise BackupError(
            f"{shown!r} is not a backup name: names look like verzek-20260101T020000Z.tar.gz "
            "(see the list of backups)"
        )
    when = datetime.strptime(match[1], STAMP_FORMAT).replace(tzinfo=UTC)
    return when, (parse_int(match[2]) or 0) if match[2] else 0


@dataclass(frozen=True)
class Manifest:
    """What an archive says about its database."""

    created_at: datetime
    reason: str
    schema_version: int
    app_version: str
    db_size: int
    db_sha256: str
    row_counts: Mapping[str, int] = field(default_factory=dict)
    sealed: bool = True
    engine: str = SQLITE  # which database engine made the database member (sealed only)
    # What the MAC covers and the MAC read from the file (only for a manifest that was read).
    signed: bytes = field(default=b"", repr=False, compare=False)
    mac: str = field(default="", repr=False, compare=False)

    @property
    def member(self) -> str:
        """The database member's name."""
        return member_name(self.sealed, self.engine)

    def _body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION if self.sealed else UNSEALED_FORMAT_VERSION,
            "created_at": to_iso(self.created_at),
            "reason": self.reason,
            "app_version": self.app_version,
            "schema_version": self.schema_version,
            "database": {"file": self.member, "size": self.db_size, "sha256": self.db_sha256},
            "row_counts": dict(sorted(self.row_counts.items())),
        }
        if self.sealed:
            body["sealing"] = dict(SEALING)
        if self.engine != SQLITE:  # archives of SQLite, made before there was a choice, say none
            body["engine"] = self.engine
        return body

    def to_bytes(self, mac_key: bytes | None = None) -> bytes:
        """The ``manifest.json`` member; a sealed one needs ``mac_key`` (its MAC is added)."""
        body = self._body()
        if self.sealed:
            if mac_key is None:
                raise ValueError("a sealed manifest needs its MAC key")
            body["mac"] = _mac(mac_key, _canonical(body))
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    def made_by(self, mac_keys: tuple[bytes, ...]) -> int | None:
        """Which of ``mac_keys`` (newest first) made this manifest's MAC, or None: edited, or
        made under a key that is not configured. Every key is compared in constant time."""
        given = self.mac.encode("ascii", "replace")
        matches = [
            hmac.compare_digest(given, _mac(key, self.signed).encode("ascii")) for key in mac_keys
        ]
        return matches.index(True) if self.signed and any(matches) else None

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse and validate a ``manifest.json``; raises :class:`BackupError` saying why not.

        Its MAC is not checked here (that needs the keys): see :meth:`made_by`."""
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BackupError("manifest.json is not valid JSON") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise BackupError("not a Verzek Guard backup (its manifest has another format)")
        version = body.get("format_version")
        if version not in (FORMAT_VERSION, UNSEALED_FORMAT_VERSION) or isinstance(version, bool):
            raise BackupError(
                f"backup format {version!r} is not one this version reads "
                f"({UNSEALED_FORMAT_VERSION} or {FORMAT_VERSION})"
            )
        sealed = version == FORMAT_VERSION
        mac = body.pop("mac", None) if sealed else ""
        if sealed and (
            not isinstance(mac, str)
            or not re.fullmatch(r"[0-9a-f]{64}", mac)
            or body.get("sealing") != SEALING
        ):
            raise BackupError("manifest.json of a sealed backup has no valid MAC or sealing")
        engine = body.get("engine", SQLITE)
        if engine not in ENGINE_NAMES or (engine != SQLITE and not sealed):
            raise BackupError("manifest.json names no database engine this version reads")
        member = member_name(sealed, engine)
        database = body.get("database")
        counts = body.get("row_counts")
        try:
            created_at = from_iso(str(body.get("created_at")))
        except ValueError:
            raise BackupError("manifest.json has no valid created_at") from None
        if (
            not isinstance(database, dict)
            or database.get("file") != member
            or not _is_count(database.get("size"))
            or not isinstance(database.get("sha256"), str)
            or not re.fullmatch(r"[0-9a-f]{64}", database["sha256"])
            or not _is_count(body.get("schema_version"))
            or not isinstance(body.get("app_version"), str)
            or not isinstance(body.get("reason"), str)
            or not isinstance(counts, dict)
            or not all(isinstance(k, str) and _is_count(v) for k, v in counts.items())
        ):
            raise BackupError("manifest.json is incomplete or malformed")
        return cls(
            created_at=created_at,
            reason=body["reason"],
            schema_version=body["schema_version"],
            app_version=body["app_version"],
            db_size=database["size"],
            db_sha256=database["sha256"],
            row_counts=dict(counts),
            sealed=sealed,
            engine=engine,
            signed=_canonical(body) if sealed else b"",
            mac=str(mac or ""),
        )


def member_name(sealed: bool, engine: str = SQLITE) -> str:
    """The database member's name in an archive of this format and engine."""
    if not sealed:
        return DATABASE_MEMBER
    return PG_SEALED_MEMBER if engine == POSTGRESQL else SEALED_MEMBER


def _canonical(body: Mapping[str, object]) -> bytes:
    """The exact bytes a manifest's MAC covers: its JSON without ``mac``, in one form."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
