"""Every reason core can refuse for has words in every catalogue, and they render.

Core refuses with :class:`core.errors.Reason` subclasses (found here by importing every core
module); bot/texts/catalogue.py maps each to a template per language. A reason without a
text would reach a user as a crash, so this fails first, naming it.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import itertools
import pkgutil
import string
import types
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

import core
from bot import texts
from bot.texts.catalogue import CATALOGUES, render
from core.errors import Reason, Refusal


def all_reasons() -> list[type[Reason]]:
    """Every Reason subclass defined anywhere in core/."""
    for module in pkgutil.walk_packages(core.__path__, "core."):
        importlib.import_module(module.name)
    found: list[type[Reason]] = []
    pending = list(Reason.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _samples(kind: Any) -> list[Any]:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return list(kind)
    if kind is bool:
        return [True, False]
    if kind is int:
        return [7]
    if kind is str:
        return ["sample"]
    if kind is datetime:
        return [datetime(2026, 1, 2, 3, 4, tzinfo=UTC)]
    if typing.get_origin(kind) is tuple:
        return [(), ("Add another word or two.", "Avoid repeated words.")]
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return [value for arg in typing.get_args(kind) for value in _samples(arg)]
    if kind is type(None):
        return [None]
    raise AssertionError(f"no sample values for a reason field of type {kind!r}")


def sample_reasons(cls: type[Reason]) -> list[Reason]:
    """``cls`` with every combination of sample parameters (each enum member, both bools)."""
    hints = typing.get_type_hints(cls)
    names = [field.name for field in dataclasses.fields(cls)]
    combinations = itertools.product(*(_samples(hints[name]) for name in names))
    return [cls(**dict(zip(names, values, strict=True))) for values in combinations]


REASONS = all_reasons()


def test_core_has_reasons_to_word() -> None:
    # Guards the discovery itself: if importing core found nothing, the checks below pass empty.
    assert len(REASONS) >= 40


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_every_core_reason_has_a_text(lang: str) -> None:
    missing = [f"{c.__module__}.{c.__qualname__}" for c in REASONS if c not in CATALOGUES[lang]]
    assert not missing, f"reasons with no text in the {lang!r} catalogue: {missing}"
    stale = [c for c in CATALOGUES[lang] if c not in REASONS]
    assert not stale, f"texts for reasons core no longer has: {stale}"


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
@pytest.mark.parametrize("cls", REASONS, ids=lambda cls: cls.__qualname__)
def test_every_reason_renders_with_its_own_parameters(lang: str, cls: type[Reason]) -> None:
    template = CATALOGUES[lang][cls]
    if isinstance(template, str):
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        fields = {field.name for field in dataclasses.fields(cls)}
        assert used <= fields, f"{cls.__qualname__}'s text names parameters it lacks: {used}"
    for reason in sample_reasons(cls):
        text = render(reason, lang)
        assert text.strip() and "{" not in text and "}" not in text, (reason, text)
        assert render(Refusal(reason), lang) == text


def test_a_refusal_reads_as_before() -> None:
    # The words moved, they did not change (handlers' tests assert the replies themselves).
    from core.accounts.refusals import PasswordLoginLocked
    from core.apikeys.refusals import ApiKeyNotFound

    assert texts.render(ApiKeyNotFound(4)) == "You have no API key with ID 4. See /apikeys."
    assert "paused for about 2 minutes" in texts.render(PasswordLoginLocked(61))
    assert "paused for about 1 minute." in texts.render(PasswordLoginLocked(1))
