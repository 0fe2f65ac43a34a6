"""The command catalogue (menus, /help, admin-only) and the one reading of a message's command.

:func:`command_of` is the only place that decides which command a message carries. It reads the
``bot_command`` entity at offset 0 exactly as PTB's ``CommandHandler`` routes on it, so the gate,
the rate limiter and the handlers can never disagree (SPEC §10): ``/approve. 5`` is ``approve``,
because Telegram ends the entity at the dot, whatever the text looks like after it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.ext import CallbackQueryHandler, filters

from core.authz import Actor


@dataclass(frozen=True)
class Command:
    name: str
    description: str


# Commands that exist today, in menu order. Features add their lines as they land.
USER_COMMANDS: list[Command] = [
    Command("start", "Welcome and next step"),
    Command("help", "What I can do"),
    Command("id", "Your Telegram user id and this chat's id"),
    Command("register", "Create an account"),
    Command("login", "Log in"),
    Command("me", "Your account and session"),
    Command("password", "Change your password"),
    Command("email", "Change your email"),
    Command("2fa", "Two-factor authentication status"),
    Command("2fa_enroll", "Turn on two-factor authentication"),
    Command("2fa_disable", "Turn off two-factor authentication"),
    Command("backup_codes", "New backup codes"),
    Command("apikeys", "Your exchange API keys"),
    Command("apikey_add", "Add or replace an exchange API key"),
    Command("apikey_delete", "Delete an exchange API key: /apikey_delete ID"),
    Command("activity", "Your recent account activity"),
    Command("plans", "Subscription plans and prices"),
    Command("subscribe", "Buy a plan: pay in USDT (TRC20) or Telegram Stars"),
    Command("pay", "Report a payment: /pay INVOICE_ID TX_HASH"),
    Command("payments", "Your invoices and payments"),
    Command("subscription", "Your Telegram Stars subscription: cancel or re-enable renewal"),
    Command("wallet", "Your balance and referral earnings"),
    Command("withdraw", "Withdraw USDT (2FA code): /withdraw AMOUNT ADDRESS"),
    Command("referral", "Your referral code and earnings"),
    Command("sessions", "Your live sessions; end any of them"),
    Command("security", "Security check-up, with a button for each fix"),
    Command("settings", "Which notices you receive"),
    Command("paysupport", "Help with a payment; write to the operator"),
    Command("terms", "Terms of service"),
    Command("privacy", "What is stored about you, how long, how to delete it"),
    Command("logout", "Log out"),
    Command("delete_account", "Delete your account (password and 2FA code)"),
    Command("cancel", "Stop what you are doing"),
]
ADMIN_COMMANDS: list[Command] = [
    Command("stats", "Users, active licenses, pending payments, alerts today"),
    Command("pending", "Payments waiting for confirmation"),
    Command("verify", "Check a payment on chain now: /verify ID"),
    Command("approve", "Approve a payment by hand (2FA code): /approve ID"),
    Command("reject", "Reject a payment: /reject ID REASON"),
    Command("credit", "Credit a partial or reviewed payment to the wallet (2FA code): /credit ID"),
    Command("refund", "Refund a Telegram Stars payment (2FA code): /refund ID"),
    Command("withdrawals", "Withdrawals waiting to be sent"),
    Command("complete_withdrawal", "Record a sent withdrawal: /complete_withdrawal ID TX_HASH"),
    Command("reject_withdrawal", "Refuse a withdrawal: /reject_withdrawal ID REASON"),
    Command("alerts", "Recent security alerts"),
    Command("suspicious", "Suspicious activity of the last 24 hours"),
    Command("audit", "An account's events: /audit EMAIL_OR_ID"),
    Command("killswitch", "Halt API-key changes and withdrawals: on|off REASON"),
    Command("backup", "Back up the database now"),
    Command("backups", "Backups: time, size, rows, verified"),
    Command("restore", "Restore a backup: /restore NAME"),
]

# Every admin command of the product, implemented or not: refused for non-admins before any
# handler runs (deny by default, so a missing check can never expose one).
ADMIN_ONLY: frozenset[str] = frozenset(
    {
        "pending",
        "verify",
        "approve",
        "reject",
        "credit",
        "refund",
        "refund_confirm",
        "backup",
        "backups",
        "restore",
        "alerts",
        "suspicious",
        "audit",
        "withdrawals",
        "complete_withdrawal",
        "reject_withdrawal",
        "killswitch",
        "stats",
    }
)
# Callback data of admin buttons starts with this prefix; refused for non-admins.
ADMIN_CALLBACK_PREFIX = "adm:"


def command_of(message: Message | None, bot_username: str) -> str | None:
    """The command a message carries for this bot, lowercased, or None.

    Exactly PTB's ``CommandHandler`` rule: the message's first entity is a ``bot_command`` at
    offset 0 of the *text* (captions never route to a CommandHandler); the command is the
    entity's text after the ``/``, split at ``@``; an ``@name`` other than this bot's (compared
    case-insensitively) means the command is addressed to another bot and is not ours.
    Telegram ends the entity at the first character outside ``[A-Za-z0-9_]`` (tdlib), so
    whatever follows (``.``, ``,``, a zero-width space) is not part of the command.
    """
    if message is None:
        return None
    return _leading_command(message.text, message.entities, bot_username)


def caption_command_of(message: Message | None, bot_username: str) -> str | None:
    """The command at the start of a caption, by the same rule. No handler runs it; the gate
    still refuses an admin one to a non-admin, so a future caption handler cannot open one."""
    if message is None:
        return None
    return _leading_command(message.caption, message.caption_entities, bot_username)


def _leading_command(
    text: str | None, entities: Sequence[MessageEntity], bot_username: str
) -> str | None:
    if not text or not entities:
        return None
    first = entities[0]
    if first.type != MessageEntity.BOT_COMMAND or first.offset != 0:
        return None
    # The same slice PTB takes; a command entity is ASCII, so UTF-16 and str lengths agree.
    parts = text[1 : first.length].split("@")
    addressee = parts[1] if len(parts) > 1 else bot_username
    if addressee.lower() != bot_username.lower():
        return None
    return parts[0].lower()


def sender(update: Update) -> Actor:
    """The core actor for the update's sender (the gate lets no update without one through).

    Handlers only ever build Telegram actors: core decides from the id whether it is an admin.
    """
    user = update.effective_user
    if user is None:
        raise RuntimeError("update without a sender")
    return Actor.telegram(user.id)


class AdminOnly:
    """What every admin handler carries of its own, behind the gate (defence in depth).

    ``filter`` passes only messages from ``telegram.admins`` (nobody when the list is empty);
    :meth:`button` makes a CallbackQueryHandler that ignores presses by anyone else
    (CallbackQueryHandler takes no filters, and a button's message is the bot's own).
    """

    def __init__(self, admins: Collection[int]) -> None:
        self.ids: frozenset[int] = frozenset(admins)
        self.filter: filters.BaseFilter = filters.User(user_id=sorted(self.ids))

    def button(
        self,
        callback: Callable[[Update, Any], Coroutine[Any, Any, object]],
        pattern: str,
    ) -> CallbackQueryHandler[Any, Any]:
        """A handler for admin buttons matching ``pattern``, pressed by an admin."""
        return _AdminButtonHandler(self.ids, callback, pattern=pattern)


class _AdminButtonHandler(CallbackQueryHandler[Any, Any]):
    def __init__(
        self,
        admins: frozenset[int],
        callback: Callable[[Update, Any], Coroutine[Any, Any, object]],
        *,
        pattern: str,
    ) -> None:
        super().__init__(callback, pattern=pattern)
        self._admins = admins

    def check_update(self, update: object) -> bool | object | None:
        if not isinstance(update, Update) or update.effective_user is None:
            return None
        if update.effective_user.id not in self._admins:
            return None
        return super().check_update(update)
