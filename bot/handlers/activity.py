"""/activity: the caller's own audit events, newest first, with Older/Newer buttons.

The buttons carry only a cursor (an event id) within the presser's own events. Every press
looks up the presser's live session again and shows that account's events, and only in the
presser's own private chat, so forged callback data can never reach another account's events.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot import texts
from bot.audit_views import activity_line
from bot.context import Context, VerzekApplication
from bot.flows import message_of, require_session
from core.audit.activity import Page
from core.digits import parse_int

CALLBACK_PREFIX = "act:"
_CALLBACK = re.compile(r"^act:([on]):([0-9]{1,18})$")


def render(page: Page, viewer_telegram_user_id: int) -> str:
    """The message for one page."""
    if not page.events:
        return texts.ACTIVITY_EMPTY
    lines = [activity_line(row, viewer_telegram_user_id) for row in page.events]
    return "\n".join([texts.ACTIVITY_HEADER, "", *lines])


def keyboard(page: Page) -> InlineKeyboardMarkup | None:
    """Newer/Older buttons, only where there is something to go to."""
    buttons = []
    if page.has_newer and page.newest_id is not None:
        buttons.append(
            InlineKeyboardButton(texts.PAGE_NEWER, callback_data=f"act:n:{page.newest_id}")
        )
    if page.has_older and page.oldest_id is not None:
        buttons.append(
            InlineKeyboardButton(texts.PAGE_OLDER, callback_data=f"act:o:{page.oldest_id}")
        )
    return InlineKeyboardMarkup([buttons]) if buttons else None


async def activity(update: Update, context: Context) -> None:
    """Show the newest page of the caller's own events."""
    session = await require_session(update, context)
    if session is None:
        return
    page = await context.bot_data.services.activity.own_page(session.account_id)
    await message_of(update).reply_text(
        render(page, session.telegram_user_id), reply_markup=keyboard(page)
    )


async def turn_page(update: Update, context: Context) -> None:
    """Older/Newer: re-check who is pressing, then show their own events only."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    chat = query.message.chat if query.message is not None else None
    if chat is None or chat.type != ChatType.PRIVATE or chat.id != user.id:
        await query.answer(texts.NOT_YOUR_BUTTON, show_alert=True)
        return
    match = _CALLBACK.fullmatch(query.data or "")
    cursor = parse_int(match[2]) if match is not None else None
    if match is None or cursor is None:
        await query.answer(texts.STALE_BUTTON, show_alert=True)
        return
    session = await context.bot_data.services.sessions.current(user.id)
    if session is None:
        await query.answer(texts.LOGIN_FIRST, show_alert=True)
        return
    direction = match[1]
    activity_service = context.bot_data.services.activity
    if direction == "o":
        page = await activity_service.own_page(session.account_id, before_id=cursor)
    else:
        page = await activity_service.own_page(session.account_id, after_id=cursor)
    await query.answer()
    try:
        await query.edit_message_text(
            render(page, session.telegram_user_id), reply_markup=keyboard(page)
        )
    except BadRequest as exc:
        if "not modified" not in exc.message:
            raise


def register(application: VerzekApplication) -> None:
    """Wire /activity and its page buttons."""
    application.add_handler(CommandHandler("activity", activity))
    application.add_handler(CallbackQueryHandler(turn_page, pattern=f"^{CALLBACK_PREFIX}"))
