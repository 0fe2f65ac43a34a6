"""Renewal reminders (SPEC §7): every hour, the licenses ending within 3 days (and 1 day) get
one reminder each, with a Renew button. Which reminders are due and that each goes once (even
across restarts and overlapping rounds) is core's (:mod:`core.payments.reminders`); this job
only words and sends them. A send that fails is logged and not retried.
"""

from __future__ import annotations

import asyncio
import logging

from telegram.error import TelegramError

from bot import texts
from bot.context import Context, VerzekApplication
from bot.handlers.payments import minute
from bot.handlers.renewal import renew_keyboard
from bot.wording import count
from core.payments.reminders import Reminder

logger = logging.getLogger(__name__)

INTERVAL = 3600.0  # seconds
FIRST = 120.0  # seconds after start: the bot is up and the outbox has had its turn
NAME = "renewal-reminders"


def reminder_text(reminder: Reminder) -> str:
    """The reminder's words."""
    return texts.RENEW_REMINDER.format(
        plan=reminder.license.plan,
        ends=minute(reminder.license.ends_at),
        left=texts.RENEW_LEFT.format(days=count(reminder.days_before, "day")),
    )


class RenewalReminders:
    """The job callback; one round at a time in this process (core keeps it once anyway)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __call__(self, context: Context) -> None:
        """One round (JobQueue entry point)."""
        if self._lock.locked():
            return
        async with self._lock:
            for reminder in await context.bot_data.services.reminders.claim_due():
                try:
                    await context.bot.send_message(
                        reminder.telegram_user_id,
                        reminder_text(reminder),
                        reply_markup=renew_keyboard(reminder),
                    )
                except TelegramError as exc:
                    logger.warning("could not send a renewal reminder: %s", type(exc).__name__)


def register(application: VerzekApplication) -> None:
    """Schedule the reminders."""
    if application.job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    application.job_queue.run_repeating(
        RenewalReminders(),
        interval=INTERVAL,
        first=FIRST,
        name=NAME,
        job_kwargs={"max_instances": 2, "coalesce": True},
    )
