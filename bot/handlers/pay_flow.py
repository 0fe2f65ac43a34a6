"""/pay: ``/pay INVOICE TX_HASH`` at once, or sent bare, a flow that asks which open invoice
(buttons of the caller's own open invoices, in pages when many) and then the hash (or a pasted
tronscan.org link; SPEC §11).

The invoice buttons are :mod:`bot.pickers`' (the one picker machinery): each carries only a
random token; what it stands for stays on the server, bound to the presser, the chat, the
message and the session it was shown in, and the invoice is looked up again among the
presser's open invoices at the press. So a button pressed by another Telegram account,
replayed after a logout, pressed twice or edited by hand picks nothing and gets a polite
reply. Buttons of the old keyed-digest lists (``pay:``) are answered and do nothing.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flow_state import PaymentPick
from bot.flows import END, TEXT, conversation, end_flow, flow_state, message_of, require_session
from bot.handlers.payments import pay, submit_and_check
from bot.pickers import Choice, Picker, offer, picked
from bot.presence import current_session
from core.accounts.sessions import Session
from core.errors import Refusal
from core.ids import parse_id
from core.money import format_usdt
from core.payments.ports import InvoiceRecord
from core.payments.refusals import TxHashMalformed

FLOW = "pay"
PICK, HASH = range(2)
LEGACY_PREFIX = "pay:"  # the keyed-digest buttons lists carried before this picker


def _label(invoice: InvoiceRecord) -> str:
    return texts.PAY_PICK_BUTTON.format(
        id=invoice.id, plan=invoice.plan, amount=format_usdt(invoice.amount_micro)
    )


async def _open_invoices(context: Context, session: Session) -> list[Choice]:
    """The presser's own open invoices (listed at the offer and again at each press)."""
    invoices = await context.bot_data.services.payment_screen.open_invoices(session)
    return [Choice(str(invoice.id), _label(invoice)) for invoice in invoices]


INVOICES = Picker(FLOW, texts.PAY_PICK_INVOICE, texts.PAY_PICK_NONE, _open_invoices)


async def start_pay(update: Update, context: Context) -> int:
    """/pay with its two arguments goes straight on; bare, it lists the open invoices."""
    if context.args:
        await end_flow(context, FLOW)
        try:
            await pay(update, context)
        except Refusal as exc:  # answered here: the flow must end either way
            await message_of(update).reply_text(texts.render(exc))
        return END
    services = context.bot_data.services
    if not services.payments.enabled:
        await message_of(update).reply_text(texts.PAYMENTS_OFF)
        return END
    await end_flow(context, FLOW)
    session = await require_session(update, context)
    if session is None:
        return END
    if not await _open_invoices(context, session):
        await message_of(update).reply_text(texts.PAY_PICK_NONE)
        return END
    flow_state(context, FLOW, PaymentPick).session = session
    await offer(update, context, INVOICES, session)
    return PICK


async def picked_invoice(update: Update, context: Context) -> int:
    """An invoice button the picker checked (the presser's own, on its own message, in its
    live session, still open): ask for the hash."""
    session = await current_session(update, context)
    invoice_id = parse_id((context.args or [""])[0])
    if session is None or invoice_id is None:  # the picker checked both a moment ago
        await stale_button(update, context)
        return END
    state = flow_state(context, FLOW, PaymentPick)
    state.session, state.invoice_id = session, invoice_id
    await message_of(update).reply_text(texts.PAY_ASK_HASH.format(id=invoice_id))
    return HASH


async def got_hash(update: Update, context: Context) -> int:
    """The hash (or a tronscan link) for the picked invoice; a malformed one is asked again."""
    state = flow_state(context, FLOW, PaymentPick)
    session = await require_session(update, context)
    if session is None:
        await end_flow(context, FLOW)
        return END
    if session.account_id != state.started_session().account_id:
        await end_flow(context, FLOW)
        await message_of(update).reply_text(texts.PAY_PICK_STALE)
        return END
    try:
        await submit_and_check(update, context, session, state.invoice_id, _text(update))
    except Refusal as exc:
        if isinstance(exc.reason, TxHashMalformed):
            await message_of(update).reply_text(texts.render(exc))
            return HASH
        await end_flow(context, FLOW)
        await message_of(update).reply_text(texts.render(exc))
        return END
    await end_flow(context, FLOW)
    return END


def _text(update: Update) -> str:
    return message_of(update).text or ""


async def stale_button(update: Update, context: Context) -> None:
    """A /pay button of an old list (or one the picker let through that is gone): a polite no."""
    query = update.callback_query
    if query is not None:
        await query.answer(texts.PAY_PICK_STALE, show_alert=True)


def register(application: VerzekApplication) -> None:
    """Wire /pay (with arguments, or bare with its invoice buttons)."""
    application.add_handler(
        conversation(
            name=FLOW,
            entry="pay",
            entry_callback=start_pay,
            states={  # /pay again (bare or with its arguments) starts over
                PICK: [
                    picked(application, INVOICES, picked_invoice),
                    CommandHandler("pay", start_pay),
                ],
                HASH: [  # another list's invoice may still be picked instead
                    MessageHandler(TEXT, got_hash),
                    picked(application, INVOICES, picked_invoice),
                    CommandHandler("pay", start_pay),
                ],
            },
            restart_hint=texts.PAY_RESTART_HINT,
            # The owner's own list pressed after the flow ended (a timeout): the picker checks
            # it like any press, and the flow starts at the hash.
            extra_entries=[picked(application, INVOICES, picked_invoice)],
        )
    )
    # Buttons of lists shown before the picker machinery: answered, no effect.
    application.add_handler(CallbackQueryHandler(stale_button, pattern=f"^{LEGACY_PREFIX}"))
