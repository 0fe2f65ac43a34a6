"""What the payment screen keeps and reads (SPEC §7, §11): the open invoices a user may pick
for a bare ``/pay``, and where each payment's status message is, so the re-check job (even
after a restart) edits that message in place as confirmations grow instead of sending a new
one each minute.

The confirmation count a message shows is moved with a compare-and-set, so two rounds that
see the same new count edit the message once.
"""

from __future__ import annotations

from collections.abc import Callable

from core.accounts.sessions import Session
from core.clock import Clock
from core.crypto import EncryptionService
from core.payments.ports import InvoiceRecord, InvoiceStatus
from core.payments.screen_ports import StatusMessage
from core.ports import UnitOfWork
from core.signing import INVOICE_SIGNATURE, verify_record

OPEN_INVOICES_READ = 50  # newest invoices looked at for the picker (one open per plan anyway)
NOTHING_SHOWN = -1  # a status message that shows no confirmation count yet


class PaymentScreen:
    """The payment screen's own small reads and writes."""

    def __init__(
        self, uow_factory: Callable[..., UnitOfWork], clock: Clock, crypto: EncryptionService
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._crypto = crypto

    async def open_invoices(self, session: Session) -> list[InvoiceRecord]:
        """The session's account's open, unexpired, authentic invoices, newest first."""
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            invoices = await uow.payments.invoices_for(session.account_id, OPEN_INVOICES_READ)
        return [
            invoice
            for invoice in invoices
            if invoice.status is InvoiceStatus.OPEN
            and invoice.expires_at > now
            and verify_record(self._crypto, INVOICE_SIGNATURE, invoice)
        ]

    async def remember_status(
        self, payment_id: int, *, chat_id: int, message_id: int, shown: int = NOTHING_SHOWN
    ) -> None:
        """Remember the message that shows a payment's status (replacing an older one) and
        the confirmation count it shows."""
        async with self._uow() as uow:
            await uow.status_messages.put(
                payment_id, chat_id=chat_id, message_id=message_id, shown=shown
            )
            await uow.commit()

    async def status_message(self, payment_id: int) -> StatusMessage | None:
        """Where the payment's status message is, if it has one."""
        async with self._uow(read_only=True) as uow:
            return await uow.status_messages.get(payment_id)

    async def claim_update(self, message: StatusMessage, shown: int) -> bool:
        """True when this caller is the one to show ``shown`` on ``message`` (it showed
        something else and nobody moved it meanwhile)."""
        if message.shown == shown:
            return False
        async with self._uow() as uow:
            moved = await uow.status_messages.set_shown(
                message.payment_id, was=message.shown, shown=shown
            )
            await uow.commit()
        return moved
