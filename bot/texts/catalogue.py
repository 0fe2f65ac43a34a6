"""Refusal reasons -> words, per language: the one place a core Reason becomes a sentence."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from bot.texts.en import refusals as en_refusals
from bot.texts.template import Template
from core.errors import Reason, Refusal

Catalogue = Mapping[type[Reason], Template]

DEFAULT_LANGUAGE = "en"
CATALOGUES: Mapping[str, Catalogue] = {"en": en_refusals.REFUSALS}


def render(refusal: Reason | Refusal, lang: str = DEFAULT_LANGUAGE) -> str:
    """The words for ``refusal`` in ``lang`` (English when that language has no catalogue)."""
    reason = refusal.reason if isinstance(refusal, Refusal) else refusal
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANGUAGE])
    template = catalogue[type(reason)]
    if isinstance(template, str):
        return template.format(**parameters(reason))
    return template(reason)


def parameters(reason: Reason) -> dict[str, Any]:
    """The reason's fields by name (what a template may use)."""
    return {field.name: getattr(reason, field.name) for field in dataclasses.fields(reason)}
