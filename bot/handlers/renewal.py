"""The renewal reminders' Renew button (SPEC §7): an invoice for the same plan, through the
normal invoice path (one open invoice per plan per account and per Telegram user, so pressing
twice shows the same invoice).

The button carries only the reminder's random reference (``rnw:<12 hex>``); core resolves it
against the presser's own live session (:meth:`core.payments.reminders.ReminderService.
plan_to_renew`), so a forwarded, copied or replayed button opens nothing for anyone else, and
a press without a session asks to log in first.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import CallbackQueryHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flows import message_of
from bot.payment_screen import send_invoice
from bot.presence import current_session
from core.errors import Refusal
from core.payments.reminders import Reminder, RenewButtonStale

PREFIX = "rnw:"


def renew_keyboard(reminder: Reminder) -> InlineKeyboardMarkup:
    """The reminder's one button."""
    label = texts.RENEW_BUTTON.format(plan=reminder.license.plan)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=PREFIX + reminder.reference)]]
    )


async def renew(update: Update, context: Context) -> None:
    """A Renew button: the presser's own account's invoice for the reminded plan."""
    query = update.callback_query
    assert query is not None
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:  # an invoice is nobody else's business
        await query.answer(texts.PRIVATE_CHAT_ONLY, show_alert=True)
        return
    services = context.bot_data.services
    session = await current_session(update, context)
    if session is None:
        await query.answer(texts.RENEW_LOGIN_FIRST, show_alert=True)
        return
    reference = (query.data or "").removeprefix(PREFIX)
    try:
        plan = await services.reminders.plan_to_renew(session, reference)
    except Refusal as exc:
        await query.answer(texts.render(exc), show_alert=True)
        return
    await query.answer()
    try:
        invoice = await services.payments.create_invoice(session, plan)
    except Refusal as exc:  # the hoarding limits, a plan no longer sold, …
        await message_of(update).reply_text(texts.render(exc))
        return
    await send_invoice(message_of(update), invoice)


def register(application: VerzekApplication) -> None:
    """Wire the Renew buttons."""
    application.add_handler(CallbackQueryHandler(renew, pattern=f"^{PREFIX}[0-9a-f]{{12}}$"))
    # A Renew button edited by hand (not 12 hex): answered, no effect.
    application.add_handler(CallbackQueryHandler(_forged, pattern=f"^{PREFIX}"))


async def _forged(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(texts.render(RenewButtonStale()), show_alert=True)
