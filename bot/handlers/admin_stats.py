"""/stats: users, active licenses, pending payments, alerts today."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot import texts
from bot.commands import AdminOnly, sender
from bot.context import Context, VerzekApplication
from bot.flows import message_of


async def show_stats(update: Update, context: Context) -> None:
    """Admin-only (the gate, the handler's filter and core refuse others): the platform at a
    glance."""
    stats = await context.bot_data.services.stats.snapshot(sender(update))
    await message_of(update).reply_text(
        texts.STATS.format(
            users=stats.users,
            licenses=stats.active_licenses,
            pending=stats.pending_payments,
            alerts=stats.alerts_today,
        )
    )


def register(application: VerzekApplication, admins: AdminOnly) -> None:
    """Wire /stats (with its own admin filter)."""
    application.add_handler(CommandHandler("stats", show_stats, filters=admins.filter))
