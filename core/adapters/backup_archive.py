"""The backup archive's tar and file mechanics (used by :mod:`core.backups.service`).

The format itself (names, the manifest, why a backup fails) is pure and lives in
:mod:`core.backups.archive_rules`: an archive holds exactly two regular files,
``manifest.json`` first, then the database: ``verzek.db.gz.age`` sealed (the layout and
streams are :mod:`core.adapters.sealed_archive`), ``verzek.db`` in archives made before.

Writing goes to a hidden temp file that is flushed (fsync) before it gets its final name, and
the folder is flushed after, so a crash never leaves a partial archive under a valid name.
Reading never uses the archive's own paths to write anything: only the two expected members
are accepted, in order, as regular files, and the database is streamed into a file the caller
names, checked against the manifest's size and SHA-256 on the way.

Everything here blocks; :mod:`core.backups.service` calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.metadata
import io
import os
import secrets
import shutil
import tarfile
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO

from core.adapters.age_seal import AgeSeal
from core.adapters.sealed_archive import read_sealed, write_sealed
from core.backups.archive_rules import (
    MANIFEST_MEMBER,
    MAX_MANIFEST_BYTES,
    STAMP_FORMAT,
    BackupError,
    Manifest,
    Progress,
    human_size,
    quiet,
)

COMPRESS_LEVEL = 6  # gzip's own default: level 9 costs much more time for little gain
CHUNK = 1024 * 1024
FREE_SPACE_MARGIN = 64 * 1024 * 1024
METER_MIN_BYTES = 32 * 1024 * 1024  # smaller files are quick: no percentages for them


def app_version() -> str:
    """The installed Verzek Guard version (``unknown`` when running from a source tree)."""
    try:
        return importlib.metadata.version("verzek-guard")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --- plain files ------------------------------------------------------------------------------


def ensure_dir(directory: Path) -> None:
    """Create the archive folder (owner only) if missing."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def temp_path(directory: Path, now: datetime, kind: str) -> Path:
    """A hidden name that listing ignores and pruning recognises (``archive_rules.TEMP_RE``)."""
    return directory / f".verzek-{now.strftime(STAMP_FORMAT)}-{secrets.token_hex(4)}.{kind}.tmp"


def unlink_quietly(path: Path) -> None:
    """Remove ``path`` if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def fsync_dir(directory: Path) -> None:
    """Make renames and deletions in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_file(path: Path) -> IO[bytes]:
    """Create ``path`` (never overwriting), readable by the owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def sha256_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 (hex) of a file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class _Meter:
    """Reports ``… verb NN%`` every tenth of a long copy."""

    def __init__(self, total: int, say: Progress, verb: str) -> None:
        self._total, self._say, self._verb = total, say, verb
        self._done = 0
        self._next = 10

    def add(self, count: int) -> None:
        self._done += count
        if self._total < METER_MIN_BYTES:
            return
        percent = self._done * 100 // self._total
        while percent >= self._next and self._next < 100:
            self._say(f"… {self._verb} {self._next}%")
            self._next += 10

    def __call__(self, count: int) -> None:
        self.add(count)


class _MeteredReader:
    """A file wrapper whose reads advance a :class:`_Meter`."""

    def __init__(self, source: IO[bytes], meter: _Meter) -> None:
        self._source, self._meter = source, meter

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._meter.add(len(data))
        return data


# --- writing ----------------------------------------------------------------------------------


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, int(mtime), 0o600, tarfile.REGTYPE
    return info


def pack(
    directory: Path,
    manifest: Manifest,
    database: Path,
    say: Progress = quiet,
    *,
    seal: AgeSeal | None = None,
    mac_key: bytes | None = None,
) -> str:
    """Write an archive of ``database`` under a temp name, flush it, give it its final name
    (never replacing an existing archive) and return that name. A sealed ``manifest`` needs
    ``seal`` and ``mac_key``; an unsealed one writes the format made before sealing (tests
    of old archives use it)."""
    stamp = manifest.created_at.strftime(STAMP_FORMAT)
    temp = temp_path(directory, manifest.created_at, "archive")
    body = manifest.to_bytes(mac_key)
    mtime = manifest.created_at.timestamp()
    try:
        with _new_file(temp) as raw:
            if manifest.sealed:
                if seal is None:
                    raise ValueError("a sealed archive needs its seal")
                with database.open("rb") as source:
                    write_sealed(
                        raw,
                        manifest,
                        body,
                        source,
                        seal,
                        level=COMPRESS_LEVEL,
                        meter=_Meter(manifest.db_size, say, "compressing and sealing"),
                    )
                raw.flush()
                os.fsync(raw.fileno())
                return _publish(temp, directory, stamp)
            # filename="" keeps the temp name out of the gzip header.
            with (
                gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=0
                ) as gz,
                tarfile.TarFile(fileobj=gz, mode="w", copybufsize=CHUNK) as tar,
                database.open("rb") as source,
            ):
                tar.addfile(_member(MANIFEST_MEMBER, len(body), mtime), io.BytesIO(body))
                meter = _Meter(manifest.db_size, say, "compressing")
                tar.addfile(
                    _member(manifest.member, manifest.db_size, mtime),
                    _MeteredReader(source, meter),
                )
            raw.flush()
            os.fsync(raw.fileno())
        return _publish(temp, directory, stamp)
    except BaseException:
        unlink_quietly(temp)
        raise


def _publish(temp: Path, directory: Path, stamp: str) -> str:
    """Give the flushed ``temp`` the first free archive name for ``stamp``."""
    for number in range(1000):
        name = f"verzek-{stamp}.tar.gz" if number == 0 else f"verzek-{stamp}-{number}.tar.gz"
        final = directory / name
        try:
            os.link(temp, final)  # atomic, and fails instead of replacing an existing archive
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if final.exists():
                continue
            os.replace(temp, final)
        else:
            os.unlink(temp)
        fsync_dir(directory)
        return name
    raise BackupError("too many backups within one second")


# --- reading ----------------------------------------------------------------------------------

_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def _damaged(exc: BaseException) -> BackupError:
    return BackupError(f"the archive is damaged or truncated ({type(exc).__name__}: {exc})")


def _check_member(info: tarfile.TarInfo | None, expected: str) -> tarfile.TarInfo:
    """The next member must be the regular file ``expected``; refuse anything else."""
    if info is None:
        raise BackupError(f"the archive has no {expected}")
    shown = info.name if len(info.name) <= 80 else info.name[:77] + "…"
    parts = PurePosixPath(info.name.replace("\\", "/")).parts
    if info.name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise BackupError(f"refused: the archive holds an unsafe path ({shown!r})")
    if info.name != expected:
        if expected == MANIFEST_MEMBER:
            raise BackupError(
                f"not a Verzek Guard backup: it does not start with manifest.json ({shown!r})"
            )
        raise BackupError(
            f"unexpected member {shown!r}: a backup holds only manifest.json and its database"
        )
    if not info.isreg():
        raise BackupError(f"refused: {shown!r} in the archive is not a regular file")
    return info


def _manifest_member(tar: tarfile.TarFile) -> Manifest:
    info = _check_member(tar.next(), MANIFEST_MEMBER)
    if info.size > MAX_MANIFEST_BYTES:
        raise BackupError("manifest.json is implausibly large")
    handle = tar.extractfile(info)
    if handle is None:
        raise BackupError("manifest.json cannot be read")
    return Manifest.from_bytes(handle.read(MAX_MANIFEST_BYTES + 1))


def read_manifest(path: Path) -> Manifest:
    """Only the manifest (the first member): cheap, nothing else is unpacked."""
    try:
        with gzip.open(path, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            return _manifest_member(tar)
    except _ARCHIVE_ERRORS as exc:
        raise _damaged(exc) from None
    except OSError as exc:
        raise BackupError(f"cannot read the archive: {exc.strerror or exc}") from None


def unpack(
    path: Path,
    into: Path,
    say: Progress = quiet,
    *,
    accept: Callable[[Manifest], AgeSeal | None],
) -> Manifest:
    """Check the archive's members and manifest and write its database to the new file
    ``into`` (flushed), checking size and SHA-256 against the manifest on the way.

    ``accept`` sees the manifest before anything else is read: it raises to refuse it (a MAC
    that fails, an unsealed archive not allowed) and returns the seal that opens a sealed one.
    """
    try:
        with gzip.open(path, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            manifest = _manifest_member(tar)
            seal = accept(manifest)
            member = _check_member(tar.next(), manifest.member)
            if not manifest.sealed and member.size != manifest.db_size:
                raise BackupError(
                    f"verzek.db is {member.size} bytes but the manifest says {manifest.db_size}"
                )
            free = shutil.disk_usage(into.parent).free
            if free < manifest.db_size + FREE_SPACE_MARGIN:
                raise BackupError(
                    f"not enough free space in {into.parent} to unpack "
                    f"{human_size(manifest.db_size)} ({human_size(free)} free)"
                )
            source = tar.extractfile(member)
            if source is None:
                raise BackupError(f"{manifest.member} cannot be read")
            meter = _Meter(manifest.db_size, say, "unpacking")
            with _new_file(into) as out:
                if manifest.sealed:
                    if seal is None:
                        raise BackupError("no key to open a sealed backup")
                    digest = read_sealed(source, out, manifest, seal, meter)
                else:
                    hashing = hashlib.sha256()
                    while chunk := source.read(CHUNK):
                        hashing.update(chunk)
                        out.write(chunk)
                        meter.add(len(chunk))
                    digest = hashing.hexdigest()
                out.flush()
                os.fsync(out.fileno())
            if digest != manifest.db_sha256:
                raise BackupError(
                    "checksum mismatch: the database does not match the SHA-256 in its manifest"
                )
            extra = tar.next()
            if extra is not None:
                _check_member(extra, "")
            # Read to the very end, so gzip checks its own CRC and length trailer too.
            while gz.read(CHUNK):
                pass
    except BackupError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise _damaged(exc) from None
    except OSError as exc:
        raise BackupError(f"cannot unpack the archive: {exc.strerror or exc}") from None
    return manifest
