"""Whether an archive verifies, exactly as a restore would check it (SPEC §8, §8a).

In order: the name; the members; the manifest, and for a sealed archive its MAC and its time
against the name (an unsealed one is refused unless allowed); the database decrypted (every
age chunk authenticated) and gunzipped, its size and SHA-256 against the manifest; then every
check of :mod:`core.backups.checks` on the unpacked file. Outcomes of unchanged files are
remembered, so listing is cheap after the first time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from core.adapters import backup_archive as archive
from core.adapters.age_seal import AgeSeal
from core.backups.archive_rules import (
    BackupError,
    Manifest,
    OtherEngineArchive,
    Progress,
    UnsealedArchive,
    parse_name,
)
from core.backups.checks import CandidateChecks
from core.backups.folder import ArchiveFolder
from core.backups.results import BackupInfo
from core.backups.sealing import Seals
from core.clock import Clock


class ArchiveVerifier:
    """Verifies archives of one folder and remembers the outcome of each unchanged file."""

    def __init__(
        self, folder: ArchiveFolder, checks: CandidateChecks, seals: Seals, clock: Clock
    ) -> None:
        self._folder, self._checks, self._seals, self._clock = folder, checks, seals, clock
        # name -> (size, mtime, inode) when verified, and the outcome; a changed file is redone.
        self._verdicts: dict[str, tuple[tuple[int, int, int], BackupInfo]] = {}

    def forget(self, name: str) -> None:
        """Drop what is remembered about ``name`` (deleted, or to be checked afresh)."""
        self._verdicts.pop(name, None)

    async def manifest(self, name: str) -> Manifest:
        """The manifest of archive ``name`` once accepted (its MAC and time; nothing else is
        unpacked); raises :class:`BackupError`, :class:`UnsealedArchive` for an old one."""
        path = self._folder.path(name)
        manifest = await asyncio.to_thread(archive.read_manifest, path)
        self._accept(name)(manifest)
        return manifest

    def _accept(
        self, name: str, *, allow_unsealed: bool = False
    ) -> Callable[[Manifest], AgeSeal | None]:
        """The seal's check of the manifest, then: it is an archive of this bot's engine."""
        accept = self._seals.acceptor(name, allow_unsealed=allow_unsealed)
        engine = self._checks.engine

        def accepted(manifest: Manifest) -> AgeSeal | None:
            seal = accept(manifest)  # genuine first: only then is its engine worth naming
            if manifest.engine != engine:
                raise OtherEngineArchive(manifest.engine, engine)
            return seal

        return accepted

    async def verdict(
        self, name: str, say: Progress, *, allow_unsealed: bool = False
    ) -> BackupInfo:
        """Verify ``name`` (or recall the outcome for an unchanged file). An outcome with
        ``allow_unsealed`` is never remembered: listing must not show it as verified."""
        path = self._folder.path(name)
        st = await asyncio.to_thread(path.stat)
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        cached = self._verdicts.get(name)
        if cached is not None and cached[0] == key and not allow_unsealed:
            return cached[1]
        temp = archive.temp_path(self._folder.directory, self._clock.now(), "verify")
        try:
            manifest = await self.unpack_and_check(
                name, path, temp, say, allow_unsealed=allow_unsealed
            )
            info = BackupInfo(name, manifest.created_at, st.st_size, manifest, True)
        except BackupError as exc:
            try:
                known: Manifest | None = await asyncio.to_thread(archive.read_manifest, path)
            except BackupError:
                known = None
            created_at = known.created_at if known is not None else parse_name(name)[0]
            unsealed = isinstance(exc, UnsealedArchive)
            info = BackupInfo(
                name, created_at, st.st_size, known, False, exc.problem, unsealed=unsealed
            )
        finally:
            await asyncio.to_thread(archive.unlink_quietly, temp)
        if not allow_unsealed:
            self._verdicts[name] = (key, info)
        return info

    async def unpack_and_check(
        self, name: str, path: Path, into: Path, say: Progress, *, allow_unsealed: bool = False
    ) -> Manifest:
        """Unpack archive ``name`` (at ``path``) into the new file ``into`` and run every
        check; raises :class:`BackupError` saying which failed first."""
        accept = self._accept(name, allow_unsealed=allow_unsealed)
        manifest = await asyncio.to_thread(archive.unpack, path, into, say, accept=accept)
        say("checking the database: integrity, schema, audit chain")
        await self._checks.run(into, manifest)
        return manifest
