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
    Command("register", "Create an account"),
    Command("login", "Log in"),
    Command("me", "Your account and session"),
    Command("password", "Change your password"),
    Command("email", "Change your email"),
    Command("logout", "Log out"),
    Command("cancel", "Stop what you are doing"),
]
ADMIN_COMMANDS: list[Command] = []

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
