"""/delete_account: password, 2FA code (when on), a confirmation button, then the account is
closed (core/accounts/deletion.py says what goes and what stays).

The password and the code are deleted from the chat as soon as they are read, like every
secret step. The confirmation button carries ``del:yes:<reference>``, an opaque digest core
made for this session, this password check and the account's current stamp: pressed by
another Telegram account, after a logout, a restore or any security change, or edited by
hand, it deletes nothing (core compares it inside the deleting transaction). A press that
belongs to no deletion of the presser's is answered politely.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, MessageHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flow_state import AccountDeletion
from bot.flows import (
    END,
    TEXT,
    Secret,
    charge_auth_failure,
    conversation,
    end_flow,
    flow_state,
    message_of,
    require_session,
    take_secret,
)
from core.accounts.deletion import SecondFactorCheck
from core.accounts.refusals import DeletionButtonStale
from core.errors import Refusal
from core.money import format_usdt
from core.twofactor.service import CodeBlocked

logger = logging.getLogger(__name__)

FLOW = "delete_account"
PASSWORD, CODE, CONFIRM = range(3)
PREFIX = "del:"
CONFIRM_PREFIX = f"{PREFIX}yes:"
KEEP = f"{PREFIX}no"


def _state(context: Context) -> AccountDeletion:
    return flow_state(context, FLOW, AccountDeletion)


async def start(update: Update, context: Context) -> int:
    """Say what deletion does and keeps; ask for the password."""
    await end_flow(context, FLOW)
    session = await require_session(update, context)
    if session is None:
        return END
    try:
        outlook = await context.bot_data.services.deletion.outlook(session)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return END
    data = _state(context)
    data.session = session
    data.needs_code = outlook.needs_code
    summary = await context.bot_data.services.withdrawals.summary(session.account_id)
    available = summary.position.available_micro
    balance = texts.DELETE_BALANCE.format(amount=format_usdt(available)) if available > 0 else ""
    await message_of(update).reply_text(texts.DELETE_INTRO.format(balance=balance))
    return PASSWORD


async def got_password(update: Update, context: Context) -> int:
    """Check the password (message deleted); ask for a code or for the confirmation."""
    password, note = await take_secret(update, "password")
    data = _state(context)
    try:
        data.proof = await context.bot_data.services.deletion.check_password(
            data.started_session(), password
        )
    except Refusal as exc:
        await charge_auth_failure(update, context)
        await end_flow(context, FLOW)
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    if data.needs_code:
        await message_of(update).reply_text(f"{note}\n\n{texts.DELETE_ASK_CODE}")
        return CODE
    return await _ask_confirmation(update, context, note)


async def got_code(update: Update, context: Context) -> int:
    """Check the 2FA or backup code (message deleted); then ask for the confirmation."""
    code, note = await take_secret(update, "code")
    data = _state(context)
    try:
        check = await context.bot_data.services.deletion.check_code(data.started_session(), code)
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        if isinstance(exc, CodeBlocked):
            await end_flow(context, FLOW)
            return END
        return CODE
    data.code_proof = check.proof
    return await _ask_confirmation(update, context, note)


async def _ask_confirmation(update: Update, context: Context, note: str) -> int:
    data = _state(context)
    data.reference = await context.bot_data.services.deletion.confirmation(
        data.started_session(), data.fresh_proof()
    )
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.DELETE_BUTTON, callback_data=CONFIRM_PREFIX + data.reference
                )
            ],
            [InlineKeyboardButton(texts.DELETE_KEEP_BUTTON, callback_data=KEEP)],
        ]
    )
    await message_of(update).reply_text(f"{note}\n\n{texts.DELETE_CONFIRM}", reply_markup=keyboard)
    return CONFIRM


async def _drop_buttons(update: Update) -> None:
    query = update.callback_query
    if query is None:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError as exc:
        logger.warning("could not remove the deletion buttons: %s", type(exc).__name__)


async def pressed_confirm(update: Update, context: Context) -> int:
    """ "Delete my account": core checks everything again and closes the account."""
    query = update.callback_query
    assert query is not None
    data = _state(context)
    reference = (query.data or "").removeprefix(CONFIRM_PREFIX)
    code = SecondFactorCheck(data.code_proof) if data.code_proof is not None else None
    try:
        others = await context.bot_data.services.deletion.delete(
            data.started_session(), data.fresh_proof(), code, reference
        )
    except Refusal as exc:
        await query.answer(texts.render(exc), show_alert=True)
        if isinstance(exc.reason, DeletionButtonStale):
            return CONFIRM  # an edited button: the real one still stands
        await end_flow(context, FLOW)
        await _drop_buttons(update)
        return END
    await query.answer()
    await end_flow(context, FLOW)
    await _drop_buttons(update)
    ended = texts.DELETE_OTHERS_ENDED.format(count=len(others)) if others else ""
    # The other Telegram accounts hear of it from the owner-notice outbox (a critical notice).
    await message_of(update).reply_text(texts.DELETE_DONE.format(others=ended))
    return END


async def pressed_keep(update: Update, context: Context) -> int:
    """ "Keep my account": nothing happens."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await end_flow(context, FLOW)
    await _drop_buttons(update)
    await message_of(update).reply_text(texts.DELETE_KEPT)
    return END


async def remind(update: Update, context: Context) -> int:
    """A text at the confirmation step: the buttons decide."""
    await message_of(update).reply_text(texts.DELETE_PRESS_A_BUTTON)
    return CONFIRM


async def stray_press(update: Update, context: Context) -> None:
    """A deletion button outside the presser's own confirmation step (another Telegram
    account's, an old one, a forged one): nothing is deleted."""
    query = update.callback_query
    assert query is not None
    await query.answer(texts.DELETE_BUTTON_STALE, show_alert=True)


def register(application: VerzekApplication) -> None:
    """Wire /delete_account and its buttons."""
    application.add_handler(
        conversation(
            name=FLOW,
            entry="delete_account",
            entry_callback=start,
            states={
                PASSWORD: [MessageHandler(TEXT, got_password)],
                CODE: [MessageHandler(TEXT, got_code)],
                CONFIRM: [
                    CallbackQueryHandler(pressed_confirm, pattern=f"^{CONFIRM_PREFIX}[0-9a-f]+$"),
                    CallbackQueryHandler(pressed_keep, pattern=f"^{KEEP}$"),
                    MessageHandler(TEXT, remind),
                ],
            },
            restart_hint=texts.DELETE_RESTART,
            secrets={PASSWORD: Secret.PASSWORD, CODE: Secret.CODE},
        )
    )
    application.add_handler(CallbackQueryHandler(stray_press, pattern=f"^{PREFIX}"))
