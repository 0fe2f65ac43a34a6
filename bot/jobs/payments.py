"""Re-checks pending payments every minute and tells users what was decided (SPEC §7).

A payment stays pending while its transfer is unknown, short of confirmations or TronScan is
unreachable; each round checks it again, approves or fails it when the chain says so, and
expires it when its invoice expires with the transfer still unknown. While the transfer gathers
confirmations, the payment's status message is edited to show them ("12/19"). Invoices nobody
paid are expired in the same round. A slow round (TronScan retrying) makes the next tick a no-op.
"""

from __future__ import annotations

import asyncio

from bot.context import Context, VerzekApplication
from bot.handlers.payments import reason_text, tell_outcome
from bot.payment_screen import status_text, update_status

INTERVAL = 60.0  # seconds


class PaymentRecheck:
    """The job callback; one round at a time."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __call__(self, context: Context) -> None:
        """One round (JobQueue entry point)."""
        if self._lock.locked():
            return
        async with self._lock:
            services = context.bot_data.services
            needed = services.settings.payments.min_confirmations
            for report in await services.payments.recheck_pending(undecided=True):
                if report.decided:
                    await tell_outcome(context.bot, services, report)
                else:  # the live "12/19" on the payment's status message
                    text = status_text(report, needed, reason_text(report.reason))
                    await update_status(context.bot, services, report, text)


def register(application: VerzekApplication) -> None:
    """Schedule the re-check job."""
    if application.job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    application.job_queue.run_repeating(
        PaymentRecheck(),
        interval=INTERVAL,
        first=INTERVAL,
        name="payments-recheck",
        job_kwargs={"max_instances": 2, "coalesce": True},
    )
