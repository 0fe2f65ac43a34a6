"""Telegram Stars (SPEC §12): "Pay with Stars" links, pre-checkout answers, successful
payments (first and renewals), /subscription (cancel / re-enable the renewal) and the admin's
/refund PAYMENT_ID (confirmation button, then a fresh 2FA code).

Every decision is core's (core/payments/stars.py); this module only speaks Telegram. /refund
is refused to non-admins by the gate (ADMIN_ONLY), by its own admin filter here, and by core.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from html import escape

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from bot import texts
from bot.commands import ADMIN_CALLBACK_PREFIX, AdminOnly
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
    require_admin_session,
    require_session,
)
from bot.payment_code_step import payment_code_proof
from core.errors import Refusal
from core.ids import parse_id
from core.money import format_usdt
from core.payments.stars_rules import CURRENCY, SUBSCRIPTION_PERIOD

logger = logging.getLogger(__name__)

PLAN_CALLBACK = "stars:"
RENEWAL_CALLBACK = "strn:"  # strn:c cancel, strn:r re-enable
REFUND_CALLBACK = f"{ADMIN_CALLBACK_PREFIX}stref:"  # the gate refuses it to non-admins
REFUND = "refund_stars"
CODE = 0


def minute(ts: datetime) -> str:
    """A timestamp as ``2026-01-31 12:00`` (UTC)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


class BotStarsGateway:
    """core's StarsGateway through the bot: refundStarPayment, editUserStarSubscription."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def refund(self, telegram_user_id: int, charge_id: str) -> bool:
        """refundStarPayment; False when Telegram refused."""
        try:
            return bool(await self._bot.refund_star_payment(telegram_user_id, charge_id))
        except TelegramError as exc:
            logger.warning("refundStarPayment refused: %s", exc.message)
            return False

    async def set_renewal(self, telegram_user_id: int, charge_id: str, *, cancel: bool) -> bool:
        """editUserStarSubscription; False when Telegram refused."""
        try:
            return bool(
                await self._bot.edit_user_star_subscription(telegram_user_id, charge_id, cancel)
            )
        except TelegramError as exc:
            logger.warning("editUserStarSubscription refused: %s", exc.message)
            return False


def plan_buttons(context: Context) -> list[list[InlineKeyboardButton]]:
    """/subscribe's second way to pay: a Stars button per plan sold for Stars."""
    return [
        [
            InlineKeyboardButton(
                texts.STARS_PLAN_BUTTON.format(name=plan.name, price=plan.price_stars),
                callback_data=f"{PLAN_CALLBACK}{plan.name}",
            )
        ]
        for plan in context.bot_data.services.stars.plans()
    ]


def plan_lines(context: Context) -> list[str]:
    """/plans' Stars prices (none when no plan is sold for Stars)."""
    plans = context.bot_data.services.stars.plans()
    if not plans:
        return []
    lines = [texts.STARS_PLANS_HEADER]
    for plan in plans:
        lines.append(
            texts.STARS_PLANS_LINE.format(
                name=escape(plan.name), price=plan.price_stars, tier=escape(plan.tier)
            )
        )
    return ["", *lines]


async def picked_plan(update: Update, context: Context) -> None:
    """A Stars plan button: a new invoice, and its subscription link as a button."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    session = await require_session(update, context)
    if session is None:
        return
    name = (query.data or "").removeprefix(PLAN_CALLBACK)
    try:
        plan, payload = await context.bot_data.services.stars.create_invoice(session, name)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return
    try:
        link = await context.bot.create_invoice_link(
            title=texts.STARS_INVOICE_TITLE.format(name=plan.name),
            description=texts.STARS_INVOICE_DESCRIPTION.format(name=plan.name, tier=plan.tier),
            payload=payload,
            # Stars take no payment provider. Omitted rather than "": PTB's ExtBot (with
            # Defaults) turns "" into [], which would reach Telegram as the token "[]".
            provider_token=None,
            currency=CURRENCY,
            prices=[LabeledPrice(plan.name, plan.price_stars)],
            subscription_period=SUBSCRIPTION_PERIOD,
        )
    except TelegramError as exc:
        logger.warning("createInvoiceLink failed: %s", exc.message)
        await message_of(update).reply_text(texts.STARS_LINK_FAILED)
        return
    button = InlineKeyboardButton(texts.STARS_PAY_BUTTON.format(price=plan.price_stars), url=link)
    await message_of(update).reply_text(
        texts.STARS_LINK.format(name=escape(plan.name), price=plan.price_stars),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )


async def pre_checkout(update: Update, context: Context) -> None:
    """Answer at once (Telegram waits 10 seconds): yes only when core finds nothing wrong."""
    query = update.pre_checkout_query
    assert query is not None
    try:
        problem = await context.bot_data.services.stars.pre_checkout(
            query.from_user.id, query.invoice_payload, query.currency, query.total_amount
        )
    except Exception:
        logger.exception("pre-checkout check failed; the payment is refused")
        await query.answer(ok=False, error_message=texts.STARS_LINK_FAILED)
        return
    if problem is None:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=texts.STARS_CHECKOUT_PROBLEMS[problem])


async def paid(update: Update, context: Context) -> None:
    """A successful_payment (first or renewal): grant once, tell the payer."""
    message = message_of(update)
    payment = message.successful_payment
    user = update.effective_user
    assert payment is not None and user is not None
    expires = payment.subscription_expiration_date
    grant = await context.bot_data.services.stars.record_payment(
        user.id,
        payment.invoice_payload,
        charge_id=payment.telegram_payment_charge_id,
        currency=payment.currency,
        total=payment.total_amount,
        is_recurring=bool(payment.is_recurring),
        is_first_recurring=bool(payment.is_first_recurring),
        expires_at=expires.astimezone(UTC) if isinstance(expires, datetime) else None,
    )
    if grant.payment is None or grant.license is None:
        await message.reply_text(texts.STARS_NOT_GRANTED)
        return
    renewal = payment.is_recurring and not payment.is_first_recurring
    template = texts.STARS_RENEWED if renewal else texts.STARS_PAID
    await message.reply_text(
        template.format(
            id=grant.payment.id,
            plan=escape(grant.license.plan),
            starts=minute(grant.license.starts_at),
            ends=minute(grant.license.ends_at),
        )
    )


async def show_subscription(update: Update, context: Context) -> None:
    """/subscription: the Stars subscription and a button to cancel or re-enable it."""
    session = await require_session(update, context)
    if session is None:
        return
    payment = await context.bot_data.services.stars.subscription(session.account_id)
    if payment is None:
        await message_of(update).reply_text(texts.STARS_SUBSCRIPTION_NONE)
        return
    expires = payment.subscription_expires_at
    renews = (
        texts.STARS_RENEWAL_OFF
        if payment.renewal_cancelled
        else texts.STARS_RENEWS_ON.format(date=minute(expires) if expires else "?")
    )
    button = (
        InlineKeyboardButton(texts.STARS_RESUME_BUTTON, callback_data=f"{RENEWAL_CALLBACK}r")
        if payment.renewal_cancelled
        else InlineKeyboardButton(texts.STARS_CANCEL_BUTTON, callback_data=f"{RENEWAL_CALLBACK}c")
    )
    await message_of(update).reply_text(
        texts.STARS_SUBSCRIPTION.format(id=payment.id, amount=payment.amount_stars, renews=renews),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )


async def renewal_button(update: Update, context: Context) -> None:
    """Cancel or re-enable the renewal (editUserStarSubscription first, then recorded)."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    session = await require_session(update, context)
    if session is None:
        return
    cancel = query.data == f"{RENEWAL_CALLBACK}c"
    gateway = BotStarsGateway(context.bot)
    try:
        done = await context.bot_data.services.stars.set_renewal(session, gateway, cancel=cancel)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return
    if not done:
        text = texts.STARS_RENEWAL_FAILED
    else:
        text = texts.STARS_RENEWAL_CANCELLED if cancel else texts.STARS_RENEWAL_RESUMED
    await message_of(update).reply_text(text)


async def start_refund(update: Update, context: Context) -> int:
    """/refund ID: show the Stars payment and a confirmation button (admins only)."""
    payment_id = id_argument(context)
    if payment_id is None:
        await message_of(update).reply_text(texts.STARS_REFUND_USAGE)
        return END
    session = await require_admin_session(update, context)
    if session is None:
        return END
    try:
        payment = await context.bot_data.services.stars.payment(session, payment_id)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return END
    button = InlineKeyboardButton(
        texts.STARS_REFUND_BUTTON.format(id=payment.id),
        callback_data=f"{REFUND_CALLBACK}{payment.id}",
    )
    await message_of(update).reply_text(
        texts.STARS_REFUND_CONFIRM.format(
            id=payment.id,
            amount=payment.amount_stars,
            user=payment.telegram_user_id,
            status=payment.status,
            paid=minute(payment.approved_at),
        ),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )
    return END


async def confirmed_refund(update: Update, context: Context) -> int:
    """The confirmation button: ask for a fresh 2FA code."""
    query = update.callback_query
    if query is None:  # /refund_confirm typed: only the button names a payment
        await message_of(update).reply_text(texts.STARS_REFUND_USAGE)
        return END
    await query.answer()
    await end_flow(context, REFUND)
    payment_id = parse_id((query.data or "").removeprefix(REFUND_CALLBACK))
    session = await require_admin_session(update, context)
    if session is None or payment_id is None:
        return END
    state = flow_state(context, REFUND, PaymentApproval)
    state.session, state.payment_id = session, payment_id
    await message_of(update).reply_text(texts.STARS_REFUND_ASK_CODE.format(id=payment_id))
    return CODE


async def got_refund_code(update: Update, context: Context) -> int:
    """Check the code, refund through Telegram, tell the admin and the payer."""
    checked = await payment_code_proof(update, context, REFUND, CODE)
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
        done = await services.stars.refund(session, proof, payment_id, BotStarsGateway(context.bot))
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    license_text = (
        texts.STARS_REFUNDED_LICENSE.format(ends=minute(done.license_ends_at))
        if done.license_ends_at
        else texts.STARS_REFUNDED_NO_LICENSE
    )
    amount = done.payment.amount_stars
    text = texts.STARS_REFUNDED.format(id=payment_id, amount=amount, license=license_text)
    if done.clawback.amount_micro:
        text += "\n" + texts.STARS_REFUND_CLAWBACK.format(
            amount=format_usdt(done.clawback.amount_micro),
            account=done.clawback.referrer_account_id,
        )
    elif done.clawback.untrusted:
        text += "\n" + texts.STARS_REFUND_CLAWBACK_UNTRUSTED
    await message_of(update).reply_text(f"{note}\n\n{text}")
    try:
        await context.bot.send_message(
            done.payment.telegram_user_id,
            texts.STARS_REFUNDED_USER.format(id=payment_id, amount=amount),
        )
    except TelegramError as exc:
        logger.warning("could not tell a user about a refund: %s", type(exc).__name__)
    return END


def register(application: VerzekApplication, admins: AdminOnly) -> None:
    """Wire the Stars buttons, pre-checkout, payments, /subscription and /refund."""
    application.add_handler(CallbackQueryHandler(picked_plan, pattern=f"^{PLAN_CALLBACK}"))
    application.add_handler(PreCheckoutQueryHandler(pre_checkout))
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, paid))
    application.add_handler(CommandHandler("subscription", show_subscription))
    application.add_handler(
        CallbackQueryHandler(renewal_button, pattern=f"^{RENEWAL_CALLBACK}[cr]$")
    )
    application.add_handler(CommandHandler("refund", start_refund, filters=admins.filter))
    application.add_handler(
        conversation(
            name=REFUND,
            entry="refund_confirm",  # never typed: the confirmation button starts it
            entry_callback=confirmed_refund,
            entry_filter=admins.filter,
            extra_entries=[admins.button(confirmed_refund, f"^{REFUND_CALLBACK}")],
            states={CODE: [MessageHandler(TEXT & admins.filter, got_refund_code)]},
            restart_hint=texts.STARS_REFUND_RESTART,
            secrets={CODE: Secret.CODE},
        )
    )
