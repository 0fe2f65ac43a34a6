"""Whether a license renews itself through Telegram Stars (SPEC §12), for the renewal
reminders (core/payments/reminders.py): a license bought by a Stars payment whose subscription
is live (authentic, approved, recurring, its invoice still subscribed, renewal not cancelled)
is paid for again by Telegram before it ends, so reminding its owner to renew would be noise.
Anything else (USDT, a refunded or cancelled Stars payment, a row that fails its signature)
is reminded as usual: when in doubt, remind.
"""

from __future__ import annotations

from core.crypto import EncryptionService
from core.payments.ports import LicenseRecord
from core.payments.stars_rules import StarsInvoiceStatus
from core.ports import UnitOfWork
from core.signing import STARS_PAYMENT_SIGNATURE, verify_record


async def renews_through_stars(
    uow: UnitOfWork, crypto: EncryptionService, license_record: LicenseRecord
) -> bool:
    """True when ``license_record`` will be renewed by an active Stars subscription."""
    if license_record.stars_payment_id is None:
        return False
    payment = await uow.stars.payment(license_record.stars_payment_id)
    if (
        payment is None
        or payment.status != "approved"
        or not payment.is_recurring
        or payment.renewal_cancelled
        or not verify_record(crypto, STARS_PAYMENT_SIGNATURE, payment)
    ):
        return False
    invoice = await uow.stars.invoice(payment.invoice_id)
    return invoice is not None and invoice.status is StarsInvoiceStatus.SUBSCRIBED
