"""The backup folder: which files are archives, resolving a name safely, deleting.

Only bare archive names select a file (``archive_rules.parse_name``), and only a regular file
in the folder, never a link. Everything here blocks; the service calls it in a thread.
"""

from __future__ import annotations

import contextlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from core.adapters import backup_archive as archive
from core.backups.archive_rules import NAME_RE, STAMP_FORMAT, TEMP_RE, BackupError, parse_name
from core.clock import from_iso, to_iso

DRILL_MARK = ".verzek-last-drill"  # when the restore drill last ran (hidden: never listed)


class ArchiveFolder:
    """The archives in one folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
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

    def names(self) -> list[str]:
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

    def delete(self, names: list[str]) -> None:
        """Remove these archives (durably)."""
        for name in names:
            archive.unlink_quietly(self.directory / name)
        if names:
            archive.fsync_dir(self.directory)

    def delete_stale_temps(self, before: datetime) -> None:
        """Remove hidden temp files (left by a crash) made before ``before``."""
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory):
                match = TEMP_RE.fullmatch(entry.name)
                if match is None or not entry.is_file(follow_symlinks=False):
                    continue
                made = datetime.strptime(match[1], STAMP_FORMAT).replace(tzinfo=UTC)
                if made < before:
                    archive.unlink_quietly(Path(entry.path))

    def last_drill(self) -> datetime | None:
        """When the restore drill last ran here, or None."""
        try:
            return from_iso((self.directory / DRILL_MARK).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def mark_drill(self, at: datetime) -> None:
        """Remember that the restore drill ran at ``at``."""
        archive.ensure_dir(self.directory)
        mark = self.directory / DRILL_MARK
        temp = mark.with_name(mark.name + ".tmp")
        temp.write_text(to_iso(at) + "\n", encoding="ascii")
        os.replace(temp, mark)
