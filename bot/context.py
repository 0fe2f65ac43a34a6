"""Typed context: services live in a typed ``bot_data`` instead of a raw dict."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from core.payments.licenses import Presence
from core.services import Services


class BotData:
    """Application-wide state: the core services, attached at start-up."""

    def __init__(self) -> None:
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("services are not attached yet")
        return self._services

    @property
    def attached(self) -> Services | None:
        """The services, or None before start-up attached them (jobs may tick first)."""
        return self._services

    def attach(self, services: Services) -> None:
        self._services = services


Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]


class UpdateContext(Context):
    """The context PTB makes (once per update: every handler group of that update shares
    it), plus what the gate read about the sender for this update alone
    (:mod:`bot.presence`). Jobs get a fresh one each run, so nothing read here outlives
    its update."""

    presence: Presence | None = None


CONTEXT_TYPES: ContextTypes[Context, dict[Any, Any], dict[Any, Any], BotData] = ContextTypes(
    context=UpdateContext, bot_data=BotData
)
# The Application as every register() receives it; bot_data is the typed BotData above.
VerzekApplication = Application[Any, Any, Any, Any, BotData, Any]
