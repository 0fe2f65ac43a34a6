"""Opening and making archives the way someone holding the files (and maybe the key) would.

``open_archive`` decrypts an archive with the configured key (what an operator does with
``age -d``); ``seal_database`` packs any database file into a properly sealed archive with the
key (the insider who has the key, or the code itself); ``unsealed_archive`` writes the format
made before sealing, which anyone can forge.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path

from bot.bootstrap import archive_seal
from core.adapters import backup_archive as archive
from core.backups.archive_rules import Manifest
from core.config import Settings
from storage.snapshot import check_file


def unpack_to(settings: Settings, path: Path, into: Path) -> Manifest:
    """Unpack the archive at ``path`` into the new file ``into`` with the configured key."""
    seal = archive_seal(settings)
    return archive.unpack(path, into, accept=lambda m: seal.age if m.sealed else None)


def open_archive(settings: Settings, path: Path) -> tuple[Manifest, bytes]:
    """The manifest and the database bytes of an archive (sealed or not)."""
    with tempfile.TemporaryDirectory() as folder:
        into = Path(folder) / "db"
        manifest = unpack_to(settings, path, into)
        return manifest, into.read_bytes()


def member_names(path: Path) -> list[str]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getnames()


def _manifest(db: Path, created_at: datetime, *, sealed: bool) -> Manifest:
    check = check_file(db)
    data = db.read_bytes()
    return Manifest(
        created_at=created_at,
        reason="manual",
        schema_version=check.schema_version or 0,
        app_version="test",
        db_size=len(data),
        db_sha256=hashlib.sha256(data).hexdigest(),
        row_counts=check.row_counts,
        sealed=sealed,
    )


def seal_database(settings: Settings, db: Path, created_at: datetime) -> str:
    """A sealed archive of the database file ``db`` in the backup folder; its name."""
    seal = archive_seal(settings)
    settings.backups.dir.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(db, created_at, sealed=True)
    return archive.pack(settings.backups.dir, manifest, db, seal=seal.age, mac_key=seal.mac_keys[0])


def unsealed_archive(settings: Settings, db: Path, created_at: datetime) -> str:
    """An archive of ``db`` in the format made before sealing (no key needed); its name."""
    settings.backups.dir.mkdir(parents=True, exist_ok=True)
    return archive.pack(settings.backups.dir, _manifest(db, created_at, sealed=False), db)


def write_db(data: bytes, folder: Path, name: str = "edited.db") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path
