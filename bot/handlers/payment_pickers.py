"""Buttons for the admins' payment commands sent bare (/approve, /reject, /verify): the
pending payments, a page at a time (bot/pickers.py).

A picked /approve or /verify goes on exactly as the typed command (its own handler, with
``context.args = [id]``); a picked /reject then asks for the reason
(bot/handlers/pick_then_ask.py).
"""

from __future__ import annotations

from bot import texts
from bot.context import Context
from bot.handlers.pick_then_ask import Rest
from bot.pickers import Choice, Picker
from core.accounts.sessions import Session
from core.authz import Actor
from core.money import format_usdt


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
REJECT_REST = Rest(texts.PICK_REJECT_REASON, texts.PICK_REJECT_TYPE)
