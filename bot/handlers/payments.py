"""/plans, /subscribe (plan buttons → invoice), /pay, /payments; telling users the outcome."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from html import escape

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot import texts
from bot.admin_chat import tell_admin_chat
from bot.context import Context, VerzekApplication
from bot.flows import message_of, require_session
from bot.handlers import stars as stars_feature
from bot.payment_screen import (
    finish_status,
    hash_from_text,
    receipt_link,
    send_invoice,
    send_status,
    status_text,
)
from bot.wording import count
from core.accounts.sessions import Session
from core.audit.routing_rules import PAYMENT_APPROVED
from core.ids import parse_id
from core.money import format_usdt
from core.payments.licenses import LicenseStatus
from core.payments.ports import PaymentStatus
from core.payments.rules import CheckNote, CheckReport
from core.services import Services

logger = logging.getLogger(__name__)

PLAN_CALLBACK = "sub:"


def minute(ts: datetime) -> str:
    """A record's timestamp as ``2026-01-31 12:00`` (UTC)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def license_line(status: LicenseStatus | None) -> str:
    """The license part of /me."""
    if status is None:
        return texts.LICENSE_NONE
    line = texts.LICENSE_ACTIVE.format(plan=escape(status.plan), ends=minute(status.tier_ends_at))
    if status.paid_until > status.tier_ends_at:
        line = texts.LICENSE_PAID_UNTIL.format(license=line, until=minute(status.paid_until))
    return line


def reason_text(reason: str) -> str:
    """What a check's reason means for the user."""
    return texts.PAY_REASONS.get(reason, reason.replace("_", " "))


def outcome_text(report: CheckReport, *, first: bool = False) -> str | None:
    """The message for the payer after a check, or None when there is nothing new to say."""
    payment, invoice = report.payment, report.invoice
    if report.decided and payment.status == PaymentStatus.APPROVED and report.license:
        extra = (
            texts.PAY_OVERPAID_EXTRA.format(excess=format_usdt(report.credited_micro))
            if report.credited_micro
            else ""
        )
        return (
            texts.PAY_APPROVED.format(
                id=payment.id,
                amount=format_usdt(payment.amount_micro or 0),
                plan=escape(report.license.plan),
                starts=minute(report.license.starts_at),
                ends=minute(report.license.ends_at),
            )
            + extra
            + f"\n{receipt_link(report)}"
        )
    if report.decided and payment.status == PaymentStatus.APPROVED and report.credited_micro:
        return texts.PAY_CREDITED.format(
            id=payment.id, invoice=invoice.id, amount=format_usdt(report.credited_micro)
        )
    if report.decided and payment.status == PaymentStatus.PARTIAL and report.settlement:
        return texts.PAY_PARTIAL.format(
            id=payment.id,
            invoice=invoice.id,
            paid=format_usdt(payment.amount_micro or 0),
            received=format_usdt(report.settlement.received_micro),
            amount=format_usdt(invoice.amount_micro),
            missing=format_usdt(report.settlement.missing_micro),
            address=invoice.receive_address,
            expires=minute(invoice.expires_at),
        )
    if report.decided and payment.status == PaymentStatus.REVIEW:
        words = (
            texts.PAY_REVIEW_UNSURE
            if report.reason is CheckNote.SOURCES_DISAGREE
            else texts.PAY_REVIEW
        )
        return words.format(id=payment.id, reason=reason_text(report.reason))
    if report.decided and payment.status == PaymentStatus.FAILED:
        return texts.PAY_FAILED.format(id=payment.id, reason=reason_text(report.reason))
    if report.decided and payment.status == PaymentStatus.EXPIRED:
        return texts.PAY_EXPIRED.format(id=payment.id, invoice=invoice.id)
    if first and payment.status == PaymentStatus.PENDING:
        return texts.PAY_STILL_PENDING.format(
            id=payment.id,
            reason=reason_text(report.reason),
            invoice=invoice.id,
            expires=minute(invoice.expires_at),
        )
    return None


async def tell_outcome(
    bot: Bot, services: Services, report: CheckReport, *, first: bool = False
) -> None:
    """Tell the payer what a check decided (a failed send is logged, never raised). Only the
    ``first`` check, the direct answer to the payer's own /pay, is always told; what a job or
    an admin decided later is a notice the payer may have turned off (/settings, payments)."""
    text = outcome_text(report, first=first)
    if text is None:
        return
    if not first and not await services.preferences.wants(
        report.payment.account_id, "payment_news"
    ):
        return
    try:
        await bot.send_message(report.payment.telegram_user_id, text)
    except TelegramError as exc:
        logger.warning("could not tell a user about their payment: %s", type(exc).__name__)


def approved_notice(report: CheckReport) -> str | None:
    """The admins' notice of a payment the chain check approved (None for anything else)."""
    payment, license_record = report.payment, report.license
    if not report.decided or payment.status != PaymentStatus.APPROVED or license_record is None:
        return None
    extra = (
        texts.ADMIN_APPROVED_EXTRA.format(excess=format_usdt(report.credited_micro))
        if report.credited_micro
        else ""
    )
    return texts.ADMIN_PAYMENT_APPROVED.format(
        id=payment.id,
        by=texts.APPROVED_BY["admin" if payment.approved_by_account_id else "verification"],
        invoice=payment.invoice_id,
        plan=escape(license_record.plan),
        amount=format_usdt(payment.amount_micro or 0),
        account=payment.account_id,
        extra=extra,
    )


async def tell_decided(
    bot: Bot, services: Services, report: CheckReport, *, first: bool = False
) -> None:
    """A check decided the payment: its status message shows the final state, the payer is
    told (a new message, which notifies), and an approval by the chain check is a silent
    notice in the admin chat (``alerts.routing`` rule ``payment_approved``)."""
    await finish_status(bot, services, report)
    await tell_outcome(bot, services, report, first=first)
    notice = approved_notice(report)
    if notice is not None and report.payment.approved_by_account_id is None:
        await tell_admin_chat(bot, services.settings, notice, PAYMENT_APPROVED)


async def check_and_tell(bot: Bot, services: Services, payment_id: int) -> None:
    """The first check right after /pay, off the user's reply path."""
    try:
        report = await services.payments.check(payment_id)
    except Exception:
        # The payment is stored and pending: the job checks it again within a minute.
        logger.exception("the first check of payment %d failed", payment_id)
        return
    if report.payment.status == PaymentStatus.PENDING:
        # The status message: the re-check job edits it as confirmations grow.
        needed = services.settings.payments.min_confirmations
        text = status_text(report, needed, reason_text(report.reason))
        await send_status(bot, services, report, text)
        return
    await tell_decided(bot, services, report, first=True)


async def show_plans(update: Update, context: Context) -> None:
    """The plans on sale."""
    payments = context.bot_data.services.payments
    lines = [texts.PLANS_HEADER]
    for plan in payments.plans():
        lines.append(
            texts.PLAN_LINE.format(
                name=escape(plan.name),
                price=format_usdt(plan.price_micro),
                days=count(plan.days, "day"),
                tier=escape(plan.tier),
            )
        )
    stars = stars_feature.plan_lines(context)  # Stars need no receive address (SPEC §12)
    if payments.enabled:
        footer = texts.PLANS_FOOTER
    else:
        footer = texts.STARS_PLANS_USDT_OFF if stars else texts.PLANS_PAYMENTS_OFF
    lines += [*stars, "", footer]
    await message_of(update).reply_text("\n".join(lines))


async def subscribe(update: Update, context: Context) -> None:
    """Plan buttons."""
    payments = context.bot_data.services.payments
    stars = stars_feature.plan_buttons(context)  # the second way to pay (SPEC §12)
    if not payments.enabled and not stars:
        await message_of(update).reply_text(texts.PAYMENTS_OFF)
        return
    if await require_session(update, context) is None:
        return
    if not payments.enabled:  # Stars need no receive address
        markup = InlineKeyboardMarkup(stars)
        await message_of(update).reply_text(texts.STARS_ONLY_PICK, reply_markup=markup)
        return
    buttons = [
        [
            InlineKeyboardButton(
                texts.PLAN_BUTTON.format(
                    name=plan.name,
                    price=format_usdt(plan.price_micro),
                    days=count(plan.days, "day"),
                ),
                callback_data=f"{PLAN_CALLBACK}{plan.name}",
            )
        ]
        for plan in payments.plans()
    ]
    text = (
        f"{texts.SUBSCRIBE_PICK}\n\n{texts.STARS_SUBSCRIBE_PICK}" if stars else texts.SUBSCRIBE_PICK
    )
    await message_of(update).reply_text(text, reply_markup=InlineKeyboardMarkup(buttons + stars))


async def picked_plan(update: Update, context: Context) -> None:
    """A plan button: make (or show the open) invoice."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    session = await require_session(update, context)
    if session is None:
        return
    plan_name = (query.data or "").removeprefix(PLAN_CALLBACK)
    invoice = await context.bot_data.services.payments.create_invoice(session, plan_name)
    await send_invoice(message_of(update), invoice)


async def pay(update: Update, context: Context) -> None:
    """/pay INVOICE TX_HASH: store it, answer at once, verify in the background."""
    services = context.bot_data.services
    if not services.payments.enabled:
        await message_of(update).reply_text(texts.PAYMENTS_OFF)
        return
    session = await require_session(update, context)
    if session is None:
        return
    args = context.args or []
    invoice_id = parse_id(args[0]) if args else None
    if len(args) != 2 or invoice_id is None:
        await message_of(update).reply_text(texts.PAY_USAGE)
        return
    await submit_and_check(update, context, session, invoice_id, args[1])


async def submit_and_check(
    update: Update, context: Context, session: Session, invoice_id: int, tx_text: str
) -> None:
    """Store the payment (``tx_text``: a hash or a pasted tronscan link), answer at once,
    verify in the background."""
    services = context.bot_data.services
    payment = await services.payments.submit(session, invoice_id, hash_from_text(tx_text))
    await message_of(update).reply_text(
        texts.PAY_RECEIVED.format(id=payment.id, invoice=payment.invoice_id)
    )
    # A TronScan lookup may take seconds (retries); the user's next update must not wait.
    context.application.create_task(
        check_and_tell(context.bot, services, payment.id), name=f"payment-check-{payment.id}"
    )


async def show_payments(update: Update, context: Context) -> None:
    """The user's invoices and payments with their states."""
    session = await require_session(update, context)
    if session is None:
        return
    history = await context.bot_data.services.payments.history(session.account_id)
    if not history.invoices and not history.payments:
        await message_of(update).reply_text(texts.PAYMENTS_NONE)
        return
    lines = [texts.PAYMENTS_INVOICES]
    for invoice in history.invoices:
        status = (
            texts.INVOICE_OPEN_UNTIL.format(expires=minute(invoice.expires_at))
            if invoice.status == "open"
            else texts.INVOICE_STATES.get(invoice.status, invoice.status)
        )
        lines.append(
            texts.INVOICE_LINE.format(
                id=invoice.id,
                plan=escape(invoice.plan),
                amount=format_usdt(invoice.amount_micro),
                status=status,
            )
        )
    if history.payments:
        lines += ["", texts.PAYMENTS_PAYMENTS]
    for payment in history.payments:
        status = (
            texts.PAYMENT_UNDER_REVIEW
            if payment.id in history.untrusted
            else texts.PAYMENT_CREDITED_STATE
            if payment.status == PaymentStatus.APPROVED and payment.note == CheckNote.CREDITED
            else texts.PAYMENT_STATES.get(payment.status, payment.status)
        )
        if payment.status == PaymentStatus.PENDING and payment.note:
            status += f" ({reason_text(payment.note)})"
        lines.append(
            texts.PAYMENT_LINE.format(
                id=payment.id,
                invoice=payment.invoice_id,
                status=status,
                tx=f"{payment.tx_hash[:10]}…{payment.tx_hash[-6:]}",
            )
        )
    await message_of(update).reply_text("\n".join(lines))


def register(application: VerzekApplication) -> None:
    """Wire /plans, /subscribe, /payments (/pay: :mod:`bot.handlers.pay_flow`)."""
    application.add_handler(CommandHandler("plans", show_plans))
    application.add_handler(CommandHandler("subscribe", subscribe))
    application.add_handler(CallbackQueryHandler(picked_plan, pattern=f"^{PLAN_CALLBACK}"))
    application.add_handler(CommandHandler("payments", show_payments))
