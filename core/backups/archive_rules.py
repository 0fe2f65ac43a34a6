"""The backup archive format's pure rules: archive and temp names, the manifest (what it holds,
how it is written and checked) and why a backup fails. The tar and file mechanics that use them
are the adapter :mod:`core.adapters.backup_archive`.

An archive is ``verzek-YYYYmmddTHHMMSSZ.tar.gz`` (a second one within the same second gets
``-1``, ``-2`` … before the extension). It holds exactly two regular files: ``manifest.json``
first, then ``verzek.db``. The manifest records when and why it was made, the schema and app
versions, the database file's size and SHA-256 and the rows per table; nothing secret.
"""

from __future__ import annotations

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
DATABASE_MEMBER = "verzek.db"
FORMAT = "verzek-backup"
FORMAT_VERSION = 1
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

    def to_bytes(self) -> bytes:
        """The ``manifest.json`` member."""
        body = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": to_iso(self.created_at),
            "reason": self.reason,
            "app_version": self.app_version,
            "schema_version": self.schema_version,
            "database": {"file": DATABASE_MEMBER, "size": self.db_size, "sha256": self.db_sha256},
            "row_counts": dict(sorted(self.row_counts.items())),
        }
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse and validate a ``manifest.json``; raises :class:`BackupError` saying why not."""
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BackupError("manifest.json is not valid JSON") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise BackupError("not a Verzek Guard backup (its manifest has another format)")
        if body.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                f"backup format {body.get('format_version')!r} is not one this version reads "
                f"({FORMAT_VERSION})"
            )
        database = body.get("database")
        counts = body.get("row_counts")
        try:
            created_at = from_iso(str(body.get("created_at")))
        except ValueError:
            raise BackupError("manifest.json has no valid created_at") from None
        if (
            not isinstance(database, dict)
            or database.get("file") != DATABASE_MEMBER
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
        )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
