"""Off-site copies of the nightly archives (SPEC §8a): where they go, and the pure decisions.

``backups.offsite`` names the place: ``""`` (none), ``"telegram"`` (a document in the admin
chat) or ``"s3://bucket/prefix"`` (an S3-compatible store). Each nightly archive gets one row of
off-site state per place (pending, sent, too big for Telegram, gone before it was copied), so a
failed upload is retried by the next run. Retention applies off-site as it does locally: copies
older than ``retention_days`` are deleted, the newest never. Only a store that can list and
delete what it holds (S3) is pruned: a bot cannot list a chat's messages, and Telegram lets a
bot delete its own messages only within 48 hours, long before an archive is 30 days old, so a
document sent to the admin chat stays there until a person deletes it.

The stores are adapters behind :class:`OffsiteStore` (core/adapters/offsite_s3.py, and the
bot's Telegram sender); the procedure is :mod:`core.backups.offsite_service`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from core.backups.archive_rules import NAME_RE, BackupError, parse_name

# Telegram takes documents from bots up to 50 MB; we stay well under it (SPEC §8a: 45 MB).
TELEGRAM_MAX_BYTES = 45_000_000  # as human_size shows it: "45.0 MB"
# S3 bucket names: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_LIKE_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")
# One folder of a key prefix: plain characters only (no spaces, no URL syntax, no "..").
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MAX_PREFIX = 512  # an S3 key is at most 1024 bytes; the archive name needs ~40 of them


class OffsiteKind(StrEnum):
    TELEGRAM = "telegram"
    S3 = "s3"


@dataclass(frozen=True)
class OffsiteTarget:
    """Where off-site copies go. ``prefix`` is "" or folders ending in "/"."""

    kind: OffsiteKind
    bucket: str = ""
    prefix: str = ""

    def key(self, name: str) -> str:
        """The object key of archive ``name`` (S3)."""
        return f"{self.prefix}{name}"

    def describe(self) -> str:
        """How the place is shown and recorded (never holds credentials)."""
        if self.kind is OffsiteKind.TELEGRAM:
            return "telegram"
        return f"s3://{self.bucket}/{self.prefix}"


def parse_offsite(raw: Any) -> OffsiteTarget | None:
    """The place ``backups.offsite`` names; ValueError with the reason (never echoing the
    value, which a careless operator may have pasted credentials into)."""
    if not isinstance(raw, str):
        raise ValueError('must be a string: "", "telegram" or "s3://bucket/prefix"')
    text = raw.strip()
    if text == "":
        return None
    if text == "telegram":
        return OffsiteTarget(OffsiteKind.TELEGRAM)
    if not text.startswith("s3://"):
        raise ValueError('must be "", "telegram" or "s3://bucket/prefix"')
    bucket, _, prefix = text.removeprefix("s3://").partition("/")
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket or _IP_LIKE_RE.fullmatch(bucket):
        raise ValueError(
            "has no valid bucket name (3-63 of a-z, 0-9, '.', '-'; no user name or password: "
            "credentials come from the standard AWS environment or files)"
        )
    segments = prefix.removesuffix("/").split("/") if prefix else []
    for segment in segments:
        if not _SEGMENT_RE.fullmatch(segment) or segment in {".", ".."}:
            raise ValueError(
                "has a bad prefix: folders of A-Z, a-z, 0-9, '.', '_', '-' separated by single "
                "'/', and no '.' or '..' folder"
            )
    normal = "".join(f"{segment}/" for segment in segments)
    if len(normal) > MAX_PREFIX:
        raise ValueError(f"has a prefix longer than {MAX_PREFIX} characters")
    return OffsiteTarget(OffsiteKind.S3, bucket, normal)


class OffsiteError(BackupError):
    """An off-site store refused or could not be reached; ``problem`` says why (no secrets)."""


class OffsiteStore(Protocol):
    """A place that holds copies of archives (an adapter: S3, the admin chat)."""

    async def put(self, path: Path, name: str, size: int) -> str:
        """Copy the archive file at ``path`` (``size`` bytes) as ``name``; return where it is
        now (a key, a message), for the record. Raises :class:`OffsiteError`."""
        ...

    async def names(self) -> list[str] | None:
        """The archive names the store holds, or None when it cannot list them (Telegram).
        Raises :class:`OffsiteError`."""
        ...

    async def delete(self, name: str) -> None:
        """Delete the copy of ``name``. Raises :class:`OffsiteError`."""
        ...


class CopyStatus(StrEnum):
    PENDING = "pending"  # not copied yet: the next run tries (again)
    SENT = "sent"
    TOO_BIG = "too_big"  # over what the place takes (Telegram): the admins were told
    GONE = "gone"  # the local archive went (retention, a person) before it was copied


@dataclass(frozen=True)
class OffsiteCopy:
    """One archive's off-site state for one place."""

    archive: str
    target: str  # OffsiteTarget.describe()
    status: CopyStatus
    size: int  # of the archive when it was written
    attempts: int
    created_at: datetime
    last_error: str | None = None
    sent_at: datetime | None = None
    remote_ref: str | None = None


class OffsiteCopiesRepository(Protocol):
    """The off-site state of archives (storage/ implements it)."""

    async def add(self, archive: str, target: str, *, size: int, at: datetime) -> None:
        """Record ``archive`` as pending for ``target``; nothing when it is already known."""
        ...

    async def pending(self, target: str) -> list[OffsiteCopy]:
        """The pending copies for ``target``, oldest archive first."""
        ...

    async def update(
        self,
        archive: str,
        target: str,
        *,
        status: CopyStatus,
        error: str | None = None,
        at: datetime | None = None,
        remote_ref: str | None = None,
        attempted: bool = False,
    ) -> None:
        """Record the outcome of an attempt (``attempted`` counts it)."""
        ...


@dataclass(frozen=True)
class Decision:
    """What to do with one pending copy now."""

    copy: OffsiteCopy
    action: CopyStatus  # SENT: upload it; TOO_BIG / GONE: record that, no upload
    problem: str | None = None  # why not, for the admins


def decide(copy: OffsiteCopy, target: OffsiteTarget, size_now: int | None) -> Decision:
    """Upload a pending copy, or why not: its file is gone (``size_now`` None), it changed
    since it was written (its size differs: never ship what we did not verify), or it is over
    Telegram's limit."""
    if size_now is None:
        return Decision(copy, CopyStatus.GONE, "the local archive is gone; it was never copied")
    if size_now != copy.size:
        return Decision(
            copy,
            CopyStatus.PENDING,
            f"the archive changed since it was written ({copy.size} -> {size_now} bytes); "
            "not copied",
        )
    if target.kind is OffsiteKind.TELEGRAM and size_now > TELEGRAM_MAX_BYTES:
        return Decision(copy, CopyStatus.TOO_BIG, None)
    return Decision(copy, CopyStatus.SENT)


def remote_doomed(names: list[str], now: datetime, retention_days: int) -> list[str]:
    """The off-site copies past retention: older than ``retention_days``, never the newest.

    Only names that are exactly an archive's name count; anything else under the prefix (a
    person's notes, a folder, a crafted key) is never touched.
    """
    archives = sorted((n for n in set(names) if NAME_RE.fullmatch(n)), key=parse_name)
    if not archives:
        return []
    cutoff = now - timedelta(days=retention_days)
    return [n for n in archives[:-1] if parse_name(n)[0] < cutoff]
