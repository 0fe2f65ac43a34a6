"""One job leader (SPEC §13): scheduled jobs run only on the instance holding the lease.

Every job of the Application passes through :meth:`JobQueue.job_callback`; the
:class:`LeaderJobQueue` the Application is built with asks :class:`core.leadership.Leadership`
there first, so a job registered anywhere is a leader's job by default. Only the jobs in
:data:`LOCAL_JOBS` run on every instance: they tend this process's own memory (rate-limit
windows, the 2FA codes messages it keeps) or the lease itself. The lease is renewed every
third of ``jobs.lease_seconds`` and given back when the job queue stops, so a stopped leader
is replaced at the next renewal elsewhere and a dead one within the lease (30 seconds by default).
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.ext import Job, JobQueue

from bot.context import BotData, Context, VerzekApplication
from core.config import Settings
from core.leadership import Leadership

logger = logging.getLogger(__name__)

JOB_NAME = "job-leader"
# Run on every instance; every other job runs on the leader only.
# A conversation's timeout (PTB names its job after the callback) is about this process's
# memory of the flow: it runs where the flow was last handled, as a turn of its user.
LOCAL_JOBS = frozenset({JOB_NAME, "ratelimit-sweep", "codes-sweep", "_trigger_timeout"})


def _leadership(job_queue: JobQueue[Any]) -> Leadership | None:
    data: BotData = job_queue.application.bot_data
    services = data.attached  # None before post_init attached them
    return services.leadership if services is not None else None


class LeaderJobQueue(JobQueue[Context]):
    """A JobQueue whose jobs run only while this instance leads (see the module)."""

    @staticmethod
    async def job_callback(job_queue: JobQueue[Any], job: Job[Any]) -> None:
        """APScheduler's entry point for every job: skip the body unless we lead."""
        if job.name not in LOCAL_JOBS:
            leadership = _leadership(job_queue)
            if leadership is None or not await leadership.leads():
                return
        await JobQueue.job_callback(job_queue, job)

    async def stop(self, wait: bool = True) -> None:
        """Stop the jobs, then hand the lease back for another instance to take."""
        await super().stop(wait)
        leadership = _leadership(self)
        if leadership is not None:
            try:
                await leadership.release()
            except Exception as exc:  # the lease then simply runs out
                logger.warning("could not hand the job lease back", exc_info=exc)


async def renew_lease(context: Context) -> None:
    """Job (every instance): take or renew the lease, so a leader keeps it and a follower
    takes it over once it ends."""
    await context.bot_data.services.leadership.renew()


def register(application: VerzekApplication, settings: Settings) -> None:
    """Schedule the lease's renewal, the first at once."""
    if application.job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    # Every third of the lease (jobs.lease_seconds), as Leadership.lasting renews it.
    application.job_queue.run_repeating(
        renew_lease,
        interval=settings.jobs.lease_seconds / 3,
        first=0,
        name=JOB_NAME,
        job_kwargs={"coalesce": True},
    )
