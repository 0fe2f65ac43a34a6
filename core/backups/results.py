"""What a backup or a restore reports back: the backup's description, the restore's result and
the restore that was put in place but did not reopen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.backups.archive_rules import BackupError, Manifest


class RestoreIncomplete(BackupError):
    """The restored file was put in place, but the database did not reopen afterwards."""


@dataclass(frozen=True)
class BackupInfo:
    """One archive as listed: whether it verifies and, if not, why."""

    name: str
    created_at: datetime
    size: int  # of the archive
    manifest: Manifest | None
    verified: bool
    problem: str | None = None
    unsealed: bool = False  # refused only for being made before sealing (see UnsealedArchive)


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did."""

    name: str
    restored: Manifest
    safety_backup: str | None  # None only when there was no database file to save
    sessions_ended: int
    # Telegram users logged in just before the swap: the restore logged them out, and they
    # should be told why (the bot tells them; a CLI restore only counts them).
    logged_out: tuple[int, ...] = ()


@dataclass(frozen=True)
class DrillResult:
    """What the restore drill found: the newest archive, restored into a temp file and put
    through every check of a real restore (nothing was swapped)."""

    info: BackupInfo  # verified, or the problem; the manifest carries the row counts

    @property
    def passed(self) -> bool:
        """True when a real restore of this archive would have been accepted."""
        return self.info.verified
