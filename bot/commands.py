"""The command catalogue: what appears in menus and /help, and which commands are admin-only."""

from __future__ import annotations

from dataclasses import dataclass


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
    Command("subscribe", "Buy a plan: get an invoice to pay in USDT (TRC20)"),
    Command("pay", "Report a payment: /pay INVOICE_ID TX_HASH"),
    Command("payments", "Your invoices and payments"),
    Command("wallet", "Your balance and referral earnings"),
    Command("withdraw", "Withdraw USDT (2FA code): /withdraw AMOUNT ADDRESS"),
    Command("referral", "Your referral code and earnings"),
    Command("logout", "Log out"),
    Command("cancel", "Stop what you are doing"),
]
ADMIN_COMMANDS: list[Command] = [
    Command("stats", "Users, active licenses, pending payments, alerts today"),
    Command("pending", "Payments waiting for confirmation"),
    Command("verify", "Check a payment on chain now: /verify ID"),
    Command("approve", "Approve a payment by hand (2FA code): /approve ID"),
    Command("reject", "Reject a payment: /reject ID REASON"),
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
