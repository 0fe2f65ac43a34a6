"""The audit events of backups (their details hold names, sizes and counts, nothing secret)."""

from __future__ import annotations

from typing import Any

from core.audit.log import AuditEvent, EventType, Severity
from core.authz import Actor
from core.backups.results import BackupInfo


def created_details(info: BackupInfo, reason: str) -> dict[str, Any]:
    """The details of a BACKUP_CREATED event (nothing secret: names, sizes, counts)."""
    manifest = info.manifest
    return {
        "archive": info.name,
        "reason": reason,
        "size": info.size,
        "verified": info.verified,
        "schema_version": manifest.schema_version if manifest else None,
        "rows": sum(manifest.row_counts.values()) if manifest else None,
    }


def drill_event(actor: Actor, info: BackupInfo) -> AuditEvent:
    """The BACKUP_DRILL event of a drill of ``info`` by ``actor``."""
    manifest = info.manifest
    return AuditEvent(
        EventType.BACKUP_DRILL,
        Severity.INFO if info.verified else Severity.WARNING,
        account_id=actor.account_id,
        telegram_user_id=actor.telegram_user_id,
        details={
            "archive": info.name,
            "passed": info.verified,
            "problem": info.problem or None,
            "rows": sum(manifest.row_counts.values()) if manifest else None,
        },
    )
