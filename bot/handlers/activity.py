"""/activity: the caller's own audit events, newest first, with Older/Newer buttons.

The buttons carry only an opaque token (:mod:`bot.page_buttons`): the cursor it stands for
stays on the server, bound to the Telegram user, chat, message and session it was shown to.
Every press looks up the presser's live session again and shows that account's events, and
only in the presser's own private chat, so forged callback data can never reach another
account's events.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot import page_buttons, texts
from bot.audit_views import activity_line
from bot.context import Context, VerzekApplication
from bot.flows import message_of, require_session
from bot.presence import current_session
from core.audit.activity import Page

CALLBACK_PREFIX = "act:"


def render(page: Page, viewer_telegram_user_id: int) -> str:
    """The message for one page."""
    if not page.events:
        return texts.ACTIVITY_EMPTY
    lines = [activity_line(row, viewer_telegram_user_id) for row in page.events]
    return "\n".join([texts.ACTIVITY_HEADER, "", *lines])


def keyboard(page: Page, sheet: page_buttons.PageSheet) -> InlineKeyboardMarkup | None:
    """Newer/Older buttons, only where there is something to go to (tokens into ``sheet``)."""
    buttons = []
    if page.has_newer and page.newest_id is not None:
        data = sheet.button(CALLBACK_PREFIX, f"n:{page.newest_id}")
        buttons.append(InlineKeyboardButton(texts.PAGE_NEWER, callback_data=data))
    if page.has_older and page.oldest_id is not None:
        data = sheet.button(CALLBACK_PREFIX, f"o:{page.oldest_id}")
        buttons.append(InlineKeyboardButton(texts.PAGE_OLDER, callback_data=data))
    return InlineKeyboardMarkup([buttons]) if buttons else None


async def activity(update: Update, context: Context) -> None:
    """Show the newest page of the caller's own events."""
    session = await require_session(update, context)
    if session is None:
        return
    page = await context.bot_data.services.activity.own_page(session.account_id)
    message = message_of(update)
    sheet = page_buttons.new_sheet(
        context.bot_data, session.telegram_user_id, message.chat_id, session.id
    )
    sent = await message.reply_text(
        render(page, session.telegram_user_id), reply_markup=keyboard(page, sheet)
    )
    page_buttons.keep(context.bot_data, CALLBACK_PREFIX, sheet, sent.message_id)


async def turn_page(update: Update, context: Context) -> None:
    """Older/Newer: re-check who is pressing, then show their own events only."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    chat = query.message.chat if query.message is not None else None
    if chat is None or chat.type != ChatType.PRIVATE or chat.id != user.id:
        await query.answer(texts.NOT_YOUR_BUTTON, show_alert=True)
        return
    assert query.message is not None
    session = await current_session(update, context)
    if session is None:
        await query.answer(texts.LOGIN_FIRST, show_alert=True)
        return
    bot_data = context.bot_data
    try:
        cursor = page_buttons.resolve(
            bot_data,
            CALLBACK_PREFIX,
            query.data or "",
            user.id,
            chat.id,
            query.message.message_id,
            session.id,
        )
    except page_buttons.Refused as exc:
        await query.answer(
            texts.STALE_BUTTON if exc.stale else texts.NOT_YOUR_BUTTON, show_alert=True
        )
        return
    direction, _, event_id = cursor.partition(":")
    activity_service = bot_data.services.activity
    if direction == "o":
        page = await activity_service.own_page(session.account_id, before_id=int(event_id))
    else:
        page = await activity_service.own_page(session.account_id, after_id=int(event_id))
    await query.answer()
    sheet = page_buttons.new_sheet(bot_data, user.id, chat.id, session.id)
    markup = keyboard(page, sheet)
    page_buttons.keep(bot_data, CALLBACK_PREFIX, sheet, query.message.message_id)
    try:
        await query.edit_message_text(render(page, session.telegram_user_id), reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in exc.message:
            raise


def register(application: VerzekApplication) -> None:
    """Wire /activity and its page buttons."""
    page_buttons.store_of(application.bot_data, CALLBACK_PREFIX)  # pages shown elsewhere too
    application.add_handler(CommandHandler("activity", activity))
    application.add_handler(CallbackQueryHandler(turn_page, pattern=f"^{CALLBACK_PREFIX}"))
