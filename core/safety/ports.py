"""What safety needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class SafetyRecord:
    """One platform-wide switch (e.g. the kill switch) as stored."""

    name: str
    active: bool
    reason: str
    changed_at: datetime
    changed_by_account: int | None
    changed_by_telegram: int | None


class SafetyRepository(Protocol):
    """Platform-wide safety switches; they survive restarts."""

    async def get(self, name: str) -> SafetyRecord | None:
        """The switch's state; None when it was never set (off)."""
        ...

    async def put(self, record: SafetyRecord) -> None:
        """Store the switch's new state."""
        ...
