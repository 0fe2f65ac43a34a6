"""Posts the audit chain's anchors to the admin chat and watches for a rolled-back database
(SPEC §8a; the design is in :mod:`core.audit.anchors`).

Every :data:`TICK` seconds it posts the anchors recorded but not posted yet (the one each backup
records, so it reaches the chat within seconds) and pins the newest, unpinning the one before:
the chat then keeps exactly one pinned anchor, which Telegram holds and no one with the disk can
change. At start-up and every hour it first verifies the whole chain (in short steps, so the
bot keeps serving), then reads that pinned anchor back (``getChat``) and asks core whether
this database still holds the head it names:

- all is well (or a keyed restore since the anchor explains the difference): an anchor of the
  current head is recorded, if the head moved, and posted;
- the chain breaks, or the database does not hold the pinned head: the file was edited, rolled
  back, or its newest rows cut. The admins are told directly (not through the outbox, which
  lives in the suspect database) and nothing more is posted or pinned, so the evidence stays
  pinned; the alert repeats every hour until the cause is resolved (an admin unpins the
  anchor when the change was theirs).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from html import escape

from telegram import Message
from telegram.error import TelegramError

from bot import texts
from bot.context import Context, VerzekApplication
from core.audit.anchors import HOURLY, STARTUP, AnchorVerdict, SeenAnchor
from core.audit.ports import Anchor
from core.digits import parse_id
from core.services import Services

logger = logging.getLogger(__name__)

JOB_NAME = "audit-anchors"
TICK = 10.0  # seconds between posting runs
FIRST = 30.0  # the first run (the start-up check) this long after the bot started
CHECK_EVERY = timedelta(hours=1)
_ROW = re.compile(r"^row ([0-9]{1,18})$", re.MULTILINE)
_LINK = re.compile(r"^link ([0-9a-f]{64})$", re.MULTILINE)


def anchor_chat(services: Services) -> int | None:
    """``alerts.anchor_chat_id``, else the admin chat."""
    settings = services.settings
    return settings.alerts.anchor_chat_id or settings.telegram.admin_chat_id


def anchor_text(anchor: Anchor) -> str:
    """The message that shows ``anchor`` in the chat (read back by :func:`seen_in`)."""
    return texts.AUDIT_ANCHOR.format(
        anchor_id=anchor.id,
        reason=texts.AUDIT_ANCHOR_REASONS.get(anchor.reason, anchor.reason),
        row=anchor.last_audit_id,
        link=anchor.link,
    )


def seen_in(message: Message | None, bot_id: int) -> SeenAnchor | None:
    """The anchor a pinned message shows, when the bot itself posted it."""
    if message is None or message.from_user is None or message.from_user.id != bot_id:
        return None
    row, link = _ROW.search(message.text or ""), _LINK.search(message.text or "")
    row_id = parse_id(row[1]) if row else None
    if row_id is None or link is None:
        return None
    return SeenAnchor(row_id, link[1], message.date)


class AnchorJob:
    """The job callback; one run at a time."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._next_check: datetime | None = None
        self._halted = False
        self._pinned: int | None = None

    async def __call__(self, context: Context) -> None:
        """One run (JobQueue entry point)."""
        if self._lock.locked():
            return
        async with self._lock:
            services = context.bot_data.services
            chat_id = anchor_chat(services)
            if chat_id is None:
                return
            now = services.clock.now()
            if self._next_check is None or now >= self._next_check:
                reason = STARTUP if self._next_check is None else HOURLY
                self._next_check = now + CHECK_EVERY
                await self._check(context, services, chat_id, reason)
            if not self._halted:
                await self._post(context, services, chat_id)

    async def _check(self, context: Context, services: Services, chat_id: int, reason: str) -> None:
        report = await services.audit.verify_in_steps()
        if not report.ok:
            self._halted = True
            logger.critical(
                "the audit chain breaks at row %s: %s", report.bad_row_id, report.reason
            )
            text = texts.AUDIT_CHAIN_BROKEN_ALERT.format(
                row=report.bad_row_id, reason=escape(report.reason)
            )
            await self._alert(context, chat_id, text)
            return
        try:
            chat = await context.bot.get_chat(chat_id)
        except TelegramError as exc:
            logger.warning("cannot read the pinned audit anchor: %s", type(exc).__name__)
            chat = None
        seen = seen_in(chat.pinned_message if chat else None, context.bot.id)
        if seen is not None:
            if chat is not None and chat.pinned_message is not None:
                self._pinned = chat.pinned_message.message_id
            check = await services.anchors.compare(seen)
            if check.verdict is AnchorVerdict.ROLLED_BACK:
                self._halted = True
                logger.critical(
                    "the audit log does not hold the pinned anchor (row %d): rolled back?",
                    seen.last_audit_id,
                )
                text = texts.AUDIT_ROLLBACK_ALERT.format(
                    row=seen.last_audit_id,
                    link_prefix=seen.link[:16],
                    posted=f"{seen.posted_at:%Y-%m-%d %H:%M:%S}",
                    head_row=check.head_id,
                )
                await self._alert(context, chat_id, text)
                return
        self._halted = False
        await services.anchors.record(reason, only_if_moved=True)

    @staticmethod
    async def _alert(context: Context, chat_id: int, text: str) -> None:
        # Straight to the chat: the outbox lives in the database that is in doubt.
        try:
            await context.bot.send_message(chat_id, text)
        except TelegramError as exc:
            logger.error("could not alert the admin chat: %s", type(exc).__name__)

    async def _post(self, context: Context, services: Services, chat_id: int) -> None:
        for anchor in await services.anchors.unposted():
            try:
                sent = await context.bot.send_message(
                    chat_id, anchor_text(anchor), disable_notification=True
                )
            except TelegramError as exc:
                logger.warning("could not post audit anchor #%d: %s", anchor.id, exc)
                return  # the next tick tries again
            await services.anchors.mark_posted(anchor, chat_id, sent.message_id, sent.date)
            try:
                await context.bot.pin_chat_message(
                    chat_id, sent.message_id, disable_notification=True
                )
                if self._pinned is not None:
                    await context.bot.unpin_chat_message(chat_id, self._pinned)
                self._pinned = sent.message_id
            except TelegramError as exc:
                # Without the pin right the anchors still reach the chat; only the automatic
                # rollback check (which reads the pin back) is lost. Say so in the log.
                logger.warning(
                    "could not pin audit anchor #%d (give the bot the pin right): %s",
                    anchor.id,
                    type(exc).__name__,
                )


def register(application: VerzekApplication) -> None:
    """Schedule :class:`AnchorJob` every :data:`TICK` seconds, the first after :data:`FIRST`."""
    if application.job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    application.job_queue.run_repeating(AnchorJob(), interval=TICK, first=FIRST, name=JOB_NAME)
