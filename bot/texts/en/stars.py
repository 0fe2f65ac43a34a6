"""Texts of Telegram Stars payments (bot/handlers/stars.py, core/payments/stars.py)."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.payments.stars_rules import (
    PreCheckoutProblem,
    StarsAlreadyRefunded,
    StarsNoSubscription,
    StarsNotSold,
    StarsPaymentNotFound,
    StarsRefundFailed,
)

STARS_SUBSCRIBE_PICK = "Or pay with Telegram Stars (renews every 30 days until you cancel it):"
STARS_ONLY_PICK = (
    "USDT payments are not set up yet. Pay with Telegram Stars "
    "(renews every 30 days until you cancel it):"
)
STARS_PLANS_HEADER = "<b>Or in Telegram Stars</b>, renewed every 30 days until you cancel"
STARS_PLANS_LINE = "• <b>{name}</b>: {price} ⭐ every 30 days ({tier} tier)"
STARS_PLANS_USDT_OFF = (
    "USDT payments are not set up yet; subscribe with Telegram Stars through /subscribe."
)
STARS_PLAN_BUTTON = "⭐ Pay with Stars: {name}, {price} ⭐ / 30 days"
STARS_INVOICE_TITLE = "Verzek Guard {name}"
STARS_INVOICE_DESCRIPTION = (
    "The {name} plan ({tier}) for 30 days, renewed monthly until you cancel."
)
STARS_LINK = (
    "⭐ <b>{name}</b>: {price} Stars every 30 days. Tap the button to pay in Telegram; "
    "cancel the renewal any time with /subscription."
)
STARS_PAY_BUTTON = "Pay {price} ⭐"
STARS_LINK_FAILED = "Telegram could not make the payment link just now. Please try again."
STARS_CHECKOUT_PROBLEMS = {
    PreCheckoutProblem.BAD_PAYLOAD: "This invoice is not valid. Use /subscribe for a new one.",
    PreCheckoutProblem.NOT_OPEN: "This invoice was paid or closed already. Use /subscribe.",
    PreCheckoutProblem.NOT_YOURS: "This invoice belongs to someone else. Use /subscribe.",
    PreCheckoutProblem.NO_SESSION: "Please /login to the account this invoice is for, then pay.",
    PreCheckoutProblem.PRICE: "The price changed. Use /subscribe for a new invoice.",
    PreCheckoutProblem.CLOSED_ACCOUNT: "This account was deleted, so it cannot be paid for.",
}
STARS_PAID = (
    "✅ Stars payment #{id} received: <b>{plan}</b> from {starts} to {ends} UTC. "
    "See /subscription to manage the renewal."
)
STARS_RENEWED = (
    "✅ Your <b>{plan}</b> subscription renewed with Stars (payment #{id}): until {ends} UTC."
)
STARS_NOT_GRANTED = (
    "⚠️ Telegram reported a Stars payment I could not match to an open invoice of yours, so it "
    "granted nothing. The admins were told; use /paysupport for a refund."
)
STARS_SUBSCRIPTION_NONE = "You have no Telegram Stars subscription. /subscribe starts one."
STARS_SUBSCRIPTION = (
    "⭐ <b>Stars subscription</b>: payment #{id}, {amount} Stars every 30 days.\n"
    "Next renewal: {renews}."
)
STARS_RENEWS_ON = "{date} UTC"
STARS_RENEWAL_OFF = "cancelled (the license runs until the end of the paid period)"
STARS_CANCEL_BUTTON = "Cancel renewal"
STARS_RESUME_BUTTON = "Re-enable renewal"
STARS_RENEWAL_CANCELLED = "Renewal cancelled: nothing more will be charged."
STARS_RENEWAL_RESUMED = "Renewal re-enabled: it renews every 30 days again."
STARS_RENEWAL_FAILED = "Telegram did not accept the change just now. Please try again."
STARS_REFUND_USAGE = "Usage: /refund PAYMENT_ID (a Telegram Stars payment)."
STARS_REFUND_CONFIRM = (
    "Refund Stars payment #{id}? {amount} ⭐ from Telegram user {user} ({status}), "
    "paid {paid} UTC. Its license ends now (or never starts)."
)
STARS_REFUND_BUTTON = "Refund #{id}"
STARS_REFUND_ASK_CODE = "Send your current 2FA code to refund Stars payment #{id}."
STARS_REFUNDED = "✅ Stars payment #{id} refunded: {amount} ⭐ back to the payer. {license}"
STARS_REFUND_CLAWBACK = (
    "{amount} USDT referral commission taken back from account #{account} "
    "(its balance may go below zero: that is what it owes)."
)
STARS_REFUND_CLAWBACK_UNTRUSTED = (
    "Its referral commission entry failed its checks, so nothing was taken back; "
    "the admins were alerted."
)
STARS_REFUNDED_LICENSE = "Its license now ends {ends} UTC."
STARS_REFUNDED_NO_LICENSE = "It had no license."
STARS_REFUNDED_USER = (
    "↩️ Your Telegram Stars payment #{id} ({amount} ⭐) was refunded by the operator; the "
    "license it bought has ended."
)
STARS_REFUND_RESTART = "Start again with /refund PAYMENT_ID."

STARS_REFUSALS: Refusals = {
    StarsNotSold: "This plan is not sold for Telegram Stars.",
    StarsPaymentNotFound: "There is no Telegram Stars payment #{payment_id}.",
    StarsAlreadyRefunded: "Stars payment #{payment_id} was refunded already.",
    StarsRefundFailed: "Telegram refused to refund Stars payment #{payment_id}; nothing changed.",
    StarsNoSubscription: "You have no Telegram Stars subscription to change.",
}
