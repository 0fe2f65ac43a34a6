"""The payment screen (SPEC §7, §11): the invoice as a QR photo of ``tron:<address>?amount=<x>``
with copy buttons for the address and the exact amount; the status message edited in place as
confirmations grow ("12/19"); the receipt's link to the transaction on tronscan.org; and a
pasted tronscan link read as the hash it names.

The status message's chat and id are kept with the payment (:class:`core.payments.screen.
PaymentScreen`), so the re-check job edits the same message after a restart. When Telegram
cannot edit it (deleted, too old) a new one is sent and remembered; "message is not modified"
is silence.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import UTC, datetime
from html import escape

import qrcode
from qrcode.image.pil import PilImage
from telegram import Bot, CopyTextButton, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, TelegramError

from bot import texts
from bot.wording import count
from core.money import format_usdt
from core.payments.ports import InvoiceRecord, PaymentStatus
from core.payments.rules import CheckNote, CheckReport
from core.payments.screen import NOTHING_SHOWN
from core.services import Services

logger = logging.getLogger(__name__)

TRONSCAN_TX = "https://tronscan.org/#/transaction/{hash}"
# A transaction's page on TronScan as people paste it: https, tronscan.org or .io (www.
# allowed), the hash in ASCII hex, then at most a slash and a query. Anything else (another
# host, look-alike digits, a path after the hash) is not a link to read: it goes on as typed
# and meets the hash format's refusal.
_TRONSCAN_LINK = re.compile(
    r"https://(?:www\.)?tronscan\.(?:org|io)/#/transaction/([0-9a-fA-F]{64})/?(?:\?[\w=&.%-]*)?",
    re.ASCII,
)
NOT_MODIFIED = "message is not modified"


def _minute(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def hash_from_text(text: str) -> str:
    """The hash a pasted tronscan.org link names, else ``text`` unchanged (core checks it)."""
    match = _TRONSCAN_LINK.fullmatch(text.strip())
    return match.group(1) if match else text


def tronscan_url(tx_hash: str) -> str:
    """The transaction's page on tronscan.org."""
    return TRONSCAN_TX.format(hash=tx_hash)


def payment_uri(invoice: InvoiceRecord) -> str:
    """What the QR code says: the TRON address and the exact amount a wallet should fill in."""
    return f"tron:{invoice.receive_address}?amount={format_usdt(invoice.amount_micro)}"


def qr_png(text: str) -> bytes:
    """A QR code of ``text`` as PNG bytes (the standard quiet zone, readable by phones)."""
    image = qrcode.make(text, box_size=8, border=4, image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def invoice_text(invoice: InvoiceRecord) -> str:
    """The invoice's words: plan, exact amount, address, expiry, how to report the payment."""
    return texts.INVOICE.format(
        id=invoice.id,
        plan=escape(invoice.plan),
        days=count(invoice.days, "day"),
        amount=format_usdt(invoice.amount_micro),
        address=invoice.receive_address,
        expires=_minute(invoice.expires_at),
    )


def invoice_keyboard(invoice: InvoiceRecord) -> InlineKeyboardMarkup:
    """Copy buttons for the address and the exact amount (Telegram copies, nothing is sent)."""
    amount = format_usdt(invoice.amount_micro)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.COPY_ADDRESS_BUTTON,
                    copy_text=CopyTextButton(invoice.receive_address),
                )
            ],
            [
                InlineKeyboardButton(
                    texts.COPY_AMOUNT_BUTTON.format(amount=amount),
                    copy_text=CopyTextButton(amount),
                )
            ],
        ]
    )


async def send_invoice(message: Message, invoice: InvoiceRecord) -> Message:
    """Answer ``message`` with the invoice: QR photo, words as its caption, copy buttons.
    Without a picture (it could not be drawn or sent) the words and buttons still go."""
    keyboard = invoice_keyboard(invoice)
    caption = invoice_text(invoice)
    try:
        png = await asyncio.to_thread(qr_png, payment_uri(invoice))
        return await message.reply_photo(png, caption=caption, reply_markup=keyboard)
    except (TelegramError, OSError, ValueError) as exc:
        logger.warning("the invoice's QR photo could not be sent: %s", type(exc).__name__)
    return await message.reply_text(caption, reply_markup=keyboard)


def receipt_link(report: CheckReport) -> str:
    """The receipt's line linking the transaction on tronscan.org."""
    return texts.PAY_RECEIPT_LINK.format(url=escape(tronscan_url(report.payment.tx_hash)))


def confirmations_of(report: CheckReport) -> int | None:
    """The confirmation count a pending payment's transfer has, when the chain told it."""
    verification = report.verification
    if (
        report.payment.status != PaymentStatus.PENDING
        or verification is None
        or verification.reason is not CheckNote.CONFIRMATIONS
    ):
        return None
    return verification.confirmations


def status_text(report: CheckReport, needed: int, reason: str) -> str:
    """The status message of a pending payment (``reason``: its words for the check's note)."""
    payment, invoice = report.payment, report.invoice
    expires = _minute(invoice.expires_at)
    confirmations = confirmations_of(report)
    if confirmations is not None:
        return texts.PAY_CONFIRMING.format(
            id=payment.id,
            count=confirmations,
            needed=needed,
            invoice=invoice.id,
            expires=expires,
        )
    return texts.PAY_STILL_PENDING.format(
        id=payment.id, reason=reason, invoice=invoice.id, expires=expires
    )


async def send_status(bot: Bot, services: Services, report: CheckReport, text: str) -> None:
    """Send the status message of a pending payment and remember where it is."""
    chat_id = report.payment.telegram_user_id
    try:
        sent = await bot.send_message(chat_id, text)
    except TelegramError as exc:
        logger.warning("could not send a payment's status: %s", type(exc).__name__)
        return
    shown = confirmations_of(report)
    await services.payment_screen.remember_status(
        report.payment.id,
        chat_id=sent.chat_id,
        message_id=sent.message_id,
        shown=NOTHING_SHOWN if shown is None else shown,
    )


async def update_status(bot: Bot, services: Services, report: CheckReport, text: str) -> None:
    """Edit the payment's status message when its confirmation count changed (once, however
    many rounds see the change); a message Telegram can't edit any more is sent anew."""
    shown = confirmations_of(report)
    if shown is None:
        return
    message = await services.payment_screen.status_message(report.payment.id)
    if message is None:  # none on record (a send failed, or the payer turned these off)
        if await services.preferences.wants(report.payment.account_id, "payment_news"):
            await send_status(bot, services, report, text)
        return
    if not await services.payment_screen.claim_update(message, shown):
        return
    try:
        await bot.edit_message_text(text, chat_id=message.chat_id, message_id=message.message_id)
    except BadRequest as exc:
        if NOT_MODIFIED in str(exc).lower():
            return
        logger.info("the payment's status message can't be edited, sending a new one")
        await send_status(bot, services, report, text)
    except TelegramError as exc:
        logger.warning("could not update a payment's status: %s", type(exc).__name__)


def final_status_text(report: CheckReport) -> str:
    """The status message's words once the payment is decided (approved, partial, review…)."""
    payment = report.payment
    state = texts.PAYMENT_STATES.get(payment.status, str(payment.status))
    return texts.PAY_STATUS_FINAL.format(id=payment.id, invoice=payment.invoice_id, state=state)


async def finish_status(bot: Bot, services: Services, report: CheckReport) -> None:
    """Edit a decided payment's status message ("12/19") to its final state, so it never
    stays at the last count (no message, or one Telegram can't edit any more: nothing to do,
    the outcome is told in a message of its own)."""
    if not report.decided or report.payment.status is PaymentStatus.PENDING:
        return
    message = await services.payment_screen.status_message(report.payment.id)
    if message is None:
        return
    try:
        await bot.edit_message_text(
            final_status_text(report), chat_id=message.chat_id, message_id=message.message_id
        )
    except TelegramError as exc:
        logger.info("a payment's status message kept its last state: %s", type(exc).__name__)
