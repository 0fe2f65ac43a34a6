"""The checks every candidate database passes before it counts as a backup (SPEC §8, §8a):
the same for a fresh snapshot, a listed archive, a restore and the restore drill.

1. ``integrity_check`` and ``foreign_key_check``; a schema version, not newer than the code,
   equal to the manifest's; the row counts the manifest lists.
2. Nothing planted: its schema (every table, column, index, trigger and view, as SQLite stores
   it) equals what the migrations create for its version.
3. Its audit chain verifies, by the audit log's own verification (passed in by the
   composition root, so a keyed chain is checked with its keys).

All of it reads the candidate with ``trusted_schema`` off (the storage side sees to that);
nothing planted in it runs before step 2 has passed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from core.audit.log import ChainReport
from core.backups.archive_rules import BackupError, Manifest
from core.backups.ports import DatabaseCheck, DatabaseFiles, SchemaObject
from core.errors import StorageError
from core.ports import UnitOfWork

# Verify the audit chain reachable through these units of work (AuditLog.verify's report).
ChainVerifier = Callable[[Callable[..., UnitOfWork]], Awaitable[ChainReport]]
SHOWN = 3  # differences named in a refusal


def basic_problem(
    check: DatabaseCheck, code_version: int, manifest: Manifest | None = None
) -> str | None:
    """Why a database (and its manifest) must not be restored by the basic checks, or None."""
    if check.integrity != ["ok"]:
        return "integrity_check failed: " + "; ".join(check.integrity[:3])
    if check.foreign_key_violations:
        return f"foreign_key_check found {check.foreign_key_violations} violation(s)"
    if check.schema_version is None:
        return "not a Verzek Guard database (it has no schema version)"
    if check.schema_version > code_version:
        return (
            f"its schema version {check.schema_version} is newer than this code knows "
            f"({code_version}): upgrade Verzek Guard first"
        )
    if manifest is not None and check.schema_version != manifest.schema_version:
        return (
            f"the manifest says schema version {manifest.schema_version} but the database "
            f"has {check.schema_version}"
        )
    if manifest is not None and dict(check.row_counts) != dict(manifest.row_counts):
        return "the row counts differ from the manifest"
    return None


def schema_difference(
    actual: frozenset[SchemaObject], expected: frozenset[SchemaObject], version: int
) -> str | None:
    """What sets a schema apart from the migrations' own for ``version``, or None."""
    if actual == expected:
        return None
    by_key = {(item.kind, item.name): item for item in expected}
    extra: list[SchemaObject] = []
    changed: list[SchemaObject] = []
    for item in sorted(actual - expected, key=lambda i: (i.kind, i.name)):
        (changed if (item.kind, item.name) in by_key else extra).append(item)
    actual_keys = {(item.kind, item.name) for item in actual}
    missing = sorted(
        (item for item in expected - actual if (item.kind, item.name) not in actual_keys),
        key=lambda i: (i.kind, i.name),
    )
    parts = [f"an extra {item.kind} {item.name!r}" for item in extra[:SHOWN]]
    parts += [f"a changed {item.kind} {item.name!r}" for item in changed[:SHOWN]]
    parts += [f"no {item.kind} {item.name!r}" for item in missing[:SHOWN]]
    return f"its schema is not what the migrations create for version {version}: " + ", ".join(
        parts[: 2 * SHOWN]
    )


class CandidateChecks:
    """Runs every check on a database file that is not the live one."""

    def __init__(self, files: DatabaseFiles, verify_chain: ChainVerifier) -> None:
        self._files = files
        self._verify_chain = verify_chain

    @property
    def engine(self) -> str:
        """The live database's engine (``archive_rules.SQLITE`` or ``POSTGRESQL``)."""
        return self._files.engine

    def basic_problem(self, check: DatabaseCheck, manifest: Manifest | None = None) -> str | None:
        """See :func:`basic_problem`, against the code's schema version."""
        return basic_problem(check, self._files.code_schema_version(), manifest)

    async def run(self, path: Path, manifest: Manifest | None) -> DatabaseCheck:
        """Every check on the file at ``path``; raises :class:`BackupError` saying which
        failed first. Returns what the file says about itself."""
        try:
            check = await self._files.check(path)
        except StorageError as exc:
            raise BackupError(str(exc)) from None
        problem = self.basic_problem(check, manifest)
        if problem is not None:
            raise BackupError(problem)
        await self.trust(path, check.schema_version or 0)
        return check

    async def trust(self, path: Path, version: int) -> None:
        """Steps 2 and 3 (see the module): the schema, then the audit chain."""
        try:
            actual = await self._files.schema(path)
            expected = await self._files.reference_schema(version)
        except StorageError as exc:
            raise BackupError(str(exc)) from None
        difference = schema_difference(actual, expected, version)
        if difference is not None:
            raise BackupError(difference)
        try:
            async with self._files.candidate(path) as units:
                report = await self._verify_chain(units)
        except StorageError as exc:
            raise BackupError(f"its audit chain cannot be read ({exc})") from None
        if not report.ok:
            where = f" at row {report.bad_row_id}" if report.bad_row_id is not None else ""
            raise BackupError(f"its audit chain does not verify{where}: {report.reason}")
