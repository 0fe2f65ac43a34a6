"""The nightly backup (SPEC §8): every day at ``backups.hour_utc`` (UTC), then retention.

Any failure goes straight to the admin chat. Deliberately not through the alert outbox: that
outbox lives in the database, and the database is often exactly what a failed backup is about
(full disk, damaged file).
"""

from __future__ import annotations

import logging
from datetime import UTC, time
from html import escape

from bot import texts
from bot.context import Context, VerzekApplication
from bot.handlers.backups import drill_report, tell_admins
from bot.jobs.offsite import copy_offsite
from core.audit.routing_rules import BACKUP_DONE, BACKUP_FAILED, DRILL_PASSED
from core.authz import SYSTEM
from core.backups.archive_rules import BackupError, human_size
from core.backups.service import NIGHTLY
from core.config import Settings

logger = logging.getLogger(__name__)

JOB_NAME = "nightly-backup"
DRILL_JOB_NAME = "restore-drill"


def _reason(exc: Exception) -> str:
    return exc.problem if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"


async def nightly_backup(context: Context) -> None:
    """Back up, then delete archives past retention; alert the admin chat on any failure."""
    backups = context.bot_data.services.backups
    try:
        info = await backups.create(SYSTEM, reason=NIGHTLY)
    except Exception as exc:  # whatever went wrong, the admins must hear of it
        logger.error("nightly backup failed: %s", _reason(exc), exc_info=exc)
        text = texts.BACKUP_ALERT.format(
            what=texts.BACKUP_ALERT_NIGHTLY, reason=escape(_reason(exc))
        )
        await tell_admins(context, text)
        return
    logger.info("nightly backup %s written (%s)", info.name, human_size(info.size))
    done = texts.BACKUP_NIGHTLY_DONE.format(name=escape(info.name), size=human_size(info.size))
    await tell_admins(context, done, BACKUP_DONE)  # routine: silent unless alerts.routing says
    await copy_offsite(context, info.name)  # before local pruning; never raises
    try:
        removed = await backups.prune(SYSTEM)
    except Exception as exc:  # same: never fail silently
        logger.error("pruning old backups failed: %s", _reason(exc), exc_info=exc)
        text = texts.BACKUP_ALERT.format(what=texts.BACKUP_ALERT_PRUNE, reason=escape(_reason(exc)))
        await tell_admins(context, text)
        return
    if removed:
        logger.info("removed %d backup(s) past retention: %s", len(removed), ", ".join(removed))


async def restore_drill(context: Context) -> None:
    """When due (every ``backups.drill_days``), restore the newest archive into a temp file
    with every check of a real restore and tell the admin chat how it went."""
    backups = context.bot_data.services.backups
    if not await backups.drill_due(SYSTEM):
        return
    try:
        result = await backups.drill(SYSTEM)
    except Exception as exc:  # whatever went wrong, the admins must hear of it
        logger.error("restore drill failed: %s", _reason(exc), exc_info=exc)
        await tell_admins(context, texts.DRILL_NOTHING.format(reason=escape(_reason(exc))))
        return
    logger.log(
        logging.INFO if result.passed else logging.ERROR,
        "restore drill of %s: %s",
        result.info.name,
        "passed" if result.passed else result.info.problem,
    )
    # A drill that passed is routine (silent by default); a failed one is a failed backup.
    await tell_admins(
        context, drill_report(result), DRILL_PASSED if result.passed else BACKUP_FAILED
    )


def register(application: VerzekApplication, settings: Settings) -> None:
    """Schedule :func:`nightly_backup` daily at ``backups.hour_utc`` UTC, and the check
    whether the restore drill is due an hour later."""
    if application.job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    hour = settings.backups.hour_utc
    application.job_queue.run_daily(nightly_backup, time=time(hour=hour, tzinfo=UTC), name=JOB_NAME)
    if settings.backups.drill_days:
        application.job_queue.run_daily(
            restore_drill, time=time(hour=(hour + 1) % 24, tzinfo=UTC), name=DRILL_JOB_NAME
        )
