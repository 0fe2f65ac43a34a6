"""Watches the receive address every ``payments.watch_seconds`` (SPEC §7, issue 17).

Each round reads the USDT transfers the address received, matches them to invoices by their
unique amount and time, confirms and submits them through the same path as /pay
(:class:`core.payments.watch.PaymentWatch`), and tells each payer once: "seen, n/19
confirmations" (the payment's status message, edited by the re-check job as confirmations
grow), or the usual approval message when the transfer was final already. The approval of a
payment still short of confirmations comes from the re-check job, as after /pay. A slow round
(TronScan retrying) makes the next tick a no-op.
"""

from __future__ import annotations

import asyncio

from telegram import Bot

from bot import texts
from bot.context import Context, VerzekApplication
from bot.handlers.payments import tell_decided
from bot.payment_screen import send_status
from core.config import Settings
from core.money import format_usdt
from core.payments.ports import PaymentStatus
from core.payments.watch import WatchNews
from core.services import Services

NAME = "payments-watch"


async def tell_news(bot: Bot, services: Services, news: WatchNews) -> None:
    """Tell the payer what the watcher found. "Seen, n/19" becomes the payment's status
    message, which the re-check job edits as confirmations grow (as after /pay)."""
    report = news.report
    payment = report.payment
    if report.decided or payment.status is not PaymentStatus.PENDING:
        await tell_decided(bot, services, report)
        return
    if not await services.preferences.wants(payment.account_id, "payment_news"):
        return  # found by the watcher, not an answer to the payer: a notice they turned off
    text = texts.PAY_SEEN.format(
        id=payment.id,
        invoice=payment.invoice_id,
        amount=format_usdt(payment.expected_micro),
        confirmations=news.confirmations,
        needed=news.needed,
    )
    await send_status(bot, services, report, text)


class PaymentWatchJob:
    """The job callback; one round at a time."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __call__(self, context: Context) -> None:
        """One round (JobQueue entry point)."""
        if self._lock.locked():
            return
        async with self._lock:
            watch = context.bot_data.services.payment_watch
            if not watch.enabled:
                return
            for news in await watch.tick():
                await tell_news(context.bot, context.bot_data.services, news)


def register(application: VerzekApplication, settings: Settings) -> None:
    """Schedule the watch job."""
    if application.job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    interval = float(settings.payments.watch_seconds)
    application.job_queue.run_repeating(
        PaymentWatchJob(),
        interval=interval,
        first=interval,
        name=NAME,
        job_kwargs={"max_instances": 2, "coalesce": True},
    )
