"""/settings: which notices the owner receives, per kind, each turned on or off with a button
(the message is edited in place). Security-critical notices are listed as locked: no button
turns them off, and core ignores any stored value for them (core/accounts/preferences.py).

A button carries ``set:on:<kind>`` or ``set:off:<kind>``: the state it asks for, so pressing
an old button twice does what it says, never the opposite. The presser's own live session
decides whose choices change; anything but a kind's name (a critical topic, made-up text) is
refused by core and nothing is written.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flows import message_of, require_session
from bot.presence import current_session
from core.accounts.preferences import NoticeChoice
from core.accounts.sessions import FlowEnded
from core.errors import Refusal

logger = logging.getLogger(__name__)

PREFIX = "set:"
PATTERN = rf"^{PREFIX}(on|off):([a-z_]{{1,32}})$"


def _kind(choice: NoticeChoice) -> str:
    return texts.NOTICE_KIND_LABELS.get(str(choice.kind), str(choice.kind))


def screen(choices: list[NoticeChoice]) -> tuple[str, InlineKeyboardMarkup]:
    """The settings text and its buttons."""
    lines = [texts.SETTINGS_HEADER]
    buttons: list[list[InlineKeyboardButton]] = []
    for choice in choices:
        lines.append(
            texts.SETTINGS_KIND_LINE.format(
                mark="✅" if choice.enabled else "⬜",
                kind=_kind(choice),
                state=texts.SETTINGS_ON if choice.enabled else texts.SETTINGS_OFF,
            )
        )
        for topic in choice.optional:
            label = texts.NOTICE_TOPIC_LABELS.get(topic.key, topic.key)
            lines.append(texts.SETTINGS_OPTIONAL_LINE.format(topic=label))
        for topic in choice.always:
            label = texts.NOTICE_TOPIC_LABELS.get(topic.key, topic.key)
            lines.append(texts.SETTINGS_LOCKED_LINE.format(topic=label))
        state = texts.SETTINGS_BUTTON_ON if choice.enabled else texts.SETTINGS_BUTTON_OFF
        wanted = "off" if choice.enabled else "on"
        buttons.append(
            [
                InlineKeyboardButton(
                    texts.SETTINGS_BUTTON.format(kind=_kind(choice), state=state),
                    callback_data=f"{PREFIX}{wanted}:{choice.kind}",
                )
            ]
        )
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


async def show_settings(update: Update, context: Context) -> None:
    """/settings: the caller's notice choices."""
    session = await require_session(update, context)
    if session is None:
        return
    try:
        choices = await context.bot_data.services.preferences.view(session)
    except FlowEnded:
        await message_of(update).reply_text(texts.LOGIN_FIRST)
        return
    text, keyboard = screen(choices)
    await message_of(update).reply_text(text, reply_markup=keyboard)


async def toggle(update: Update, context: Context) -> None:
    """A kind's button: store the state it asks for, then redraw the message in place."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    services = context.bot_data.services
    session = await current_session(update, context)
    if session is None:
        await query.answer(texts.LOGIN_FIRST, show_alert=True)
        return
    _, wanted, kind = (query.data or "").split(":", 2)
    try:
        choices = await services.preferences.choose(session, kind, wanted == "on")
    except Refusal as exc:
        await query.answer(texts.render(exc), show_alert=True)
        return
    except FlowEnded:
        await query.answer(texts.LOGIN_FIRST, show_alert=True)
        return
    label = texts.NOTICE_KIND_LABELS.get(kind, kind)
    state = texts.SETTINGS_ON if wanted == "on" else texts.SETTINGS_OFF
    await query.answer(texts.SETTINGS_SAVED.format(kind=label, state=state))
    text, keyboard = screen(choices)
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" not in exc.message:
            raise


def register(application: VerzekApplication) -> None:
    """Wire /settings and its buttons."""
    application.add_handler(CommandHandler("settings", show_settings))
    application.add_handler(CallbackQueryHandler(toggle, pattern=PATTERN))
