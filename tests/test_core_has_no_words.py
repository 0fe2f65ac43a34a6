"""Core speaks in reasons; only bot/ writes what a user reads (issue 16).

Scans every string literal of core/ (f-strings included, docstrings and comments not) for the
three things that belong to the bot: Telegram HTML, the names of the bot's commands, and
sentences of user copy. A refusal in core is a :class:`core.errors.Reason`; its words live in
bot/texts/.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from bot.commands import ADMIN_COMMANDS, USER_COMMANDS

CORE = Path(__file__).resolve().parent.parent / "core"

HTML_TAG = re.compile(r"</?(b|i|u|s|code|pre|a|tg-spoiler|blockquote)(\s[^>]*)?>")
COMMAND_NAMES = sorted({c.name for c in USER_COMMANDS + ADMIN_COMMANDS}, key=len, reverse=True)
BOT_COMMAND = re.compile(r"(?<![\w/.:])/(" + "|".join(map(re.escape, COMMAND_NAMES)) + r")\b")
# User copy: a capitalised run of at least four words ending a sentence ("Please try again.").
SENTENCE = re.compile(r"(^|[.!?]\s)[A-Z][a-z']*(\s+\S+){3,}?[.!?](\s|$)")

# Operator diagnostics (ConfigError lines, BackupFailed problems, log messages) stay words on
# purpose (core/errors.py says why); they are lower-case fragments, which this scan lets pass.
# Identifiers that look like commands but are data: the admin operation names core checks
# and records in the audit trail (changing them would change stored audit details).
AUDITED_OPERATIONS = {"/audit"}


def _literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    in_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                in_fstring.add(id(value))
                parts.append(value.value if isinstance(value, ast.Constant) else "{}")
            yield node.lineno, "".join(str(p) for p in parts)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and id(node) not in in_fstring
        ):
            yield node.lineno, node.value


def _problems(text: str) -> list[str]:
    found = []
    if HTML_TAG.search(text):
        found.append("HTML")
    commands = set(BOT_COMMAND.findall(text)) - {c.lstrip("/") for c in AUDITED_OPERATIONS}
    if commands and text not in AUDITED_OPERATIONS:
        found.append("command " + ", ".join(f"/{c}" for c in sorted(commands)))
    if SENTENCE.search(text):
        found.append("user copy")
    return found


def core_words() -> list[str]:
    """Every offending literal in core/, as ``file:line: kinds: text``."""
    offences = []
    for path in sorted(CORE.rglob("*.py")):
        relative = path.relative_to(CORE.parent).as_posix()
        for line, text in _literals(ast.parse(path.read_text(encoding="utf-8"))):
            problems = _problems(text)
            if problems:
                offences.append(f"{relative}:{line}: {', '.join(problems)}: {text[:80]!r}")
    return sorted(set(offences))


def test_core_writes_no_html_no_command_names_and_no_user_copy() -> None:
    offences = core_words()
    assert not offences, "words for users belong in bot/texts:\n" + "\n".join(offences)


def test_the_scan_catches_each_kind_of_leak() -> None:
    # The detector itself must see what it is there to see (else the test above is empty).
    assert _problems("paused until <b>{}</b>") == ["HTML"]
    assert _problems("see /2fa_enroll") == ["command /2fa_enroll"]
    assert _problems("That code didn't work. Please send the code again.") == ["user copy"]
    assert _problems("/api/transaction-info") == []
    assert _problems("cannot read the archive: {}") == []
    assert _problems("/audit") == []
