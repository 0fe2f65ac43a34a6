"""Admin withdrawal commands: /withdrawals, /complete_withdrawal ID TX_HASH,
/reject_withdrawal ID REASON.

The gate refuses these to non-admins before any handler runs (``ADMIN_ONLY``); each handler
carries its own admin filter as well. Payouts are
sent by hand from the platform's wallet; these commands list what is waiting and record the
outcome. Recording one needs the admin's own session with 2FA on; core checks that again and
refuses a second decision on the same withdrawal. The user is told either way. Emails,
addresses and amounts are shown only in a private chat or the admin chat.
"""

from __future__ import annotations

import logging
from html import escape

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import CommandHandler

from bot import texts
from bot.commands import AdminOnly, sender
from bot.context import Context, VerzekApplication
from bot.flows import id_argument, message_of, reply_lines, require_admin_session
from bot.handlers.payments import minute
from bot.handlers.pick_then_ask import Rest, pick_then_ask
from bot.pickers import Choice, Picker
from core.accounts.sessions import Session
from core.authz import Actor
from core.errors import Refusal
from core.money import format_usdt

logger = logging.getLogger(__name__)


async def _in_allowed_chat(update: Update, context: Context) -> bool:
    """Emails, addresses and amounts stay in private chats and the admin chat; any other
    group an admin happens to be in is refused (the gate lets admin commands into groups)."""
    chat = update.effective_chat
    admin_chat = context.bot_data.services.settings.telegram.admin_chat_id
    if chat is not None and (chat.type == ChatType.PRIVATE or chat.id == admin_chat):
        return True
    await message_of(update).reply_text(texts.ADMIN_WITHDRAWALS_CHAT_ONLY)
    return False


async def _tell_user(context: Context, telegram_user_id: int, text: str) -> str:
    """Send the user the outcome; the admin's reply says whether it arrived."""
    try:
        await context.bot.send_message(telegram_user_id, text)
    except TelegramError as exc:
        logger.warning("could not tell a user about their withdrawal: %s", type(exc).__name__)
        return texts.ADMIN_USER_NOT_TOLD
    return texts.ADMIN_USER_TOLD


async def show_withdrawals(update: Update, context: Context) -> None:
    """Requested withdrawals, oldest first, with the full address to pay."""
    if not await _in_allowed_chat(update, context):
        return
    services = context.bot_data.services
    views = await services.withdrawals.pending(sender(update))
    if not views:
        await message_of(update).reply_text(texts.ADMIN_WITHDRAWALS_NONE)
        return
    lines = [texts.ADMIN_WITHDRAWALS_HEADER]
    if (await services.safety.killswitch()).active:
        lines.append(texts.ADMIN_WITHDRAWALS_KILLSWITCH)
    for view in views:
        withdrawal = view.withdrawal
        lines.append(
            texts.ADMIN_WITHDRAWAL_LINE.format(
                id=withdrawal.id,
                email=escape(view.email),
                account=withdrawal.account_id,
                amount=format_usdt(withdrawal.amount_micro),
                address=escape(withdrawal.address),
                at=minute(withdrawal.requested_at),
                flag="" if view.authentic else texts.ADMIN_WITHDRAWAL_TAMPERED,
            )
        )
    lines += ["", texts.ADMIN_WITHDRAWALS_FOOTER]
    await reply_lines(message_of(update), lines)


async def complete(update: Update, context: Context) -> None:
    """/complete_withdrawal ID TX_HASH: the payout was sent; the user is told."""
    if not await _in_allowed_chat(update, context):
        return
    withdrawal_id = id_argument(context)
    args = context.args or []
    if withdrawal_id is None or len(args) != 2:
        await message_of(update).reply_text(texts.ADMIN_COMPLETE_USAGE)
        return
    session = await require_admin_session(update, context)
    if session is None:
        return
    try:
        withdrawal = await context.bot_data.services.withdrawals.complete(
            session, withdrawal_id, args[1]
        )
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return
    amount = format_usdt(withdrawal.amount_micro)
    told = await _tell_user(
        context,
        withdrawal.telegram_user_id,
        texts.WITHDRAWAL_SENT_USER.format(
            id=withdrawal.id,
            amount=amount,
            address=escape(withdrawal.address),
            tx=withdrawal.tx_hash,
        ),
    )
    await message_of(update).reply_text(
        texts.ADMIN_WITHDRAWAL_COMPLETED.format(
            id=withdrawal.id, amount=amount, tx=withdrawal.tx_hash, told=told
        )
    )


async def reject(update: Update, context: Context) -> None:
    """/reject_withdrawal ID REASON: the amount is released; the user is told why."""
    if not await _in_allowed_chat(update, context):
        return
    withdrawal_id = id_argument(context)
    reason = " ".join((context.args or [])[1:])
    if withdrawal_id is None or not reason.strip():
        await message_of(update).reply_text(texts.ADMIN_REJECT_WITHDRAWAL_USAGE)
        return
    session = await require_admin_session(update, context)
    if session is None:
        return
    try:
        withdrawal = await context.bot_data.services.withdrawals.reject(
            session, withdrawal_id, reason
        )
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return
    amount = format_usdt(withdrawal.amount_micro)
    told = await _tell_user(
        context,
        withdrawal.telegram_user_id,
        texts.WITHDRAWAL_REJECTED_USER.format(
            id=withdrawal.id, amount=amount, reason=escape(withdrawal.reason)
        ),
    )
    await message_of(update).reply_text(
        texts.ADMIN_WITHDRAWAL_REJECTED.format(id=withdrawal.id, amount=amount, told=told)
    )


async def _pending_choices(context: Context, session: Session) -> list[Choice]:
    """Requested withdrawals, oldest first, as buttons: ``#id · email · amount``."""
    views = await context.bot_data.services.withdrawals.pending(Actor.of_session(session))
    return [
        Choice(
            str(v.withdrawal.id),
            f"#{v.withdrawal.id} · {v.email} · {format_usdt(v.withdrawal.amount_micro)} USDT",
        )
        for v in views
    ]


COMPLETE = Picker(
    "complete_withdrawal", texts.PICK_COMPLETE, texts.PICK_WITHDRAWALS_NONE, _pending_choices, True
)
REJECT = Picker(
    "reject_withdrawal", texts.PICK_REJECT_W, texts.PICK_WITHDRAWALS_NONE, _pending_choices, True
)


def register(application: VerzekApplication, admins: AdminOnly) -> None:
    """Wire /withdrawals, /complete_withdrawal, /reject_withdrawal (admin-filtered; the last
    two, sent bare, offer the requested withdrawals as buttons: bot/handlers/pick_then_ask)."""
    only = admins.filter
    application.add_handler(CommandHandler("withdrawals", show_withdrawals, filters=only))
    completing = Rest(texts.PICK_COMPLETE_TX, texts.PICK_COMPLETE_TYPE)
    application.add_handler(pick_then_ask(application, admins, COMPLETE, completing, complete))
    rejecting = Rest(texts.PICK_REJECT_W_REASON, texts.PICK_REJECT_W_TYPE)
    application.add_handler(pick_then_ask(application, admins, REJECT, rejecting, reject))
