"""After each nightly backup: copy it off-site (SPEC §8a) and tell the admins what failed.

Core's :class:`~core.backups.offsite_service.OffsiteService` decides and records; this picks
the store (the admin chat for ``"telegram"``, the S3 store bootstrap built otherwise) and words
the outcome. Failures go straight to the admin chat, as the nightly backup's own do.
"""

from __future__ import annotations

import logging
from html import escape

from bot import texts
from bot.context import Context
from bot.handlers.backups import tell_admins
from bot.offsite_telegram import TelegramDocuments
from core.audit.routing_rules import OFFSITE_COPY, route
from core.authz import SYSTEM
from core.backups.archive_rules import human_size
from core.backups.offsite import TELEGRAM_MAX_BYTES, OffsiteKind, OffsiteStore
from core.backups.offsite_service import OffsiteReport

logger = logging.getLogger(__name__)


async def copy_offsite(context: Context, new_archive: str | None) -> OffsiteReport | None:
    """Copy ``new_archive`` and every archive still pending; never raises."""
    services = context.bot_data.services
    offsite = services.offsite
    target = offsite.target
    if target is None:
        return None
    store: OffsiteStore | None = None
    if target.kind is OffsiteKind.TELEGRAM:
        settings = services.settings
        routed = route(OFFSITE_COPY, settings.alerts.routes)
        store = TelegramDocuments(context.bot, settings.telegram.admin_chat_id, routed)
    where = escape(target.describe())
    try:
        report = await offsite.copy(SYSTEM, new_archive, store)
    except Exception as exc:  # the admins must hear of it, whatever it was
        logger.error("off-site copy failed: %s", type(exc).__name__, exc_info=exc)
        item = texts.OFFSITE_ITEM.format(
            name=escape(new_archive or "?"), reason=escape(type(exc).__name__)
        )
        await tell_admins(context, texts.OFFSITE_FAILED.format(where=where, items=item))
        return None
    for name, ref in report.sent:
        logger.info("off-site copy of %s: %s", name, ref)
    if report.removed:
        logger.info("removed %d off-site copies past retention", len(report.removed))
    if report.failed:
        logger.error("off-site copy failed for %d archive(s)", len(report.failed))
        items = "\n".join(
            texts.OFFSITE_ITEM.format(name=escape(name), reason=escape(problem))
            for name, problem in report.failed
        )
        await tell_admins(context, texts.OFFSITE_FAILED.format(where=where, items=items))
    for name, size in report.too_big:
        logger.warning("%s (%s) is too big to send to Telegram", name, human_size(size))
        await tell_admins(
            context,
            texts.OFFSITE_TOO_BIG.format(
                name=escape(name), size=human_size(size), limit=human_size(TELEGRAM_MAX_BYTES)
            ),
        )
    if report.retention_problem is not None:
        await tell_admins(
            context,
            texts.OFFSITE_RETENTION_FAILED.format(
                where=where, reason=escape(report.retention_problem)
            ),
        )
    return report
