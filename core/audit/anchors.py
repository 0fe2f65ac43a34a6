"""Anchors: the audit chain's head shown outside the database (SPEC §8a).

The keyed chain stops someone without the master key from rewriting or deleting rows and
making the links fit again; it cannot stop them from putting back an older copy of the whole
file, which is a perfectly valid chain, only shorter. What an older copy cannot contain is a
head that was shown elsewhere after it was taken. So every hour, and at each backup, the head
(last row id and its link) is recorded here and posted to the admin chat, where the copy on
the disk cannot reach it:

- ``verzek audit verify`` checks every recorded anchor against the chain and prints the last
  one, for a person to compare with the chat (a copy rolled back to before an anchor lacks it);
- the bot's anchor job reads the newest anchor it pinned in the chat and asks
  :meth:`AnchorService.compare` whether this database still holds that head. A file rolled
  back to before it does not (:attr:`AnchorVerdict.ROLLED_BACK`), unless a restore, chained
  under the key after the anchor was posted, explains it.

Posting the link is safe: it is an HMAC output, which reveals nothing of the key and lets
nobody make another link.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.audit.chain import CHAIN_KEYED, KEY_ROTATED, ChainKeys, keyed_link
from core.audit.detection import Finding, report_finding
from core.audit.log import AuditLog, Severity
from core.audit.ports import Anchor, AuditRow
from core.clock import Clock
from core.ports import UnitOfWork

HOURLY, BACKUP, STARTUP = "hourly", "backup", "startup"
CHAIN_KEY_RULE = "audit_chain_key"  # the alert when the chain's key changes


class ChainKeyWatch:
    """Tells the admins whenever the chain's key changes (an AuditObserver): a rotation they
    did not run means someone else holds a key on the machine."""

    async def observe(self, uow: UnitOfWork, row: AuditRow, log: AuditLog) -> None:
        """Alert on AUDIT_KEY_ROTATED and AUDIT_CHAIN_KEYED (never folded: each is news)."""
        if row.event_type not in (KEY_ROTATED, CHAIN_KEYED):
            return
        evidence = {key: value for key, value in row.details.items() if isinstance(value, str)}
        finding = Finding(
            CHAIN_KEY_RULE,
            Severity.WARNING,
            f"audit-chain:{row.id}",
            None,
            None,
            {"event": row.event_type, **evidence},
        )
        await report_finding(uow, log, finding, at=row.ts, dedupe=timedelta(0), trigger_id=row.id)


@dataclass(frozen=True)
class SeenAnchor:
    """An anchor as the chat shows it: the row id and link posted, and Telegram's time."""

    last_audit_id: int
    link: str
    posted_at: datetime


class AnchorVerdict(StrEnum):
    """What the database says about an anchor the chat shows."""

    HELD = "held"  # the chain still has that row with that link
    RESTORED = "restored"  # it does not, but a keyed BACKUP_RESTORED since explains it
    ROLLED_BACK = "rolled_back"  # it does not, and nothing explains it


@dataclass(frozen=True)
class AnchorCheck:
    """The verdict, with the database's own head for the alert."""

    verdict: AnchorVerdict
    head_id: int
    head_link: str


class AnchorService:
    """Records anchors of the chain head, remembers where they were posted, and checks an
    anchor seen in the chat against this database."""

    def __init__(
        self, uow: Callable[..., UnitOfWork], clock: Clock, keys: Callable[[], ChainKeys]
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._keys = keys

    async def record(self, reason: str, *, only_if_moved: bool = False) -> Anchor | None:
        """Record an anchor of the current head (None for an empty log, or when
        ``only_if_moved`` and the newest anchor already names this head)."""
        async with self._uow() as uow:
            head = await uow.audit.head()
            if head is None:
                return None
            last = await uow.anchors.last()
            if only_if_moved and last is not None and last.link == head.last_hash:
                return None
            anchor = await uow.anchors.add(head.last_id, head.last_hash, reason, self._clock.now())
            await uow.commit()
        return anchor

    async def after_backup(self) -> None:
        """The backup hook: anchor the head each backup left (BACKUP_CREATED included)."""
        await self.record(BACKUP)

    async def unposted(self) -> list[Anchor]:
        """Anchors recorded but not yet posted, oldest first."""
        async with self._uow(read_only=True) as uow:
            return await uow.anchors.unposted()

    async def mark_posted(
        self, anchor: Anchor, chat_id: int, message_id: int, at: datetime
    ) -> None:
        """Remember where ``anchor`` was posted (once)."""
        async with self._uow() as uow:
            await uow.anchors.mark_posted(anchor.id, chat_id, message_id, at)
            await uow.commit()

    async def last(self) -> Anchor | None:
        """The newest recorded anchor."""
        async with self._uow(read_only=True) as uow:
            return await uow.anchors.last()

    async def compare(self, seen: SeenAnchor) -> AnchorCheck:
        """Does this database still hold the head the chat shows (see the module docstring)?

        A restore counts only when its BACKUP_RESTORED row was written after the anchor was
        posted and its link is its HMAC under a configured key: an attacker without the key
        cannot add one, and an older copy of the file cannot contain one."""
        async with self._uow(read_only=True) as uow:
            keys = self._keys().with_sealed(await uow.audit.sealed_keys())
            head = await uow.audit.head()
            head_id, head_link = (head.last_id, head.last_hash) if head else (0, "")
            link = await uow.anchors.link_of(seen.last_audit_id)
            if link is not None and hmac.compare_digest(link, seen.link):
                return AnchorCheck(AnchorVerdict.HELD, head_id, head_link)
            for row in await uow.anchors.restored_since(seen.posted_at):
                key = keys.get(row.key_id) if row.key_id else None
                if key is not None and hmac.compare_digest(keyed_link(key, row), row.hash):
                    return AnchorCheck(AnchorVerdict.RESTORED, head_id, head_link)
        return AnchorCheck(AnchorVerdict.ROLLED_BACK, head_id, head_link)
