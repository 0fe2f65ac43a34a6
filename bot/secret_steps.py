"""Secret steps of flows: what they ask for, how guesses count, and what happens after.

Every flow declares its secret steps when it is built (:func:`bot.flows.conversation`), and
the guards ask the flow (:class:`AsksSecrets`), never a registry: password and code answers
are judged by the auth limit and a wrong one is charged to it (:func:`charge_auth_failure`);
a text that arrives just after a secret-asking flow ended unfinished (timeout, /cancel, a
wrong answer, a restart) is deleted with a note (:func:`register_after_secret_guard`).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping
from datetime import datetime, timedelta
from enum import Enum
from html import escape
from typing import Any, Protocol, runtime_checkable

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import BaseHandler, ConversationHandler

from bot import texts
from bot.context import Context

logger = logging.getLogger(__name__)

SECRET_AFTERMATH = timedelta(minutes=3)  # texts after a secret-asking flow ended: deleted


class Secret(Enum):
    """What a step of a flow asks for, when it is something that must not stay in the chat.

    Every flow declares its secret steps when it is built (:func:`conversation`), and a test
    walks every flow of the real Application to check none is missing.
    """

    PASSWORD = "account password"  # noqa: S105  (checked: a guess for the auth limit)
    CODE = "code"  # a 2FA or backup code: a guess for the auth limit
    NEW_SECRET = "new"  # noqa: S105  (a new password, an API credential: never a guess)

    @property
    def is_guess(self) -> bool:
        """Whether a wrong answer is a guess that counts against the auth limit (SPEC §5)."""
        return self is not Secret.NEW_SECRET


@runtime_checkable
class AsksSecrets(Protocol):
    """What the gate and the guards ask a conversation about its steps (``bot.flows.Flow``
    answers from what the flow declared when it was built)."""

    @property
    def name(self) -> str | None:
        """The flow's name (its persistence key)."""
        ...

    @property
    def restart_hint(self) -> str:
        """How to start the flow again."""
        ...

    @property
    def asks_secrets(self) -> bool:
        """Whether any step asks for a password, a code or another secret."""
        ...

    def is_code_step(self, state: object) -> bool:
        """Whether an answer in ``state`` is a password or code guess (the auth limit)."""
        ...

    def secret_asked(self, update: Update) -> Secret | None:
        """What the sender of ``update`` is being asked for in this flow now, if a secret."""
        ...


def flows_of(application: Any) -> Iterator[AsksSecrets]:
    """Every conversation of ``application`` that can say which of its steps are secret."""
    for handlers in application.handlers.values():
        for handler in handlers:
            # The cheap check first: a Protocol's isinstance costs microseconds per handler.
            if isinstance(handler, ConversationHandler) and isinstance(handler, AsksSecrets):
                yield handler


def secret_asking_flow(application: Any, name: str) -> AsksSecrets | None:
    """The flow called ``name`` when it asks for a secret somewhere."""
    for flow in flows_of(application):
        if flow.name == name and flow.asks_secrets:
            return flow
    return None


def secret_asked(application: Any, update: Update) -> Secret | None:
    """The secret some flow is asking the sender of ``update`` for right now, if any."""
    for flow in flows_of(application):
        if flow.asks_secrets and (secret := flow.secret_asked(update)) is not None:
            return secret
    return None


# Set while an update is handled when its answer was charged as wrong (see Flow).
WRONG_ANSWER_CHARGED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "wrong_answer_charged", default=False
)


async def charge_auth_failure(update: Update, context: Context) -> None:
    """A wrong password, code or captcha answer: count it against the auth limit (SPEC §5)."""
    WRONG_ANSWER_CHARGED.set(True)
    user = update.effective_user
    if user is not None:
        await context.bot_data.services.ratelimit.charge_failure(user.id)


AFTERMATH_KEY = "_secret_flow_ended"  # user_data: {"flow": name, "until": ISO time}


def remember_secret_flow_ended(context: Context, flow: str) -> None:
    """A secret-asking flow just ended unfinished: for a few minutes, texts are deleted."""
    if context.user_data is not None:
        until = context.bot_data.services.clock.now() + SECRET_AFTERMATH
        context.user_data[AFTERMATH_KEY] = {"flow": flow, "until": until.isoformat()}


def secret_flow_left(user_data: Mapping[Any, Any] | None, now: datetime) -> str | None:
    """The flow whose aftermath is still running for this user, if any."""
    mark = (user_data or {}).get(AFTERMATH_KEY)
    if not isinstance(mark, dict):
        return None
    try:
        until = datetime.fromisoformat(str(mark.get("until")))
    except ValueError:
        return None
    return str(mark.get("flow", "")) if now < until else None


async def delete_quietly(message: Message) -> bool:
    """Delete a message; False (logged by error type only) when Telegram refuses."""
    try:
        await message.delete()
    except TelegramError as exc:
        logger.warning("could not delete a message: %s", type(exc).__name__)
        return False
    return True


def charging_wrong_answers(
    callback: Callable[[Update, Context], Coroutine[Any, Any, object]], state: object
) -> Callable[[Update, Context], Coroutine[Any, Any, object]]:
    """A guess step that asks again has been given a wrong answer: charge it (SPEC §5)."""

    async def step(update: Update, context: Context) -> object:
        outcome = await callback(update, context)
        if outcome == state:
            await charge_auth_failure(update, context)
        return outcome

    # Tests unwrap the step to find the handler's own callback; mypy types a function
    # without extra attributes, so setting one is reported although Python allows it.
    step.__wrapped__ = callback  # type: ignore[attr-defined]
    return step


class _AfterSecretFlow(BaseHandler[Update, Any, Any]):
    """Takes a plain private text only while a secret-asking flow's aftermath runs for its
    sender (ended by timeout, /cancel or a restart), so other texts still reach the hint."""

    def __init__(self, application: Any) -> None:
        super().__init__(self._callback)
        self._application = application

    def _flow_for(self, update: Update) -> str | None:
        user = update.effective_user
        if user is None:
            return None
        services = self._application.bot_data.services
        now = services.clock.now()
        left = secret_flow_left(self._application.user_data.get(user.id), now)
        persistence = self._application.persistence
        if left is None and persistence is not None:
            lost = persistence.lost_flows(user.id, now)
            left = next((n for n in lost if secret_asking_flow(self._application, n)), None)
        return left

    def check_update(self, update: object) -> bool:
        if not isinstance(update, Update) or update.edited_message is not None:
            return False
        message, chat = update.message, update.effective_chat
        if message is None or chat is None or chat.type != ChatType.PRIVATE:
            return False
        if not message.text or message.text.startswith("/"):
            return False
        return self._flow_for(update) is not None

    async def _callback(self, update: Update, context: Context) -> None:
        flow = secret_asking_flow(self._application, self._flow_for(update) or "")
        hint = flow.restart_hint if flow is not None else texts.SECRET_LEFT_GENERIC_HINT
        message = update.effective_message
        assert message is not None
        deleted = await delete_quietly(message)
        text = texts.SECRET_LEFT_DELETED if deleted else texts.SECRET_LEFT_NOT_DELETED
        await context.bot.send_message(message.chat_id, text.format(restart=escape(hint)))


def register_after_secret_guard(application: Any) -> None:
    """Delete texts that arrive just after a secret-asking flow ended; register after every
    flow and before the catch-all hint."""
    application.add_handler(_AfterSecretFlow(application))
