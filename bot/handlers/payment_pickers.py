"""Buttons for the admins' payment commands sent bare (/approve, /reject, /verify): the
pending payments, a page at a time (bot/pickers.py), and the reason step of a picked /reject.

A picked /approve or /verify goes on exactly as the typed command (its own handler, with
``context.args = [id]``); a picked /reject asks for the reason in a private chat, or says what
to type in the admin chat (where the gate reads only commands), then runs the typed /reject.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, MessageHandler

from bot import texts
from bot.commands import AdminOnly
from bot.context import Context, VerzekApplication
from bot.flow_state import PaymentApproval
from bot.flows import (
    END,
    TEXT,
    conversation,
    end_flow,
    flow_state,
    message_of,
    require_admin_session,
)
from bot.pickers import Choice, Picker, offer, picked
from core.accounts.sessions import Session
from core.authz import Actor
from core.ids import parse_id
from core.money import format_usdt

REJECT_FLOW = "reject_payment"
REASON = 0

Handler = Callable[[Update, Context], Awaitable[Any]]


async def pending_choices(context: Context, session: Session) -> list[Choice]:
    """Pending payments, least recently checked first: ``#id · email · amount``."""
    views = await context.bot_data.services.payments.pending(Actor.of_session(session))
    choices = []
    for view in views:
        amount = format_usdt(view.invoice.amount_micro) if view.invoice else "?"
        label = f"#{view.payment.id} · {view.email} · {amount} USDT"
        choices.append(Choice(str(view.payment.id), label))
    return choices


APPROVE = Picker("approve", texts.PICK_APPROVE, texts.PICK_PAYMENTS_NONE, pending_choices, True)
REJECT = Picker("reject", texts.PICK_REJECT, texts.PICK_PAYMENTS_NONE, pending_choices, True)
VERIFY = Picker("verify", texts.PICK_VERIFY, texts.PICK_PAYMENTS_NONE, pending_choices, True)


async def offer_pending(update: Update, context: Context, picker: Picker) -> int:
    """A bare payment command: the admin's own session (2FA on), then the buttons."""
    session = await require_admin_session(update, context)
    if session is None:
        return END
    return await offer(update, context, picker, session)


def reject_flow(
    application: VerzekApplication, admins: AdminOnly, reject: Handler
) -> BaseHandler[Update, Any, Any]:
    """/reject as a flow: typed ``/reject ID REASON`` runs ``reject`` at once (as before);
    bare, it offers the pending payments; a picked one asks for the reason."""
    only = admins.filter

    async def start(update: Update, context: Context) -> int:
        await end_flow(context, REJECT_FLOW)
        if context.args:
            await reject(update, context)
            return END
        return await offer_pending(update, context, REJECT)

    async def ask_reason(update: Update, context: Context) -> int:
        payment_id = parse_id((context.args or [""])[0])
        if payment_id is None:
            raise LookupError("a payment picker offered something that is not an id")
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            await message_of(update).reply_text(texts.PICK_REJECT_TYPE.format(id=payment_id))
            return END
        session = await require_admin_session(update, context)
        if session is None:
            return END
        data = flow_state(context, REJECT_FLOW, PaymentApproval)
        data.session, data.payment_id = session, payment_id
        await message_of(update).reply_text(texts.PICK_REJECT_REASON.format(id=payment_id))
        return REASON

    async def got_reason(update: Update, context: Context) -> int:
        data = flow_state(context, REJECT_FLOW, PaymentApproval)
        context.args = [str(data.payment_id), *(message_of(update).text or "").split()]
        await end_flow(context, REJECT_FLOW)
        await reject(update, context)
        return END

    return conversation(
        name=REJECT_FLOW,
        entry="reject",
        entry_callback=start,
        entry_filter=only,
        extra_entries=[picked(application, REJECT, ask_reason, admins.ids)],
        states={REASON: [MessageHandler(TEXT & only, got_reason)]},
        restart_hint="Start again with /reject.",
        private_only=False,  # the admin chat may reject too (it types the reason there)
    )
