"""One composition root: bot/bootstrap.py alone wires core services and opens the database.

The bot, ``verzek shell``, every CLI command and the benchmarks get their services from
:func:`bot.bootstrap.bootstrap` or its stopped-bot variant :func:`bot.bootstrap.operations`,
so an audit event a command appends passes the same detector and owner notifier as the bot's.
"""

from __future__ import annotations

import ast
from pathlib import Path

from bot.bootstrap import operations
from core.audit.log import AuditEvent, EventType, Severity
from core.config import Settings
from core.services import Services

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = ROOT / "bot" / "bootstrap.py"
# Wired only by the root: the database, the audit log (its detector and notifier ride on it)
# and every service a handler or command calls (a class named ...Service, or held by Services).
ROOT_ONLY = {"Database", "AuditLog", "OwnerNotifier", "WalletLedger", "SuspicionReporter"}


def _constructed_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def _root_only(name: str) -> bool:
    return name in ROOT_ONLY or (name.endswith("Service") and name[0].isupper())


def test_only_the_composition_root_constructs_services_or_opens_the_database() -> None:
    offenders = []
    for folder in ("bot", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == COMPOSITION_ROOT:
                continue
            tree = ast.parse(path.read_text())
            for name in sorted(_constructed_names(tree)):
                if _root_only(name):
                    offenders.append(f"{path.relative_to(ROOT)} builds {name}")
    assert offenders == []


def test_the_rule_sees_what_it_forbids() -> None:
    # Not a test that cannot fail: the check finds hand wiring where there is some.
    tree = ast.parse(COMPOSITION_ROOT.read_text())
    found = {name for name in _constructed_names(tree) if _root_only(name)}
    assert {"Database", "AuditLog", "OwnerNotifier", "BackupService", "SessionService"} <= found


def _denied_admin_command(user_id: int) -> AuditEvent:
    return AuditEvent(
        EventType.ADMIN_ACTION,
        Severity.WARNING,
        telegram_user_id=user_id,
        details={"action": "/stats", "outcome": "denied", "reason": "not an admin"},
    )


async def test_an_event_a_command_appends_raises_the_alert_the_bots_would(
    settings: Settings, services: Services
) -> None:
    # The bot's log, then the log a stopped-bot command (`verzek backup …`) writes with.
    await services.audit.record(_denied_admin_command(4242))
    command = operations(settings)
    await command.database.open()
    try:
        await command.audit.record(_denied_admin_command(5151))
        async with command.database.unit_of_work(read_only=True) as uow:
            alerts = await uow.alerts.recent(10)
        suspicious = [
            row
            async for row in command.audit.export()
            if row.event_type == EventType.SUSPICIOUS_ACTIVITY
        ]
        chain = await command.audit.verify()
    finally:
        await command.database.close()
    subjects = sorted((alert.rule, alert.subject) for alert in alerts)
    assert subjects == [
        ("admin_command_denied", "telegram:4242"),
        ("admin_command_denied", "telegram:5151"),
    ]
    assert len(suspicious) == 2  # each alert is audited too, in the one hash chain
    assert chain.ok
