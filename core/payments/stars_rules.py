"""Telegram Stars (SPEC §12): records, the repository port, refusal reasons and pure rules.

The invoice payload Telegram carries back (``invoice_payload``) is ``vs1.<reference>.<mac>``:
``reference`` is the invoice's random name (never its id), ``mac`` the HMAC-SHA256 (hex) of it
under the key the master key derives for signatures. At most 128 bytes (Telegram's limit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from core.errors import Reason

CURRENCY = "XTR"
SUBSCRIPTION_PERIOD = 2_592_000  # seconds: the only period Telegram accepts (30 days)
PAYLOAD_LIMIT = 128
PAYLOAD_LABEL = "stars_payload/v1"
_PAYLOAD = re.compile(r"^vs1\.([A-Za-z0-9_-]{22})\.([0-9a-f]{64})$")
STARS_ALERT = "stars_payment_refused"  # a Stars payment that granted nothing (routing_rules)
REFUNDED = "refunded"


class StarsInvoiceStatus(StrEnum):
    OPEN = "open"  # no payment yet
    SUBSCRIBED = "subscribed"  # paid; renewals arrive on it
    CLOSED = "closed"  # refunded or ended


@dataclass(frozen=True)
class StarsInvoiceRecord:
    """One "Pay with Stars" link: who may pay it, for which plan, at which price."""

    id: int
    reference: str
    account_id: int
    telegram_user_id: int
    plan: str
    tier: str
    days: int
    price_stars: int
    created_at: datetime
    status: StarsInvoiceStatus
    signature: str | None


@dataclass(frozen=True)
class StarsPaymentRecord:
    """One successful_payment (first or renewal), signed when stored."""

    id: int
    invoice_id: int
    account_id: int
    telegram_user_id: int
    charge_id: str
    amount_stars: int
    is_recurring: bool
    subscription_expires_at: datetime | None
    approved_at: datetime
    status: str  # approved, refunded
    refunded_at: datetime | None
    renewal_cancelled: bool
    signature: str | None


class StarsRepository(Protocol):
    """Stars invoices and payments."""

    async def add_invoice(
        self,
        *,
        reference: str,
        account_id: int,
        telegram_user_id: int,
        plan: str,
        tier: str,
        days: int,
        price_stars: int,
        created_at: datetime,
    ) -> int:
        """Insert an open invoice; return its id."""
        ...

    async def sign_invoice(self, invoice_id: int, signature: str) -> None:
        """Store an invoice's signature."""
        ...

    async def invoice_by_reference(self, reference: str) -> StarsInvoiceRecord | None:
        """The invoice of that reference."""
        ...

    async def invoice(self, invoice_id: int) -> StarsInvoiceRecord | None:
        """The invoice of that id."""
        ...

    async def set_invoice_status(
        self, invoice_id: int, status: StarsInvoiceStatus, *, was: StarsInvoiceStatus
    ) -> bool:
        """Move an invoice from ``was`` to ``status``; False when it was not ``was``."""
        ...

    async def add_payment(
        self,
        *,
        invoice_id: int,
        account_id: int,
        telegram_user_id: int,
        charge_id: str,
        amount_stars: int,
        is_recurring: bool,
        subscription_expires_at: datetime | None,
        approved_at: datetime,
    ) -> int:
        """Insert a payment; DuplicateError when its charge id is stored already."""
        ...

    async def sign_payment(self, payment_id: int, signature: str) -> None:
        """Store a payment's signature."""
        ...

    async def payment(self, payment_id: int) -> StarsPaymentRecord | None:
        """The payment of that id."""
        ...

    async def payments_for(self, account_id: int, limit: int) -> list[StarsPaymentRecord]:
        """The account's payments, newest first."""
        ...

    async def mark_refunded(self, payment_id: int, at: datetime) -> bool:
        """approved -> refunded; False when it was not approved."""
        ...

    async def set_renewal_cancelled(self, payment_id: int, cancelled: bool) -> None:
        """Remember whether the subscription of this payment renews."""
        ...


class PreCheckoutProblem(StrEnum):
    """Why a pre_checkout_query is answered no (words: bot/texts/en/stars.py)."""

    BAD_PAYLOAD = "bad_payload"
    NOT_OPEN = "not_open"
    NOT_YOURS = "not_yours"
    NO_SESSION = "no_session"
    PRICE = "price"
    CLOSED_ACCOUNT = "closed_account"


@dataclass(frozen=True)
class StarsNotSold(Reason):
    """The plan has no Stars price."""


@dataclass(frozen=True)
class StarsPaymentNotFound(Reason):
    """No Stars payment ``payment_id``."""

    payment_id: int


@dataclass(frozen=True)
class StarsAlreadyRefunded(Reason):
    """Stars payment ``payment_id`` was refunded already."""

    payment_id: int


@dataclass(frozen=True)
class StarsRefundFailed(Reason):
    """Telegram refused the refund of ``payment_id``."""

    payment_id: int


@dataclass(frozen=True)
class StarsNoSubscription(Reason):
    """The account has no Stars subscription that could be changed."""


def make_payload(reference: str, mac: str) -> str:
    """The invoice_payload for an invoice's reference and its MAC."""
    payload = f"vs1.{reference}.{mac}"
    assert len(payload.encode()) <= PAYLOAD_LIMIT
    return payload


def split_payload(payload: str) -> tuple[str, str] | None:
    """(reference, mac) of a well-formed payload, else None (never raises)."""
    if len(payload.encode("utf-8", "replace")) > PAYLOAD_LIMIT:
        return None
    found = _PAYLOAD.match(payload)
    return None if found is None else (found.group(1), found.group(2))


def price_problem(
    invoice: StarsInvoiceRecord, plan_price_stars: int, currency: str, total: int
) -> bool:
    """True when the amount asked is not the invoice's, or the plan's price moved since."""
    return currency != CURRENCY or total != invoice.price_stars or total != plan_price_stars


def usdt_worth_micro(stars: int, rate_micro: int | None) -> int:
    """What ``stars`` count for in micro-USDT at ``rate_micro`` per star (0 without a rate:
    then a Stars payment earns the referrer nothing)."""
    if rate_micro is None or rate_micro <= 0:
        return 0
    return stars * rate_micro


def refunded_end(starts_at: datetime, ends_at: datetime, now: datetime) -> datetime:
    """Where a refunded license ends: now if it runs, at its start if it has not begun."""
    return max(starts_at, min(ends_at, now))


class StarsGateway(Protocol):
    """What core asks of Telegram for Stars (the bot implements it with its Bot)."""

    async def refund(self, telegram_user_id: int, charge_id: str) -> bool:
        """refundStarPayment; False when Telegram refused it."""
        ...

    async def set_renewal(self, telegram_user_id: int, charge_id: str, *, cancel: bool) -> bool:
        """editUserStarSubscription; False when Telegram refused it."""
        ...
