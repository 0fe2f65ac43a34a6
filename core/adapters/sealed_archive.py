"""The sealed archive's layout and streams (format 2, see :mod:`core.backups.archive_rules`).

Writing: the database is read once, gzipped on the fly, encrypted by the age adapter on the
fly and written as the tar member ``verzek.db.gz.age``; nothing is held in memory whole and
nothing but the archive is written. tar needs a member's size in its header before the data,
and an age file's size is not known before it is written (its header is padded at random), so
the archive is three gzip members one after another (gzip readers, ``tar -z`` and Python's
alike, read them as one stream): the tar headers with a placeholder size, the age file, and
the tar padding and end. The first member is stored (level 0), so rewriting it with the real
size keeps its length, and it is rewritten in place once the age file is written. The age
file is stored too: ciphertext does not compress, and compressing it again would only cost time.

Reading: the age stream is decrypted and gunzipped on the fly into the caller's file, its size
bounded by the manifest (a gzip bomb stops at the manifest's size) and its SHA-256 computed
on the way.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zlib
from collections.abc import Callable
from typing import IO

from core.adapters.age_seal import AgeSeal, Readable
from core.backups.archive_rules import MANIFEST_MEMBER, BackupError, Manifest

BLOCK = 512
RECORD = 20 * BLOCK  # what tar pads an archive to
CHUNK = 1024 * 1024
GZIP_WBITS = 31  # zlib's gzip container (no name, no time)
Meter = Callable[[int], None]


def _header(name: str, size: int, mtime: float) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, int(mtime), 0o600, tarfile.REGTYPE
    # GNU format: sizes past 8 GiB still fit the one 512-byte block (no extended header).
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _stored(data: bytes) -> bytes:
    """A gzip member holding ``data`` uncompressed: its length depends on len(data) alone."""
    return gzip.compress(data, compresslevel=0, mtime=0)


class _Gzipping:
    """A reader yielding the gzip of ``source`` (read a chunk at a time)."""

    def __init__(self, source: IO[bytes], level: int, meter: Meter) -> None:
        self._source, self._meter = source, meter
        self._zip = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
        self._pending, self._at, self._done = b"", 0, False

    def read(self, size: int = -1, /) -> bytes:
        while self._at >= len(self._pending):
            if self._done:
                return b""
            chunk = self._source.read(CHUNK)
            self._meter(len(chunk))
            if chunk:
                self._pending = self._zip.compress(chunk)
            else:
                self._pending, self._done = self._zip.flush(), True
            self._at = 0
        end = len(self._pending) if size < 0 else self._at + size
        out = self._pending[self._at : end]
        self._at += len(out)
        return out


class _Counting:
    """A writer passing everything on and counting it."""

    def __init__(self, sink: gzip.GzipFile) -> None:
        self._sink, self.count = sink, 0

    def write(self, data: bytes, /) -> int:
        self._sink.write(data)
        self.count += len(data)
        return len(data)


def write_sealed(
    raw: IO[bytes],
    manifest: Manifest,
    manifest_bytes: bytes,
    database: IO[bytes],
    seal: AgeSeal,
    *,
    level: int,
    meter: Meter,
) -> None:
    """Write the sealed archive of ``database`` into the new, seekable file ``raw``."""
    mtime = manifest.created_at.timestamp()

    def heads(size: int) -> bytes:
        return _stored(
            _header(MANIFEST_MEMBER, len(manifest_bytes), mtime)
            + manifest_bytes
            + _padding(len(manifest_bytes))
            + _header(manifest.member, size, mtime)
        )

    start = raw.tell()
    placeholder = heads(0)
    raw.write(placeholder)
    # filename="" keeps the temp name out of the gzip header.
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=0, mtime=0) as stored:
        counted = _Counting(stored)
        seal.encrypt(_Gzipping(database, level, meter), counted)
    size = counted.count
    used = BLOCK + len(manifest_bytes) + len(_padding(len(manifest_bytes))) + BLOCK + size
    tail = _padding(size) + b"\0" * (2 * BLOCK)
    tail += b"\0" * (-(used + len(tail)) % RECORD)
    raw.write(_stored(tail))
    end = raw.tell()
    final = heads(size)
    if len(final) != len(placeholder):  # cannot happen with stored gzip; never write past it
        raise BackupError("internal error: the archive's header changed length")
    raw.seek(start)
    raw.write(final)
    raw.seek(end)


class _Gunzipping:
    """A writer that gunzips what it is given into ``out``, at most ``limit`` bytes, hashing
    and metering on the way. A problem is raised from ``write`` (pyrage passes it on)."""

    def __init__(self, out: IO[bytes], limit: int, meter: Meter) -> None:
        self._out, self._limit, self._meter = out, limit, meter
        self._unzip = zlib.decompressobj(GZIP_WBITS)
        self.digest = hashlib.sha256()
        self.size = 0

    def _take(self, plain: bytes) -> None:
        self.size += len(plain)
        if self.size > self._limit:
            raise BackupError(
                f"the sealed database unpacks to more than the {self._limit} bytes its manifest "
                "says"
            )
        self.digest.update(plain)
        self._out.write(plain)
        self._meter(len(plain))

    def write(self, data: bytes, /) -> int:
        if self._unzip.eof:
            if data:
                raise BackupError("the sealed database has data after its end")
            return 0
        try:
            self._take(self._unzip.decompress(data, CHUNK))
            while self._unzip.unconsumed_tail and not self._unzip.eof:
                self._take(self._unzip.decompress(self._unzip.unconsumed_tail, CHUNK))
        except zlib.error as exc:
            raise BackupError(f"the sealed database is not valid gzip ({exc})") from None
        if self._unzip.eof and (self._unzip.unused_data or self._unzip.unconsumed_tail):
            raise BackupError("the sealed database has data after its end")
        return len(data)

    def finish(self) -> None:
        """Refuse a gzip stream that ended early."""
        if not self._unzip.eof:
            raise BackupError("the sealed database is cut short (its gzip stream has no end)")


class _Guarded:
    """A reader that keeps the archive's own read errors, which pyrage would reword."""

    def __init__(self, source: Readable) -> None:
        self._source = source
        self.error: BaseException | None = None

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._source.read(size)
        except Exception as exc:
            self.error = exc
            raise


def read_sealed(
    source: Readable, out: IO[bytes], manifest: Manifest, seal: AgeSeal, meter: Meter
) -> str:
    """Decrypt and gunzip the ``verzek.db.gz.age`` member ``source`` into ``out``; return the
    SHA-256 (hex) of what was written. Raises :class:`BackupError` (or the archive's own read
    error) on any failure; ``out`` then holds garbage the caller discards."""
    sink = _Gunzipping(out, manifest.db_size, meter)
    guarded = _Guarded(source)
    try:
        seal.decrypt(guarded, sink)
    except BackupError:
        if guarded.error is not None:
            raise guarded.error from None
        raise
    sink.finish()
    if sink.size != manifest.db_size:
        raise BackupError(
            f"the sealed database is {sink.size} bytes but the manifest says {manifest.db_size}"
        )
    return sink.digest.hexdigest()
