"""Telegram Stars in the fake Bot API, by the Bot API's published rules (payments for digital
goods, Bot API 7.4+; subscriptions, 7.9+).

- createInvoiceLink: title 1-32 characters, description 1-255, payload 1-128 bytes, ``prices``
  a JSON list; in ``XTR`` exactly one price and an empty ``provider_token``;
  ``subscription_period`` only in XTR, only 2592000 (30 days), price at most 10000 Stars.
  Answers a ``https://t.me/$…`` link.
- The user's side: :meth:`StarsMethods.user_opens_invoice` pushes a ``pre_checkout_query``;
  the bot must answer it once (answerPreCheckoutQuery; ``error_message`` required when not
  ok) within 10 seconds, else the payment fails. :meth:`StarsMethods.pay_after_checkout`
  then pushes the ``successful_payment`` message, only when the answer was ok;
  :meth:`StarsMethods.renew` pushes a renewal (``is_recurring``) unless the user or the bot
  cancelled the subscription.
- refundStarPayment: unknown charge → CHARGE_NOT_FOUND, twice → CHARGE_ALREADY_REFUNDED.
- editUserStarSubscription: the charge must be the user's subscription payment.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.fake_telegram.profile import BadRequest
from bot.fake_telegram.records import TelegramUser

PERIOD = 2_592_000
ANSWER_SECONDS = 10


@dataclass
class InvoiceLink:
    payload: str
    currency: str
    amount: int
    period: int | None


@dataclass
class Checkout:
    user: TelegramUser
    link: InvoiceLink
    asked_at: float
    answer: bool | None = None
    error_message: str | None = None


@dataclass
class Charge:
    user_id: int
    link: InvoiceLink
    refunded: bool = False
    cancelled: bool = False


@dataclass
class StarsState:
    links: dict[str, InvoiceLink] = field(default_factory=dict)
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def _invoice_link(params: dict[str, Any]) -> InvoiceLink:
    title, description = str(params.get("title", "")), str(params.get("description", ""))
    payload, currency = str(params.get("payload", "")), str(params.get("currency", ""))
    if not 1 <= len(title) <= 32:
        raise BadRequest("Bad Request: TITLE_INVALID")
    if not 1 <= len(description) <= 255:
        raise BadRequest("Bad Request: DESCRIPTION_INVALID")
    if not 1 <= len(payload.encode()) <= 128:
        raise BadRequest("Bad Request: PAYLOAD_INVALID")
    prices = params.get("prices")
    prices = json.loads(prices) if isinstance(prices, str) else prices
    if not isinstance(prices, list) or not prices:
        raise BadRequest("Bad Request: prices must be non-empty")
    if currency == "XTR":
        if params.get("provider_token", "") != "":  # Stars take none ("" or absent)
            raise BadRequest("Bad Request: PROVIDER_TOKEN_INVALID")
        if len(prices) != 1:
            raise BadRequest("Bad Request: XTR invoices must have exactly one price")
    amounts = [price.get("amount") if isinstance(price, dict) else None for price in prices]
    if not all(isinstance(amount, int) for amount in amounts):
        raise BadRequest("Bad Request: can't parse prices JSON object")
    amount = sum(a for a in amounts if isinstance(a, int))
    if amount <= 0:
        raise BadRequest("Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
    period = params.get("subscription_period")
    if period is not None:
        if currency != "XTR":
            raise BadRequest("Bad Request: subscriptions are only for payments in Telegram Stars")
        if int(period) != PERIOD:
            raise BadRequest("Bad Request: SUBSCRIPTION_PERIOD_INVALID")
        if amount > 10_000:
            raise BadRequest("Bad Request: SUBSCRIPTION_PRICE_INVALID")
    return InvoiceLink(payload, currency, amount, None if period is None else int(period))


class StarsMethods:
    """The methods and user actions above, mixed into the fake Bot API."""

    _clock: Callable[[], float]
    stars: StarsState

    def _queue(self, update: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError  # FakeBotAPI's

    def _next_message_id(self, chat_id: int) -> int:
        raise NotImplementedError  # FakeBotAPI's

    async def _api_createInvoiceLink(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        link = _invoice_link(params)
        url = f"https://t.me/$fakeinvoice{next(self.stars.ids)}"
        self.stars.links[url] = link
        return url

    def user_opens_invoice(
        self, user: TelegramUser, url: str, *, payload: str | None = None, amount: int | None = None
    ) -> str:
        """The user taps Pay on the link's invoice: a pre_checkout_query. ``payload`` and
        ``amount`` forge what a tampered client could claim (tests of the bot's checks)."""
        link = self.stars.links[url]
        query_id = f"pcq{next(self.stars.ids)}"
        forged = InvoiceLink(
            link.payload if payload is None else payload,
            link.currency,
            link.amount if amount is None else amount,
            link.period,
        )
        self.stars.checkouts[query_id] = Checkout(user, forged, self._clock())
        self._queue(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": user.to_dict(),
                    "currency": forged.currency,
                    "total_amount": forged.amount,
                    "invoice_payload": forged.payload,
                }
            }
        )
        return query_id

    def checkout_answer(self, query_id: str) -> Checkout:
        """What the bot answered to a pre_checkout_query (``answer`` None: nothing yet)."""
        return self.stars.checkouts[query_id]

    async def _api_answerPreCheckoutQuery(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> Any:
        checkout = self.stars.checkouts.get(str(params.get("pre_checkout_query_id")))
        too_late = checkout is not None and self._clock() - checkout.asked_at > ANSWER_SECONDS
        if checkout is None or checkout.answer is not None or too_late:
            raise BadRequest(
                "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        ok = params.get("ok") in (True, "true", "True")
        if not ok and not params.get("error_message"):
            raise BadRequest("Bad Request: ERROR_MESSAGE_EMPTY")
        checkout.answer, checkout.error_message = ok, params.get("error_message")
        return True

    def _payment_message(
        self, user: TelegramUser, link: InvoiceLink, charge_id: str, *, first: bool
    ) -> None:
        now = int(self._clock())
        payment: dict[str, Any] = {
            "currency": link.currency,
            "total_amount": link.amount,
            "invoice_payload": link.payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        if link.period is not None:
            payment["subscription_expiration_date"] = now + link.period
            payment["is_recurring"] = True
            if first:
                payment["is_first_recurring"] = True
        self._queue(
            {
                "message": {
                    "message_id": self._next_message_id(user.id),
                    "date": now,
                    "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
                    "from": user.to_dict(),
                    "successful_payment": payment,
                }
            }
        )

    def pay_after_checkout(self, query_id: str, *, charge_id: str | None = None) -> str:
        """Telegram takes the Stars after an ok answer: the successful_payment message.
        ``charge_id`` repeats a charge (a replay); returns the charge id."""
        checkout = self.stars.checkouts[query_id]
        if checkout.answer is not True:
            raise ValueError("Telegram takes no payment the bot did not accept")
        charge = charge_id or f"stxfake{next(self.stars.ids):08d}"
        self.stars.charges.setdefault(charge, Charge(checkout.user.id, checkout.link))
        self._payment_message(checkout.user, checkout.link, charge, first=True)
        return charge

    def push_payment(self, user: TelegramUser, payload: str, amount: int, charge_id: str) -> None:
        """A successful_payment message as an attacker who could forge updates would send."""
        self._payment_message(
            user, InvoiceLink(payload, "XTR", amount, PERIOD), charge_id, first=True
        )

    def renew(self, charge_id: str) -> str | None:
        """30 days later: the renewal payment (None when the subscription was cancelled)."""
        first = self.stars.charges[charge_id]
        if first.cancelled or first.refunded:
            return None
        charge = f"stxfake{next(self.stars.ids):08d}"
        self.stars.charges[charge] = Charge(first.user_id, first.link)
        self._payment_message(TelegramUser(first.user_id), first.link, charge, first=False)
        return charge

    async def _api_refundStarPayment(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        charge = self.stars.charges.get(str(params.get("telegram_payment_charge_id")))
        if charge is None or charge.user_id != int(params.get("user_id", 0)):
            raise BadRequest("Bad Request: CHARGE_NOT_FOUND")
        if charge.refunded:
            raise BadRequest("Bad Request: CHARGE_ALREADY_REFUNDED")
        charge.refunded = True
        return True

    async def _api_editUserStarSubscription(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> Any:
        charge = self.stars.charges.get(str(params.get("telegram_payment_charge_id")))
        if charge is None or charge.user_id != int(params.get("user_id", 0)):
            raise BadRequest("Bad Request: CHARGE_NOT_FOUND")
        if charge.link.period is None:
            raise BadRequest("Bad Request: SUBSCRIPTION_NOT_FOUND")
        charge.cancelled = params.get("is_canceled") in (True, "true", "True")
        return True
