"""/pay: ``/pay INVOICE TX_HASH`` at once, or sent bare, a flow that asks which open invoice
(buttons of the caller's own open invoices, in pages when many) and then the hash (or a pasted
tronscan.org link; SPEC §11).

An invoice button carries only an opaque reference (:mod:`bot.pickers`) that is resolved
against the presser's own live session and open invoices at the press, so a button pressed by
another Telegram account, replayed after a logout or edited by hand picks nothing and gets a
polite reply; so does any such button pressed outside the flow.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flow_state import PaymentPick
from bot.flows import END, TEXT, conversation, end_flow, flow_state, message_of, require_session
from bot.handlers.payments import pay, submit_and_check
from bot.pickers import Picker, find, keyboard, pressed_page
from core.accounts.sessions import Session
from core.errors import Refusal
from core.money import format_usdt
from core.payments.ports import InvoiceRecord
from core.payments.refusals import TxHashMalformed

FLOW = "pay"
PICK, HASH = range(2)
PREFIX = "pay:"


def _label(invoice: InvoiceRecord) -> str:
    return texts.PAY_PICK_BUTTON.format(
        id=invoice.id, plan=invoice.plan, amount=format_usdt(invoice.amount_micro)
    )


INVOICES: Picker[InvoiceRecord] = Picker(PREFIX, "invoice", lambda i: i.id, _label)


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
    invoices = await services.payment_screen.open_invoices(session)
    if not invoices:
        await message_of(update).reply_text(texts.PAY_PICK_NONE)
        return END
    flow_state(context, FLOW, PaymentPick).session = session
    await message_of(update).reply_text(
        texts.PAY_PICK_INVOICE,
        reply_markup=keyboard(
            INVOICES, session, invoices, more=texts.PAY_PICK_MORE, back=texts.PAY_PICK_BACK
        ),
    )
    return PICK


async def _presser(update: Update, context: Context) -> Session | None:
    """The presser's own live session, or None after a polite reply."""
    user = update.effective_user
    session = await context.bot_data.services.sessions.current(user.id) if user else None
    if session is None:
        await stale_button(update, context)
    return session


async def picked(update: Update, context: Context) -> int:
    """An invoice button (or a page button) of the presser's own list."""
    query = update.callback_query
    assert query is not None
    session = await _presser(update, context)
    if session is None:
        return PICK
    invoices = await context.bot_data.services.payment_screen.open_invoices(session)
    data = query.data or ""
    page = pressed_page(INVOICES, data)
    if page is not None:
        await query.answer()
        await query.edit_message_reply_markup(
            keyboard(
                INVOICES,
                session,
                invoices,
                page=page,
                more=texts.PAY_PICK_MORE,
                back=texts.PAY_PICK_BACK,
            )
        )
        return PICK
    invoice = find(INVOICES, session, invoices, data)
    if invoice is None:
        await stale_button(update, context)
        return PICK
    await query.answer()
    state = flow_state(context, FLOW, PaymentPick)
    state.session, state.invoice_id = session, invoice.id
    await message_of(update).reply_text(texts.PAY_ASK_HASH.format(id=invoice.id))
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
    """A /pay invoice button that is not (or no longer) the presser's: a polite no."""
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
                    CallbackQueryHandler(picked, pattern=f"^{PREFIX}"),
                    CommandHandler("pay", start_pay),
                ],
                HASH: [  # another invoice may still be picked instead
                    MessageHandler(TEXT, got_hash),
                    CallbackQueryHandler(picked, pattern=f"^{PREFIX}"),
                    CommandHandler("pay", start_pay),
                ],
            },
            restart_hint=texts.PAY_RESTART_HINT,
        )
    )
    # Outside the flow (another account's forwarded list, an old one): answered, no effect.
    application.add_handler(CallbackQueryHandler(stale_button, pattern=f"^{PREFIX}"))
