"""The shape of a refusal's words: a ``str.format`` template over the reason's fields, or a
function of the reason when the words need more than substitution (plurals, dates, money)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import Reason

Template = str | Callable[[Any], str]
Refusals = dict[type[Reason], Template]
