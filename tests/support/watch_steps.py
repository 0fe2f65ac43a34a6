"""Steps for payments found at the receive address: a round of the watch job, run through
the real Application's JobQueue, and what the watcher recorded."""

from __future__ import annotations

from typing import Any

from telegram.ext import Job

from bot.jobs.payment_watch import NAME
from tests.support.harness import QUICK_TICK, BotHarness
from tests.support.steps import db_rows

RECHECK = "payments-recheck"


def _job(bot: BotHarness, name: str) -> Job[Any]:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(name)
    return job


async def watch_round(bot: BotHarness) -> None:
    """One round of the watch job now, as the JobQueue runs it (errors go to the bot's error
    handler, as in production)."""
    await _job(bot, NAME).run(bot.app)


async def recheck_round(bot: BotHarness) -> None:
    """One round of the pending-payments re-check job now."""
    await _job(bot, RECHECK).run(bot.app)


def quicken_watch(bot: BotHarness) -> None:
    """The watch job ticks every QUICK_TICK seconds through the real JobQueue."""
    _job(bot, NAME).job.reschedule("interval", seconds=QUICK_TICK)


async def watched(bot: BotHarness) -> list[tuple[str, str, str, int | None]]:
    """(hash prefix, state, reason, payment id) of every transfer the watcher recorded."""
    rows = await db_rows(
        bot, "SELECT tx_hash, state, reason, payment_id FROM watched_transfers ORDER BY block_ms"
    )
    return [(str(h)[:8], str(state), str(reason), p) for h, state, reason, p in rows]


async def cursor(bot: BotHarness) -> int | None:
    """The watch cursor (block time up to which the list was read whole), if any."""
    rows = await db_rows(bot, "SELECT read_to_ms FROM watch_cursor")
    return int(rows[0][0]) if rows else None


async def unmatched_alerts(bot: BotHarness) -> list[str]:
    """The evidence JSON of every unmatched-transfers alert, oldest first."""
    rows = await db_rows(
        bot,
        "SELECT evidence FROM alerts WHERE rule = 'payment_unmatched_transfers' ORDER BY id",
    )
    return [str(evidence) for (evidence,) in rows]
