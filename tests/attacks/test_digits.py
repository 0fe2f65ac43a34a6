"""Digits that are not ``0-9``: a second spelling of a code, an amount or an id.

The trick: Python reads far more than ASCII as numbers. ``int("١٢٣")`` is 123,
``Decimal("１２")`` is 12, regex ``\\d`` matches both, ``"²".isdigit()`` is True and then
``int("²")`` raises. So a parser built on them either accepts the same secret typed in
another script (and the throttle counts it under another spelling) or crashes on a
superscript. Variants: the right TOTP code in Arabic-Indic, Persian, Devanagari, full-width,
mathematical and superscript digits; with zero-width or right-to-left marks inside; a backup
code in full-width letters or a dotless ı; amounts, ids and button data in look-alike digits.
Each must be a plain "wrong" (counted and audited for codes), never an exception.

The class is closed by reading every code, amount and id through ``core/digits.py``; the
first test proves no other module reads digits by itself.
"""

from __future__ import annotations

import ast
import json
import sys
import unicodedata
from pathlib import Path

import pyotp
import pytest

from bot import texts
from core.adapters.tronscan import _retry_after
from core.authz import OPERATOR
from core.backups.archive_rules import parse_name
from core.digits import is_ascii_digits, parse_code, parse_decimal, parse_id, parse_int
from core.errors import Refusal
from core.money import to_micro
from core.services import Services
from core.twofactor.service import normalise_backup_code
from core.withdrawals.rules import parse_amount
from tests.support.harness import BotHarness
from tests.support.throttle_steps import (
    VICTIM_EMAIL,
    VICTIM_PASSWORD,
    VICTIM_TELEGRAM_ID,
    enrol_2fa,
    log_in,
    register_victim,
    rows,
)

ROOT = Path(__file__).resolve().parents[2]
# Operator configuration (TOML/env, not user input) and the fake Telegram server are exempt.
_FAKE_MODULES = ("api", "delivery", "html", "pins", "records", "request")
FAKE_TELEGRAM = {f"bot/fake_telegram/{name}.py" for name in _FAKE_MODULES}
EXEMPT = {"core/digits.py", "core/config.py", "core/config_parsers.py", *FAKE_TELEGRAM}
_TEXT_METHODS = {"strip", "lstrip", "rstrip", "replace", "removeprefix", "removesuffix", "lower"}
_TEXT_METHODS |= {"upper", "group", "split", "partition", "join", "casefold", "translate"}

# Every digit Python would read that is not 0-9 (Nd, No with a digit value: ², ①, ...).
LOOKALIKE_DIGITS = [
    ch
    for ch in map(chr, range(sys.maxunicode + 1))
    if not "0" <= ch <= "9"
    and unicodedata.category(ch) != "Cs"
    and (unicodedata.digit(ch, None) is not None or ch.isdigit() or ch.isdecimal())
]
SCRIPTS = {
    "arabic-indic": 0x0660,
    "persian": 0x06F0,
    "devanagari": 0x0966,
    "bengali": 0x09E6,
    "thai": 0x0E50,
    "full-width": 0xFF10,
    "math bold": 0x1D7CE,
}
SUPERSCRIPT = "⁰¹²³⁴⁵⁶⁷⁸⁹"


def in_script(code: str, script: str) -> str:
    if script == "superscript":
        return "".join(SUPERSCRIPT[int(d)] for d in code)
    return "".join(chr(SCRIPTS[script] + int(d)) for d in code)


def _python_files() -> list[Path]:
    return sorted(p for top in ("core", "bot", "storage") for p in (ROOT / top).rglob("*.py"))


def _docstring_nodes(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _reads_digits_itself(node: ast.AST) -> bool:
    """``int(x[1])``, ``Decimal(s.strip())``, ``float("…")``: a number read from text."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
        return False
    if node.func.id not in {"int", "float", "Decimal"}:
        return False
    arg = node.args[0]
    if isinstance(arg, ast.Subscript):
        return True
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return True
    return (
        isinstance(arg, ast.Call)
        and isinstance(arg.func, ast.Attribute)
        and arg.func.attr in _TEXT_METHODS
    )


def test_no_module_reads_digits_on_its_own() -> None:
    """No ``\\d`` regex, no ``isdigit``/``isdecimal``/``isnumeric``, and no ``int()``/
    ``Decimal()``/``float()`` of text in core/ or bot/ outside core/digits.py (timestamps and
    arithmetic are numbers already and are not flagged)."""
    problems = []
    for path in _python_files():
        name = path.relative_to(ROOT).as_posix()
        if name in EXEMPT:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstring_nodes(tree)
        for node in ast.walk(tree):
            where = f"{name}:{getattr(node, 'lineno', '?')}"
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "\\d" in node.value
                and id(node) not in docstrings
            ):
                problems.append(f"{where}: \\d in a pattern (use [0-9])")
            if isinstance(node, ast.Attribute) and node.attr in {
                "isdigit",
                "isdecimal",
                "isnumeric",
            }:
                problems.append(f"{where}: .{node.attr}() (use core.digits)")
            # storage/ turns SQLite columns (numbers already) into ints: int(row[0]) is fine.
            if not name.startswith("storage/") and _reads_digits_itself(node):
                problems.append(f"{where}: number parsed from text (use core.digits)")
    assert problems == []


def test_the_checker_would_see_each_forbidden_shape() -> None:
    """The static test is only as good as its patterns: each one catches its example."""
    samples = ["int(match[2])", "Decimal(text.strip())", 'float("1")', "int(raw.group(1))"]
    for sample in samples:
        (statement,) = ast.parse(sample).body
        assert isinstance(statement, ast.Expr) and _reads_digits_itself(statement.value), sample


def test_every_lookalike_digit_is_refused_by_every_parser() -> None:
    """All of Unicode's other digits (about 800), alone and inside otherwise good input."""
    assert len(LOOKALIKE_DIGITS) > 600
    for ch in LOOKALIKE_DIGITS:
        assert not is_ascii_digits(ch)
        assert parse_int(ch) is None and parse_int(f"1{ch}") is None
        assert parse_id(f"#{ch}") is None and parse_id(f"12{ch}") is None
        assert parse_code(f"12345{ch}", 6) is None
        assert parse_decimal(f"1.{ch}", max_whole_digits=12) is None
        assert parse_decimal(f"{ch}.5", max_whole_digits=12) is None


@pytest.mark.parametrize(
    "text",
    [
        "١٢",
        "１２",
        "12.５",
        "²",
        "1e3",
        "NaN",
        "Infinity",
        "-5",
        "+5",
        "5 000",
        "٫5",
        "1,2.3",
        "12\u200b",
        "\u200f12",
        "1\u03012",
        "",
        ".",
        "9" * 13,
        "0x10",
    ],
)
def test_amounts_in_anything_but_ascii_are_refused_politely(text: str) -> None:
    """/withdraw amounts: a reason, never an exception or another number."""
    with pytest.raises(Refusal):
        parse_amount(text)


def test_money_text_is_ascii_and_exact() -> None:
    """to_micro reads text by the same rules and never rounds away a stray decimal."""
    for text in ("١٢", "１２", "1e3", "NaN"):
        with pytest.raises(ValueError):
            to_micro(text)
    with pytest.raises(ValueError, match="6 decimals"):
        to_micro("1." + "0" * 27 + "1")  # beyond Decimal's 28 digits of precision
    assert to_micro("12.50") == 12_500_000 and to_micro("0.000001") == 1


def test_backup_codes_are_ascii_before_case_folding() -> None:
    """``ı``.upper() is I (read as 1), ``ß``.upper() is SS, full-width letters fold too."""
    assert normalise_backup_code("abcde-fgh11") == "ABCDEFGH11"
    for text in (
        "abcde-fghı1",
        "ABCDE-FGHJK".translate({c: c + 0xFEE0 for c in range(65, 91)}),
        "abcde-fgh1ß",
        "ABCDE\u200bFGHJK",
        "ABCDE-FGH1١",
    ):
        assert normalise_backup_code(text) is None, text


def test_backup_names_and_retry_after_in_lookalike_digits() -> None:
    """A restore name in Arabic-Indic digits is not a name; ``Retry-After: ²`` is no number
    (it used to pass isdigit() and then crash float())."""
    with pytest.raises(Refusal):
        parse_name("verzek-٢٠٢٦٠١٠١T٠٢٠٠٠٠Z.tar.gz")
    with pytest.raises(Refusal):
        parse_name("verzek-20260101T020000Z-١.tar.gz")
    assert _retry_after({"retry-after": "²"}) is None
    assert _retry_after({"retry-after": "٣٠"}) is None
    assert _retry_after({"retry-after": "30"}) == 30.0


async def test_audit_targets_read_ids_once(services: Services) -> None:
    """``/audit tg:#12`` passed the id check and then crashed int("#12"); ``tg:١٢`` is no id
    at all (so it is read as an email, and refused as one)."""
    assert (await services.activity.resolve_target(OPERATOR, "tg:#12")).id == 12
    assert (await services.activity.resolve_target(OPERATOR, " 42 ")).id == 42
    for text in ("tg:١٢", "١٢", "tg:12\u200b"):
        with pytest.raises(Refusal):
            await services.activity.resolve_target(OPERATOR, text)


# --- through the bot -------------------------------------------------------------------------


async def reach_code_step(bot: BotHarness, services: Services, clock) -> tuple[pyotp.TOTP, int]:
    """The victim has 2FA; an attacker with the password reaches the login code step."""
    account_id, _ = await register_victim(services)
    session = await log_in(services, VICTIM_TELEGRAM_ID)
    totp = await enrol_2fa(services, session, clock)
    attacker = bot.user(5100)
    await bot.send(attacker, "/login")
    await bot.send(attacker, VICTIM_EMAIL)
    (ask,) = await bot.send(attacker, VICTIM_PASSWORD)
    assert "Two-factor" in ask.plain
    return totp, account_id


@pytest.mark.parametrize(
    "variant", [*SCRIPTS, "superscript", "zero-width", "rtl-mark", "combining"]
)
async def test_the_right_code_in_other_digits_is_a_wrong_code(
    bot: BotHarness, clock, variant: str
) -> None:
    """The current TOTP code, spelled otherwise: refused, counted, audited, no session."""
    totp, account_id = await reach_code_step(bot, bot.services, clock)
    code = totp.at(clock.now())
    typed = {
        "zero-width": code[:3] + "\u200b" + code[3:],
        "rtl-mark": "\u200f" + code,
        "combining": code[:5] + "\u0301" + code[5:],
    }.get(variant) or in_script(code, variant)
    attacker = bot.user(5100)
    (reply,) = await bot.send(attacker, typed)
    assert "That code didn't work" in reply.plain
    assert texts.INTERNAL_ERROR not in reply.plain
    path = bot.settings
    assert len(await rows(path, "SELECT * FROM mfa_failures")) == 1
    found = await rows(
        path,
        "SELECT details FROM audit_events WHERE event_type = 'MFA_FAILED'"
        " AND telegram_user_id = 5100",
    )
    assert [json.loads(details)["reason"] for (details,) in found] == ["wrong_code"]
    assert await rows(path, "SELECT * FROM audit_events WHERE event_type = 'MFA_VERIFIED'") == []
    assert await rows(path, "SELECT * FROM sessions WHERE telegram_user_id = 5100") == []
    assert account_id == 1


async def test_five_lookalike_codes_use_up_the_throttle(bot: BotHarness, clock) -> None:
    """Spellings are not free extra guesses: five of them block code entry like any five."""
    totp, _ = await reach_code_step(bot, bot.services, clock)
    attacker = bot.user(5100)
    code = totp.at(clock.now())
    for script in list(SCRIPTS)[:4]:
        (reply,) = await bot.send(attacker, in_script(code, script))
        assert "That code didn't work" in reply.plain
    (last,) = await bot.send(attacker, in_script(code, "full-width"))
    (blocked,) = await bot.send(attacker, "/login")  # the flow ended on the 5th; start again
    await bot.send(attacker, VICTIM_EMAIL)
    await bot.send(attacker, VICTIM_PASSWORD)
    (paused,) = await bot.send(attacker, code)  # the real code, ASCII, now refused
    assert "code entry is paused" in paused.plain
    assert "That code didn't work" in last.plain or "paused" in last.plain
    assert blocked.plain


async def test_lookalike_ids_in_commands_and_buttons(bot: BotHarness, clock) -> None:
    """``/apikey_delete ١``, ``/pay ١ …``, forged ``act:o:١٢`` button data: a usage hint or
    "no longer active", nothing logged as an error, nothing written."""
    services = bot.services
    await register_victim(services)
    await log_in(services, VICTIM_TELEGRAM_ID)
    owner = bot.user(VICTIM_TELEGRAM_ID)
    (usage,) = await bot.send(owner, "/apikey_delete ١")
    assert texts.INTERNAL_ERROR not in usage.plain and usage.plain
    (pay,) = await bot.send(owner, "/pay ١٢ " + "a" * 64)
    assert texts.INTERNAL_ERROR not in pay.plain and pay.plain
    (page,) = await bot.send(owner, "/activity")
    await bot.press_data(owner, page, "act:o:١٢")
    assert bot.api.callback_answers[-1]["text"] == texts.STALE_BUTTON
    await bot.press_data(owner, page, "act:o:12\n")
    assert bot.api.callback_answers[-1]["text"] == texts.STALE_BUTTON
    path = bot.settings
    assert await rows(path, "SELECT * FROM invoices") == []
    assert await rows(path, "SELECT * FROM payments") == []


async def test_a_lookalike_withdrawal_amount_is_refused_before_the_code(
    bot: BotHarness, clock
) -> None:
    """``/withdraw ١٠٠ ADDRESS``: the amount is not a number; no code is asked, no row."""
    services = bot.services
    _, _ = await register_victim(services)
    session = await log_in(services, VICTIM_TELEGRAM_ID)
    await enrol_2fa(services, session, clock)
    owner = bot.user(VICTIM_TELEGRAM_ID)
    for amount in ("١٠٠", "１００", "1e2", "²"):
        (reply,) = await bot.send(owner, f"/withdraw {amount} TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE")
        assert "isn't a number" in reply.plain, reply.plain
    assert await rows(bot.settings, "SELECT * FROM withdrawals") == []
