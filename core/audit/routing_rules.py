"""How each kind of admin-chat message is delivered (SPEC §11): loud, silent or off, and in
which forum topic. Pure rules: no I/O.

Every alert rule (:class:`core.audit.detection.Rule` and the features' own rule ids) and
every routine admin notice has a category and a default. Critical alerts are loud by default,
routine notices (a payment approved, a backup done) silent. The config may change a rule's
mode (``alerts.routing.<rule> = "loud" | "silent" | "off"``; ``silent`` is Telegram's
``disable_notification``, ``off`` keeps the alert in /alerts but sends nothing) and give a
category a forum topic (``alerts.topics.<category> = <message_thread_id>``). A rule the table
does not know is refused at start-up, with the known ones listed; an alert of a rule added
later without a row here is delivered loud, in the security topic (never dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    """How a message reaches the admin chat."""

    LOUD = "loud"
    SILENT = "silent"  # delivered with disable_notification
    OFF = "off"  # not sent (alerts stay in the outbox's history, /alerts shows them)


class Category(StrEnum):
    """Forum topics an admin chat may give each kind of message."""

    SECURITY = "security"
    PAYMENTS = "payments"
    BACKUPS = "backups"
    OPS = "ops"


@dataclass(frozen=True)
class RuleRoute:
    """A rule's category, its default mode, and whether it may be turned off (not what must
    reach a person: a replayed code, a broken signature, a failed backup)."""

    category: Category
    default: Mode = Mode.LOUD
    may_be_off: bool = True


# Routine admin notices (not alerts): the bot sends them straight to the admin chat.
PAYMENT_APPROVED = "payment_approved"
BACKUP_DONE = "backup_done"
BACKUP_FAILED = "backup_failed"
RESTORE_DONE = "restore_done"
OFFSITE_COPY = "offsite_copy"  # the nightly archive as a document (backups.offsite = "telegram")
DRILL_PASSED = "drill_passed"  # a restore drill that passed (a failed one is BACKUP_FAILED)

_SEC, _PAY, _BAK, _OPS = Category.SECURITY, Category.PAYMENTS, Category.BACKUPS, Category.OPS
RULES: Mapping[str, RuleRoute] = {
    # core/audit/detection.py (Rule)
    "failed_logins": RuleRoute(_SEC),
    "failed_2fa": RuleRoute(_SEC),
    "totp_replay": RuleRoute(_SEC, may_be_off=False),
    "api_key_changes": RuleRoute(_SEC),
    "large_withdrawal": RuleRoute(_PAY),
    "new_telegram_account": RuleRoute(_SEC),
    "admin_command_denied": RuleRoute(_SEC),
    # the features' own rules
    "signature_invalid": RuleRoute(_SEC, may_be_off=False),  # core/audit/suspicion.py
    "payment_hash_reuse": RuleRoute(_PAY),  # core/payments/rules.py
    "payment_wrong_token": RuleRoute(_PAY),
    "payment_failed_verifications": RuleRoute(_PAY),
    "payment_unexpected_answer": RuleRoute(_PAY),
    "payment_needs_review": RuleRoute(_PAY, may_be_off=False),  # money waits for an admin
    "payment_hash_disputed": RuleRoute(_PAY, may_be_off=False),
    "payment_unmatched_transfers": RuleRoute(_PAY),  # core/payments/watch_rules.py
    "invoice_slots_exhausted": RuleRoute(_OPS),  # core/payments/invoices.py
    "wallet_ledger_mismatch": RuleRoute(_PAY, may_be_off=False),  # core/withdrawals/rules.py
    "killswitch": RuleRoute(_OPS),  # core/safety/service.py
    "support_request": RuleRoute(_PAY),  # core/audit/support.py
    "stars_payment_refused": RuleRoute(_PAY, may_be_off=False),  # core/payments/stars_rules.py
    # routine notices and backup outcomes (bot/handlers/backups.py, bot/jobs/backups.py)
    PAYMENT_APPROVED: RuleRoute(_PAY, Mode.SILENT),
    BACKUP_DONE: RuleRoute(_BAK, Mode.SILENT),
    BACKUP_FAILED: RuleRoute(_BAK, may_be_off=False),
    RESTORE_DONE: RuleRoute(_BAK),
    # routine, but never off: the copy is the point of the off-site setting
    OFFSITE_COPY: RuleRoute(_BAK, Mode.SILENT, may_be_off=False),
    DRILL_PASSED: RuleRoute(_BAK, Mode.SILENT),
}
UNKNOWN = RuleRoute(_SEC)


@dataclass(frozen=True)
class Route:
    """Where and how one message goes: ``thread_id`` None means the chat itself."""

    mode: Mode
    thread_id: int | None = None

    @property
    def silent(self) -> bool:
        return self.mode == Mode.SILENT


@dataclass(frozen=True)
class AlertRouting:
    """What the config says: ``routing`` rule → mode, ``topics`` category → thread id."""

    routing: Mapping[str, str] = field(default_factory=dict)
    topics: Mapping[str, int] = field(default_factory=dict)


def route(rule: str, routes: AlertRouting) -> Route:
    """The route of a message of ``rule`` under the configured ``routes`` (an unconfigured
    rule takes its default; one with no row here is loud, in the security topic)."""
    known = RULES.get(rule, UNKNOWN)
    return Route(Mode(routes.routing.get(rule, known.default)), routes.topics.get(known.category))


ROUTING_KEYS = ("alerts.routing.", "alerts.topics.")


def take_routing(file_values: dict[str, Any], values: dict[str, Any], where: str) -> list[str]:
    """Move a config file's ``alerts.routing.*`` and ``alerts.topics.*`` (dotted) keys out of
    ``file_values`` into ``values["alerts.routes"]`` (an :class:`AlertRouting`); return the
    problems, one line each naming the key and the fix."""
    routing: dict[str, str] = {}
    topics: dict[str, int] = {}
    problems: list[str] = []
    for dotted in [key for key in file_values if key.startswith(ROUTING_KEYS)]:
        value = file_values.pop(dotted)
        kind, _, name = dotted.removeprefix("alerts.").partition(".")
        if kind == "routing":
            if name not in RULES:
                known = ", ".join(sorted(RULES))
                problems.append(f"{where}: {dotted}: unknown rule (known rules: {known})")
            elif value not in set(Mode):
                problems.append(f'{where}: {dotted} must be "loud", "silent" or "off"')
            elif value == Mode.OFF and not RULES[name].may_be_off:
                problems.append(f'{where}: {dotted} is critical: "loud" or "silent", never "off"')
            else:
                routing[name] = str(value)
        elif name not in set(Category):
            known = ", ".join(c.value for c in Category)
            problems.append(f"{where}: {dotted}: unknown category (known: {known})")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{where}: {dotted} must be a forum topic's message_thread_id")
        else:
            topics[name] = value
    values["alerts.routes"] = AlertRouting(routing, topics)
    return problems
