"""Admin payment commands: /pending, /verify ID, /approve ID (2FA code), /reject ID REASON,
/credit ID (2FA code: a partial or review payment goes to the payer's wallet instead).

Three checks, each enough alone (SPEC §10): the gate refuses these to non-admins before any
handler runs, every handler here carries its own admin filter, and core checks the actor
again. Decisions (approve, reject)
need the admin's own session with 2FA on; approving also asks for a fresh 2FA code.
"""

from __future__ import annotations

import logging
from html import escape

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import CommandHandler, MessageHandler

from bot import texts
from bot.commands import AdminOnly, sender
from bot.context import Context, VerzekApplication
from bot.flow_state import PaymentApproval
from bot.flows import (
    END,
    TEXT,
    Secret,
    conversation,
    end_flow,
    flow_state,
    id_argument,
    message_of,
    reply_lines,
    require_admin_session,
)
from bot.handlers import payment_pickers as pickers
from bot.handlers.payments import minute, reason_text, tell_decided
from bot.handlers.pick_then_ask import offer_as_admin, pick_then_ask
from bot.payment_code_step import payment_code_proof
from bot.pickers import offer, picked
from bot.presence import current_session
from bot.wording import count
from core.authz import Actor
from core.errors import Refusal
from core.money import format_usdt
from core.payments.rules import CheckReport, PaymentView

logger = logging.getLogger(__name__)

APPROVE = "approve_payment"
CREDIT = "credit_payment"
CODE = 0
_MARKS = {True: "✅", False: "❌", None: "⏳"}


def _invoice_facts(view: PaymentView) -> dict[str, object]:
    invoice = view.invoice
    return {
        "invoice": view.payment.invoice_id,
        "plan": escape(invoice.plan) if invoice else "?",
        "amount": format_usdt(invoice.amount_micro) if invoice else "?",
        "email": escape(view.email),
    }


async def show_pending(update: Update, context: Context) -> None:
    """Pending payments, least recently checked first; then those waiting for an admin."""
    payments = context.bot_data.services.payments
    views = await payments.pending(sender(update))
    review = await payments.in_review(sender(update))
    if not views and not review:
        await message_of(update).reply_text(texts.ADMIN_PENDING_NONE)
        return
    lines = [texts.ADMIN_PENDING_HEADER] if views else []
    for view in views:
        payment = view.payment
        lines.append(
            texts.ADMIN_PENDING_LINE.format(
                id=payment.id,
                note=reason_text(payment.note) if payment.note else "not checked yet",
                checks=count(payment.checks, "check"),
                tx=payment.tx_hash,
                **_invoice_facts(view),
            )
        )
    if review:
        lines += ["", texts.ADMIN_REVIEW_HEADER] if lines else [texts.ADMIN_REVIEW_HEADER]
    for view in review:
        payment = view.payment
        lines.append(
            texts.ADMIN_REVIEW_LINE.format(
                id=payment.id,
                paid=format_usdt(payment.amount_micro) if payment.amount_micro else "?",
                note=reason_text(payment.note),
                tx=payment.tx_hash,
                **_invoice_facts(view),
            )
        )
    await reply_lines(message_of(update), lines)


def verification_lines(view: PaymentView, report: CheckReport) -> list[str]:
    """/verify's answer: every check with its facts, the result, the signature state."""
    payment = report.payment
    lines = [
        texts.ADMIN_VERIFY_HEADER.format(
            id=payment.id,
            status=texts.PAYMENT_STATES.get(payment.status, payment.status),
            tx=payment.tx_hash,
            **_invoice_facts(view),
        ),
        "",
    ]
    if report.verification is None:
        lines.append(texts.ADMIN_VERIFY_UNAVAILABLE)
    else:
        lines += [
            texts.ADMIN_VERIFY_CHECK.format(
                mark=_MARKS[result.passed],
                name=texts.CHECK_NAMES.get(result.check, result.check),
                detail=escape(result.detail),
            )
            for result in report.verification.checks
        ]
    decided = (
        texts.ADMIN_VERIFY_DECIDED.format(
            status=texts.PAYMENT_STATES.get(payment.status, payment.status)
        )
        if report.decided
        else ""
    )
    lines.append(
        texts.ADMIN_VERIFY_RESULT.format(reason=reason_text(report.reason), decided=decided)
    )
    if report.signature_ok is not None:
        lines.append(texts.ADMIN_SIGNATURE_OK if report.signature_ok else texts.ADMIN_SIGNATURE_BAD)
    return lines


async def verify(update: Update, context: Context) -> None:
    """/verify ID: run the chain checks now and show each one (an outcome is applied)."""
    if not context.args:  # bare, with a session: buttons of the pending payments
        session = await current_session(update, context)
        if session is not None:
            await offer(update, context, pickers.VERIFY, session)
            return
    payment_id = id_argument(context)
    if payment_id is None:
        await message_of(update).reply_text(texts.ADMIN_VERIFY_USAGE)
        return
    payments = context.bot_data.services.payments
    view = await payments.view(sender(update), payment_id)
    report = await payments.verify(sender(update), payment_id)
    await reply_lines(message_of(update), verification_lines(view, report))
    await tell_decided(context.bot, context.bot_data.services, report)


async def start_approve(update: Update, context: Context) -> int:
    """/approve ID: admin session with 2FA on; show the payment; ask for a code."""
    await end_flow(context, APPROVE)
    if not context.args:  # bare: buttons of the pending payments (bot/pickers.py)
        return await offer_as_admin(update, context, pickers.APPROVE)
    payment_id = id_argument(context)
    if payment_id is None:
        await message_of(update).reply_text(texts.ADMIN_APPROVE_USAGE)
        return END
    session = await require_admin_session(update, context)
    if session is None:
        return END
    view = await context.bot_data.services.payments.view(Actor.of_session(session), payment_id)
    approval = flow_state(context, APPROVE, PaymentApproval)
    approval.session, approval.payment_id = session, payment_id
    await message_of(update).reply_text(
        texts.ADMIN_APPROVE_ASK_CODE.format(
            id=payment_id,
            status=texts.PAYMENT_STATES.get(view.payment.status, view.payment.status),
            **_invoice_facts(view),
        )
    )
    return CODE


async def got_approve_code(update: Update, context: Context) -> int:
    """Check the fresh 2FA code, then approve."""
    checked = await payment_code_proof(update, context, APPROVE, CODE)
    if isinstance(checked, int):
        return checked
    services = context.bot_data.services
    note, session, payment_id, proof = (
        checked.note,
        checked.session,
        checked.payment_id,
        checked.proof,
    )
    try:
        report = await services.payments.approve_manually(session, proof, payment_id)
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    ends = minute(report.license.ends_at) if report.license else "?"
    extra = (
        texts.ADMIN_APPROVED_EXTRA.format(excess=format_usdt(report.credited_micro))
        if report.credited_micro
        else ""
    )
    await message_of(update).reply_text(
        f"{note}\n\n" + texts.ADMIN_APPROVED.format(id=payment_id, ends=ends) + extra
    )
    await tell_decided(context.bot, services, report)
    return END


async def start_credit(update: Update, context: Context) -> int:
    """/credit ID: admin session with 2FA on; show the payment; ask for a code."""
    await end_flow(context, CREDIT)
    payment_id = id_argument(context)
    if payment_id is None:
        await message_of(update).reply_text(texts.ADMIN_CREDIT_USAGE)
        return END
    session = await require_admin_session(update, context)
    if session is None:
        return END
    view = await context.bot_data.services.payments.view(Actor.of_session(session), payment_id)
    credit = flow_state(context, CREDIT, PaymentApproval)
    credit.session, credit.payment_id = session, payment_id
    amount = view.payment.amount_micro
    await message_of(update).reply_text(
        texts.ADMIN_CREDIT_ASK_CODE.format(
            id=payment_id,
            paid=format_usdt(amount) if amount else "?",
            status=texts.PAYMENT_STATES.get(view.payment.status, view.payment.status),
            **_invoice_facts(view),
        )
    )
    return CODE


async def got_credit_code(update: Update, context: Context) -> int:
    """Check the fresh 2FA code, then credit the payment to the payer's wallet."""
    checked = await payment_code_proof(update, context, CREDIT, CODE)
    if isinstance(checked, int):
        return checked
    services = context.bot_data.services
    note, session, payment_id, proof = (
        checked.note,
        checked.session,
        checked.payment_id,
        checked.proof,
    )
    try:
        report = await services.payments.credit_to_wallet(session, proof, payment_id)
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    await message_of(update).reply_text(
        f"{note}\n\n"
        + texts.ADMIN_CREDITED.format(
            id=payment_id,
            invoice=report.invoice.id,
            amount=format_usdt(report.credited_micro),
        )
    )
    await tell_decided(context.bot, services, report)
    return END


async def reject(update: Update, context: Context) -> None:
    """/reject ID REASON: admin session with 2FA on; the user is told why."""
    payment_id = id_argument(context)
    reason = " ".join((context.args or [])[1:])
    if payment_id is None or not reason.strip():
        await message_of(update).reply_text(texts.ADMIN_REJECT_USAGE)
        return
    session = await require_admin_session(update, context)
    if session is None:
        return
    payment = await context.bot_data.services.payments.reject(session, payment_id, reason)
    await message_of(update).reply_text(texts.ADMIN_REJECTED.format(id=payment.id))
    try:
        await context.bot.send_message(
            payment.telegram_user_id,
            texts.PAY_REJECTED.format(id=payment.id, reason=escape(payment.note)),
        )
    except TelegramError as exc:
        logger.warning("could not tell a user about a rejection: %s", type(exc).__name__)


def register(application: VerzekApplication, admins: AdminOnly) -> None:
    """Wire /pending, /verify, /approve, /reject, /credit (each with its own admin filter)."""
    only = admins.filter
    application.add_handler(CommandHandler("pending", show_pending, filters=only))
    application.add_handler(CommandHandler("verify", verify, filters=only))
    application.add_handler(picked(application, pickers.VERIFY, verify, admins.ids))
    rejecting = pick_then_ask(application, admins, pickers.REJECT, pickers.REJECT_REST, reject)
    application.add_handler(rejecting)  # typed /reject ID REASON runs reject() as before
    application.add_handler(
        conversation(
            name=APPROVE,
            entry="approve",
            entry_callback=start_approve,
            entry_filter=only,
            extra_entries=[picked(application, pickers.APPROVE, start_approve, admins.ids)],
            states={CODE: [MessageHandler(TEXT & only, got_approve_code)]},
            restart_hint="Start again with /approve PAYMENT_ID.",
            secrets={CODE: Secret.CODE},
        )
    )
    application.add_handler(
        conversation(
            name=CREDIT,
            entry="credit",
            entry_callback=start_credit,
            entry_filter=only,
            states={CODE: [MessageHandler(TEXT & only, got_credit_code)]},
            restart_hint="Start again with /credit PAYMENT_ID.",
            secrets={CODE: Secret.CODE},
        )
    )
