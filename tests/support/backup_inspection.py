"""What a backup test looks at: the rows of a SQLite file, the archives and their members.

``backup_settings`` is the configuration the backup tests run with (a ``backups.dir`` under the
test's folder, 30 days kept); ``dump`` reads every row of every table, ``row_counts`` counts them
for a database given as bytes; ``names`` lists a service's archives and ``members`` the files in
one; ``add_user`` makes an account with a session to back up and ``audit_types`` lists the audit
events written so far.
"""

from __future__ import annotations

import sqlite3
import tarfile
from contextlib import closing
from pathlib import Path

from core.backups.service import BackupService
from core.config import Settings, load_settings
from core.services import Services


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }


def names(service: BackupService) -> list[str]:
    return sorted(p.name for p in service.directory.glob("verzek-*.tar.gz"))


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]  # all regular files


def row_counts(db: bytes) -> dict[str, int]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.db"
        path.write_bytes(db)
        try:
            return {t: len(rows) for t, rows in dump(path).items()}
        except sqlite3.DatabaseError:
            return {}


async def add_user(services: Services, email: str, telegram_user_id: int) -> int:
    user = await services.accounts.register(
        email=email,
        password_hash="$argon2id$not-a-real-hash",
        referral_code=None,
        telegram_user_id=telegram_user_id,
    )
    async with services.uow() as uow:
        await services.sessions.start(uow, user.id, telegram_user_id)
        await uow.commit()
    return user.id


async def audit_types(services: Services) -> list[str]:
    return [row.event_type async for row in services.audit.export()]


def backup_settings(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\nretention_days = 30\n'
    )
    return load_settings(config, env)
