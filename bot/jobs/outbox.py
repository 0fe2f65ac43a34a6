"""Delivers the outboxes: admin alerts to ``telegram.admin_chat_id``, notices to owners.

Runs every :data:`INTERVAL` seconds, so a queued alert reaches the admin chat within a couple
of seconds. Each row is claimed (attempt counted, leased) before it is sent and marked sent
only after Telegram accepted it; a failure (network, timeout, 429, 5xx, anything Telegram
refuses) reschedules it with backoff and ends the run, so a Telegram outage costs one attempt
per row, not one per row per tick. Alerts are never given up; notices are given up when the
chat cannot be reached (blocked bot, deleted chat) or after their last attempt.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta

from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot import texts
from bot.admin_chat import send_routed
from bot.audit_views import alert_message, notice_text
from bot.context import Context, VerzekApplication
from core.audit.alerts import alert_route
from core.audit.routing_rules import Mode
from core.services import Services

logger = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between runs
MAX_PER_RUN = 20  # per outbox, so one run stays short under Telegram's flood limits


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that the int form is going away; we read both forms.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


RESTORE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # as the restoring admin reads it


def _describe(exc: TelegramError) -> str:
    return f"{type(exc).__name__}: {exc.message}"[:200]


class OutboxDelivery:
    """The job callback; one run at a time (a slow run makes the next tick a no-op)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._warned_no_chat = False

    async def __call__(self, context: Context) -> None:
        """One delivery run (JobQueue entry point)."""
        if self._lock.locked():
            return
        async with self._lock:
            services = context.bot_data.services
            await self.deliver_alerts(context.bot, services)
            await self.deliver_notices(context.bot, services)
            await self.deliver_restore_notices(context.bot, services)

    async def deliver_alerts(self, bot: Bot, services: Services) -> int:
        """Send due alerts in order; stop at the first failure. Returns how many were sent."""
        chat_id = services.settings.telegram.admin_chat_id
        if chat_id is None:
            if not self._warned_no_chat:
                logger.error("telegram.admin_chat_id is not set: alerts stay queued")
                self._warned_no_chat = True
            return 0
        sent = 0
        for _ in range(MAX_PER_RUN):
            claimed = await services.alerts.claim_due(limit=1)
            if not claimed:
                break
            alert = claimed[0]
            where = alert_route(alert, services.settings.alerts)  # alerts.routing / .topics
            if where.mode == Mode.OFF:
                await services.alerts.muted(alert.id)
                continue
            try:
                message = await send_routed(bot, chat_id, alert_message(alert), where)
            except RetryAfter as exc:
                retry_after = _retry_after_seconds(exc)
                due = await services.alerts.failed(alert, _describe(exc), retry_after)
                logger.warning("alert %s: Telegram flood limit, retrying at %s", alert.id, due)
                break
            except TelegramError as exc:
                due = await services.alerts.failed(alert, _describe(exc))
                logger.warning(
                    "alert %s not delivered (%s, attempt %s), retrying at %s",
                    alert.id,
                    type(exc).__name__,
                    alert.attempts,
                    due,
                )
                break
            await services.alerts.delivered(alert.id, message.message_id)
            sent += 1
        return sent

    async def deliver_notices(self, bot: Bot, services: Services) -> int:
        """Send due notices; unreachable chats are given up. Returns how many were sent."""
        sent = 0
        for _ in range(MAX_PER_RUN):
            claimed = await services.notices.claim_due(limit=1)
            if not claimed:
                break
            notice = claimed[0]
            try:
                await bot.send_message(notice.telegram_user_id, notice_text(notice))
            except RetryAfter as exc:
                await services.notices.failed(
                    notice, _describe(exc), retry_after=_retry_after_seconds(exc)
                )
                break
            except (Forbidden, BadRequest) as exc:
                # This chat will not take it (blocked bot, no such chat); others still may.
                await services.notices.failed(notice, _describe(exc), permanent=True)
                logger.warning("notice %s undeliverable: %s", notice.id, type(exc).__name__)
                continue
            except TelegramError as exc:
                await services.notices.failed(notice, _describe(exc))
                logger.warning("notice %s not delivered: %s", notice.id, type(exc).__name__)
                break
            await services.notices.delivered(notice.id)
            sent += 1
        return sent

    async def deliver_restore_notices(self, bot: Bot, services: Services) -> int:
        """Tell people a restore logged out why; unreachable chats are given up, a throttled
        or failing Telegram waits for the next run. Returns how many were sent."""
        sent = 0
        for notice in await services.notices.restore_notices_due():
            taken = notice.archive_created_at.strftime(RESTORE_TIME_FORMAT)
            try:
                await bot.send_message(
                    notice.telegram_user_id, texts.RESTORE_LOGGED_OUT.format(time=taken)
                )
            except (Forbidden, BadRequest) as exc:
                await services.notices.restore_notice_done(notice, delivered=True)
                logger.warning("restore notice undeliverable: %s", type(exc).__name__)
                continue
            except TelegramError as exc:
                await services.notices.restore_notice_done(notice, delivered=False)
                logger.warning("restore notice not delivered: %s", type(exc).__name__)
                break
            await services.notices.restore_notice_done(notice, delivered=True)
            sent += 1
        return sent


def register(application: VerzekApplication) -> None:
    """Schedule the delivery job."""
    if application.job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    application.job_queue.run_repeating(
        OutboxDelivery(),
        interval=INTERVAL,
        first=INTERVAL,
        name="outbox",
        # A second instance may start while a slow run holds the lock; it returns at once
        # (instead of APScheduler logging "maximum number of running instances reached").
        job_kwargs={"max_instances": 2, "coalesce": True},
    )
