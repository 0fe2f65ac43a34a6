"""/sessions: the account's live sessions, each with an "End" button, and "End all others".

A button carries only ``ses:end:<reference>`` or ``ses:all:<reference>`` (an opaque digest,
:mod:`core.accounts.devices`: of the session to end, or of the viewer's own for "End all
others"); core checks the reference against the presser's own live session, so a
button pressed by someone else, left over from before a logout or a restore, or edited by
hand ends nothing and is answered politely. Ending needs a live session but no fresh password:
it only ever takes access away (see :class:`core.accounts.sessions.SessionService`). The
ended devices are told at once, and any flow they had pending ends with the reason.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flows import message_of, require_session, tell_chats
from bot.presence import current_session
from bot.session_view import TIME_FORMAT
from bot.wording import count
from core.accounts.devices import DeviceSession, mask_telegram_id
from core.accounts.sessions import FlowEnded, Session
from core.errors import Refusal

logger = logging.getLogger(__name__)

PREFIX = "ses:"
END_PREFIX = f"{PREFIX}end:"
OTHERS_PREFIX = f"{PREFIX}all:"


def listing(devices: list[DeviceSession]) -> tuple[str, InlineKeyboardMarkup | None]:
    """The list's text and its buttons (none for this device: /logout ends it)."""
    lines = [texts.SESSIONS_HEADER.format(count=len(devices))]
    buttons: list[list[InlineKeyboardButton]] = []
    own = ""
    for number, device in enumerate(devices, start=1):
        lines.append(
            texts.SESSIONS_LINE.format(
                number=number,
                account=device.telegram_account,
                this=texts.SESSIONS_THIS_DEVICE if device.this_device else "",
                started=device.started_at.strftime(TIME_FORMAT),
                seen=device.last_seen_at.strftime(TIME_FORMAT),
            )
        )
        if device.this_device:
            own = device.reference
        else:
            label = texts.SESSION_END_BUTTON.format(number=number, account=device.telegram_account)
            buttons.append(
                [InlineKeyboardButton(label, callback_data=END_PREFIX + device.reference)]
            )
    if buttons and own:
        others = InlineKeyboardButton(texts.SESSIONS_END_OTHERS, callback_data=OTHERS_PREFIX + own)
        buttons.append([others])
        lines += ["", texts.SESSIONS_FOOTER]
    else:
        lines += ["", texts.SESSIONS_ONLY_THIS]
    return "\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None


async def show_sessions(update: Update, context: Context) -> None:
    """/sessions: the caller's account's live sessions."""
    session = await require_session(update, context)
    if session is None:
        return
    try:
        devices = await context.bot_data.services.sessions.devices(session)
    except FlowEnded:
        await message_of(update).reply_text(texts.LOGIN_FIRST)
        return
    text, keyboard = listing(devices)
    await message_of(update).reply_text(text, reply_markup=keyboard)


async def _refuse(update: Update, text: str) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(text, show_alert=True)


async def _presser_session(update: Update, context: Context) -> Session | None:
    """The presser's own live session, or None after a polite refusal."""
    session = await current_session(update, context)
    if session is None:
        await _refuse(update, texts.SESSION_BUTTON_REFUSED)
    return session


async def _refresh(update: Update, context: Context, session: Session) -> None:
    """Show the list as it is now on the pressed message (best effort: it is cosmetic)."""
    query = update.callback_query
    assert query is not None
    try:
        text, keyboard = listing(await context.bot_data.services.sessions.devices(session))
        await query.edit_message_text(text, reply_markup=keyboard)
    except (TelegramError, FlowEnded) as exc:
        logger.warning("could not refresh the sessions list: %s", type(exc).__name__)


async def end_one(update: Update, context: Context) -> None:
    """An "End" button: end the session it names, if it is one of the presser's own."""
    query = update.callback_query
    assert query is not None
    session = await _presser_session(update, context)
    if session is None:
        return
    reference = (query.data or "").removeprefix(END_PREFIX)
    try:
        ended = await context.bot_data.services.sessions.end_device(session, reference)
    except (Refusal, FlowEnded) as exc:
        await _refuse(update, texts.render(exc) if isinstance(exc, Refusal) else texts.LOGIN_FIRST)
        return
    await query.answer()
    await tell_chats(context, [ended], texts.SESSION_ENDED_ELSEWHERE)
    await message_of(update).reply_text(texts.SESSION_ENDED.format(account=mask_telegram_id(ended)))
    await _refresh(update, context, session)


async def end_others(update: Update, context: Context) -> None:
    """ "End all others": end every live session of the account but the presser's."""
    query = update.callback_query
    assert query is not None
    session = await _presser_session(update, context)
    if session is None:
        return
    reference = (query.data or "").removeprefix(OTHERS_PREFIX)
    try:
        ended = await context.bot_data.services.sessions.end_other_devices(session, reference)
    except (Refusal, FlowEnded) as exc:
        await _refuse(update, texts.render(exc) if isinstance(exc, Refusal) else texts.LOGIN_FIRST)
        return
    await query.answer()
    await tell_chats(context, ended, texts.SESSION_ENDED_ELSEWHERE)
    await message_of(update).reply_text(
        texts.SESSIONS_OTHERS_ENDED.format(count=count(len(ended), "other session"))
        if ended
        else texts.SESSIONS_NONE_ENDED
    )
    await _refresh(update, context, session)


def register(application: VerzekApplication) -> None:
    """Wire /sessions and its buttons."""
    application.add_handler(CommandHandler("sessions", show_sessions))
    application.add_handler(CallbackQueryHandler(end_one, pattern=f"^{END_PREFIX}[0-9a-f]+$"))
    application.add_handler(CallbackQueryHandler(end_others, pattern=f"^{OTHERS_PREFIX}[0-9a-f]+$"))
