"""The ``[backups]`` settings (read by :func:`core.config.load_settings`, which re-exports
them): in a module of their own so core/config.py stays under 500 lines as keys are added."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.backups.offsite import OffsiteTarget


@dataclass(frozen=True)
class BackupSettings:
    dir: Path = Path("backups")
    hour_utc: int = 2
    retention_days: int = 30
    age_recipients: tuple[str, ...] = ()  # the operator's offline age keys (sealed to them too)
    drill_days: int = 30  # the restore drill's period (0: no drill)
    offsite: OffsiteTarget | None = None  # see core/backups/offsite.py
    s3_endpoint_url: str | None = None
