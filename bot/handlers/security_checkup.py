"""/security: the account's check-up on one screen, each finding with the button that fixes
it or opens the command that shows more (core/accounts/checkup.py reads it).

The fixing buttons are the features' own: "Enrol 2FA" and "New backup codes" press into the
2FA flows (``2fa:enroll``, ``2fa:codes``: their password and code steps as ever). The others
(``sec:<what>``) open /sessions, /apikeys, /activity or /wallet for the presser's own session:
a button carries no account, so pressing one shown to someone else shows the presser's own.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flows import message_of, require_session
from bot.handlers.activity import activity
from bot.handlers.apikeys import list_keys
from bot.handlers.sessions import show_sessions
from bot.handlers.wallet import show_wallet
from bot.session_view import TIME_FORMAT
from core.accounts.checkup import Checkup
from core.accounts.sessions import FlowEnded

PREFIX = "sec:"
_OPENS: dict[str, Callable[[Update, Context], Coroutine[Any, Any, None]]] = {
    "sessions": show_sessions,
    "keys": list_keys,
    "activity": activity,
    "wallet": show_wallet,
}


def _button(label: str, data: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(label, callback_data=data)]


def screen(checkup: Checkup) -> tuple[str, InlineKeyboardMarkup]:
    """The check-up's lines and their buttons."""
    lines = [texts.SECURITY_HEADER]
    buttons: list[list[InlineKeyboardButton]] = []
    if checkup.mfa_on:
        lines.append(texts.SECURITY_MFA_ON)
        few = checkup.few_backup_codes
        template = texts.SECURITY_CODES_FEW if few else texts.SECURITY_CODES_OK
        lines.append(template.format(left=checkup.backup_codes_left))
        buttons.append(_button(texts.SECURITY_BUTTON_CODES, "2fa:codes"))
    else:
        lines.append(texts.SECURITY_MFA_OFF)
        buttons.append(_button(texts.SECURITY_BUTTON_ENROLL, "2fa:enroll"))
    lines.append(
        texts.SECURITY_SESSIONS_ONE
        if checkup.live_sessions <= 1
        else texts.SECURITY_SESSIONS_MANY.format(count=checkup.live_sessions)
    )
    buttons.append(_button(texts.SECURITY_BUTTON_SESSIONS, f"{PREFIX}sessions"))
    lines.append(texts.SECURITY_KEYS.format(count=checkup.api_keys))
    buttons.append(_button(texts.SECURITY_BUTTON_KEYS, f"{PREFIX}keys"))
    if checkup.last_new_account_login_at is None:
        lines.append(texts.SECURITY_NO_NEW_LOGIN)
    else:
        lines.append(
            texts.SECURITY_NEW_LOGIN.format(
                when=checkup.last_new_account_login_at.strftime(TIME_FORMAT),
                account=checkup.last_new_account,
            )
        )
    buttons.append(_button(texts.SECURITY_BUTTON_ACTIVITY, f"{PREFIX}activity"))
    if checkup.pending_withdrawals:
        lines.append(texts.SECURITY_WITHDRAWALS.format(count=checkup.pending_withdrawals))
    else:
        lines.append(texts.SECURITY_NO_WITHDRAWALS)
    buttons.append(_button(texts.SECURITY_BUTTON_WALLET, f"{PREFIX}wallet"))
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


async def show_checkup(update: Update, context: Context) -> None:
    """/security: the check-up of the caller's account."""
    session = await require_session(update, context)
    if session is None:
        return
    try:
        checkup = await context.bot_data.services.checkup.checkup(session)
    except FlowEnded:
        await message_of(update).reply_text(texts.LOGIN_FIRST)
        return
    text, keyboard = screen(checkup)
    await message_of(update).reply_text(text, reply_markup=keyboard)


async def open_view(update: Update, context: Context) -> None:
    """A "Sessions", "Keys", "Activity" or "Wallet" button: that command, for the presser."""
    query = update.callback_query
    assert query is not None
    view = _OPENS.get((query.data or "").removeprefix(PREFIX))
    if view is None:
        await query.answer(texts.STALE_BUTTON, show_alert=True)
        return
    await query.answer()
    await view(update, context)


def register(application: VerzekApplication) -> None:
    """Wire /security and its buttons."""
    application.add_handler(CommandHandler("security", show_checkup))
    application.add_handler(CallbackQueryHandler(open_view, pattern=f"^{PREFIX}[a-z]+$"))
