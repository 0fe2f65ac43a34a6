"""Benchmark: backup and restore of a ~1 GB database, next to ``sqlite3 .backup`` + ``gzip``.

Run from the repository root:  python bench/backup.py [--size-mb 1024] [--keep-dir DIR]

It builds a database at the current schema whose ``conversation_state`` rows carry random
blobs (incompressible: the worst case for gzip, and what encrypted or hashed data looks like;
an archive may hold only the migrations' own tables, SPEC §8a), then times in the same run:

- ours: ``BackupService.create`` (one-step online snapshot, integrity, schema and audit-chain
  checks, SHA-256, gzip level 6 then age (sealed), MACed manifest, fsync, rename, full
  verification of the written archive) and ``BackupService.restore`` (MAC, decrypt + gunzip +
  SHA-256, every check again, safety backup of the live database, swap, reopen);
- the sealing overhead: packing and unpacking the same snapshot sealed and in the unsealed
  format made before sealing, in CPU seconds of this process (wall time on a shared machine
  is mostly other processes' load), the difference as a share of our backup's CPU time (at
  most 15%);
- baseline: the sqlite3 CLI's ``.backup`` followed by ``gzip -6`` for the backup, and
  ``gunzip`` for the restore (no checks at all). Without the sqlite3/gzip programs it falls
  back to Python's sqlite3 backup API and gzip module, and says so.

Everything lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.bootstrap import archive_seal, operations
from core.adapters import backup_archive as archive
from core.authz import OPERATOR
from core.backups.archive_rules import Manifest, human_size
from core.clock import SystemClock
from core.config import BackupSettings, DatabaseSettings, EncryptionSettings, Secret, Settings
from core.crypto import generate_master_key

BLOB = 4000  # bytes per row: about one page each
ROUNDS = 3  # of the sealing comparison


def settings_for(db: Path, backups: Path) -> Settings:
    key = EncryptionSettings(master_key=Secret(generate_master_key()))
    return Settings(
        database=DatabaseSettings(db), backups=BackupSettings(dir=backups), encryption=key
    )


def build(path: Path, size_mb: int) -> None:
    """A migrated database plus ``size_mb`` of random blobs."""

    async def migrate() -> None:
        database = operations(Settings(database=DatabaseSettings(path))).database
        await database.open()
        await database.close()

    asyncio.run(migrate())
    rows = size_mb * 1024 * 1024 // BLOB
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        batch = 20_000
        for start in range(0, rows, batch):
            count = min(batch, rows - start)
            conn.execute("BEGIN")
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO conversation_state (kind, name, key, sealed, updated_at)"
                " SELECT 'user_data', 'bench', ? + i, randomblob(?), 't' FROM n",
                (count, start, BLOB),
            )
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class Steps:
    """Collects progress lines with the time since start."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.lines: list[tuple[float, str]] = []

    def __call__(self, text: str) -> None:
        if not text.startswith("…"):
            self.lines.append((time.perf_counter() - self.start, text))

    def show(self, total: float) -> None:
        marks = [*self.lines, (total, "done")]
        for (at, text), (nxt, _) in itertools.pairwise(marks):
            print(f"      {nxt - at:7.2f} s  {text[:70]}")


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run(cmd: list[str], **kwargs: Any) -> None:
    subprocess.run(cmd, check=True, **kwargs)


def baseline_backup(db: Path, out: Path, cli: bool) -> Path:
    copy = out / "baseline.db"
    if cli:
        run(["sqlite3", str(db), f".backup '{copy}'"])
        run(["gzip", "-6", str(copy)])
    else:
        with closing(sqlite3.connect(db)) as src, closing(sqlite3.connect(copy)) as dst:
            src.backup(dst, pages=-1)
        with copy.open("rb") as raw, gzip.open(f"{copy}.gz", "wb", compresslevel=6) as packed:
            shutil.copyfileobj(raw, packed, 1024 * 1024)
        copy.unlink()
    return Path(f"{copy}.gz")


def baseline_restore(archive: Path, target: Path, cli: bool) -> None:
    if cli:
        with target.open("wb") as handle:
            run(["gunzip", "-c", str(archive)], stdout=handle)
    else:
        with gzip.open(archive, "rb") as packed, target.open("wb") as raw:
            shutil.copyfileobj(packed, raw, 1024 * 1024)


def sealing_overhead(settings: Settings, db: Path, folder: Path) -> tuple[float, float, float]:
    """What sealing adds: the same snapshot packed and unpacked (as create's verification
    does) sealed and in the format made before sealing, alternately, best of ``ROUNDS`` each
    (a loaded machine's noise is larger than the difference); (difference, sealed, unsealed)."""
    folder.mkdir()
    snapshot = folder / "snapshot.db"
    with closing(sqlite3.connect(db)) as src, closing(sqlite3.connect(snapshot)) as dst:
        src.backup(dst, pages=-1)
    size, digest = archive.sha256_file(snapshot)
    seal = archive_seal(settings)
    now = SystemClock().now()
    # CPU seconds of this process: what sealing costs, whatever else the machine is doing.
    times: dict[bool, float] = {True: float("inf"), False: float("inf")}
    for _ in range(ROUNDS):
        for sealed in (True, False):
            manifest = Manifest(now, "bench", 0, "bench", size, digest, {}, sealed=sealed)
            start = time.process_time()
            name = archive.pack(folder, manifest, snapshot, seal=seal.age, mac_key=seal.mac_keys[0])
            into = folder / f"unpacked-{sealed}.db"
            archive.unpack(folder / name, into, accept=lambda m: seal.age)
            times[sealed] = min(times[sealed], time.process_time() - start)
            into.unlink()
            (folder / name).unlink()
    return times[True] - times[False], times[True], times[False]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="blob data to generate")
    args = parser.parse_args()
    cli = shutil.which("sqlite3") is not None and shutil.which("gzip") is not None
    with tempfile.TemporaryDirectory(prefix="verzek-bench-") as folder:
        root = Path(folder)
        db = root / "data" / "verzek.db"
        db.parent.mkdir()
        print(f"building a {args.size_mb} MB database of random blobs in {root} …")
        took = timed(lambda: build(db, args.size_mb))
        print(f"  built {human_size(db.stat().st_size)} in {took:.1f} s")

        baseline_kind = (
            "sqlite3 CLI .backup + gzip -6 / gunzip"
            if cli
            else "stdlib sqlite3 backup + gzip module level 6 / gunzip"
        )
        base_dir = root / "baseline"
        base_dir.mkdir()
        base_backup = timed(lambda: baseline_backup(db, base_dir, cli))
        base_archive = base_dir / "baseline.db.gz"
        base_restore = timed(lambda: baseline_restore(base_archive, base_dir / "restored.db", cli))

        settings = settings_for(db, root / "backups")

        async def ours() -> tuple[float, float, float, int, Steps, Steps]:
            ops = operations(settings)
            database, service = ops.database, ops.backups
            await database.open()
            try:
                backup_steps = Steps()
                cpu_start = time.process_time()
                info = await service.create(OPERATOR, progress=backup_steps)
                backup = time.perf_counter() - backup_steps.start
                backup_cpu = time.process_time() - cpu_start
                await asyncio.sleep(1.1)  # the safety backup gets its own second in its name
                restore_steps = Steps()
                await service.restore(OPERATOR, info.name, progress=restore_steps)
                restore = time.perf_counter() - restore_steps.start
            finally:
                await database.close()
            return backup, backup_cpu, restore, info.size, backup_steps, restore_steps

        backup, backup_cpu, restore, size, backup_steps, restore_steps = asyncio.run(ours())
        seal_cost, pack_sealed, pack_plain = sealing_overhead(settings, db, root / "sealing")

        db_size = db.stat().st_size
        print()
        print(f"database: {human_size(db_size)}; baseline: {baseline_kind}")
        print(f"{'':24}{'ours':>10}{'baseline':>12}{'ours/baseline':>16}")
        print(f"{'backup (s)':24}{backup:10.1f}{base_backup:12.1f}{backup / base_backup:16.2f}")
        print(
            f"{'restore (s)':24}{restore:10.1f}{base_restore:12.1f}{restore / base_restore:16.2f}"
        )
        base_size = base_archive.stat().st_size
        print(
            f"{'archive size':24}{human_size(size):>10}{human_size(base_size):>12}"
            f"{size / base_size:16.3f}"
        )
        print(
            f"{'sealing (CPU s)':24}{seal_cost:10.2f}{'':12}{seal_cost / backup_cpu:15.1%}"
            f"  of our backup's {backup_cpu:.1f} CPU s (limit 15%)"
        )
        print(
            f"  pack + unpack of the same snapshot, CPU s, best of {ROUNDS}: sealed "
            f"{pack_sealed:.2f}, in the unsealed format {pack_plain:.2f}"
        )
        # The database is streamed, never held whole: peak memory stays far below its size.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"peak memory of this process: {human_size(peak)} (database {human_size(db_size)})")
        print("\nours, backup steps:")
        backup_steps.show(backup)
        print("ours, restore steps (includes a full safety backup of the live database):")
        restore_steps.show(restore)
        print(
            f"RESULT: backup {backup:.2f} s vs baseline {base_backup:.2f} s "
            f"({backup / base_backup:.2f}x), restore {restore:.2f} s vs {base_restore:.2f} s "
            f"({restore / base_restore:.2f}x) of a {human_size(db_size)} database; sealing "
            f"{seal_cost:.2f} CPU s = {seal_cost / backup_cpu:.1%} of the backup's CPU time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
