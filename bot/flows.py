"""Pieces every conversation shares: secret input, cancel, timeout, wrong input, sessions."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from html import escape
from typing import Any, TypeVar, overload

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import texts, user_turns
from bot.context import Context
from bot.flow_state import FlowState
from bot.presence import current_session
from bot.secret_steps import (
    AFTERMATH_KEY,
    WRONG_ANSWER_CHARGED,
    charging_wrong_answers,
    delete_quietly,
    remember_secret_flow_ended,
)
from bot.secret_steps import Secret as Secret  # re-exported: flows declare secret steps with it
from bot.secret_steps import charge_auth_failure as charge_auth_failure
from core.accounts.service import LoginAttempt, normalise_email
from core.accounts.sessions import FlowEnded, ReauthProof, Session
from core.errors import Refusal
from core.ids import parse_id

logger = logging.getLogger(__name__)
S = TypeVar("S", bound=FlowState)

CONVERSATION_TIMEOUT = 300  # seconds (SPEC §3)

END = ConversationHandler.END


def message_of(update: Update) -> Message:
    """The message of an update that handlers in a flow always have."""
    message = update.effective_message
    if message is None:
        raise RuntimeError("update without a message")
    return message


async def take_secret(update: Update, what: str) -> tuple[str, str]:
    """Read a secret text and delete it from the chat; return (secret, note for the user)."""
    message = message_of(update)
    secret = message.text or ""
    try:
        await message.delete()
        note = texts.SECRET_DELETED.format(what=what)
    except TelegramError as exc:
        logger.warning("could not delete a message carrying a %s: %s", what, type(exc).__name__)
        note = texts.SECRET_NOT_DELETED.format(what=what)
    return secret, note


async def require_session(update: Update, context: Context) -> Session | None:
    """The caller's live session, or None after telling them to log in."""
    user = update.effective_user
    sessions = context.bot_data.services.sessions
    session = await current_session(update, context)  # this update's one read (gate's)
    if session is None:
        # Ended from /sessions on another device: say so on each message until a new login.
        elsewhere = user is not None and await sessions.ended_elsewhere(user.id)
        await message_of(update).reply_text(
            texts.SESSION_ENDED_ELSEWHERE if elsewhere else texts.LOGIN_FIRST
        )
    return session


async def require_admin_session(update: Update, context: Context) -> Session | None:
    """For admin actions that change money or data: the admin's own live session, with 2FA
    on (SPEC §3). Replies with what is missing and returns None otherwise."""
    session = await current_session(update, context)
    if session is None:  # an admin's first try: say how to get a session, not only "log in"
        await message_of(update).reply_text(texts.ADMIN_NEEDS_ACCOUNT)
        return None
    if not await context.bot_data.services.twofactor.is_enabled(session.account_id):
        await message_of(update).reply_text(texts.ADMIN_NEEDS_2FA)
        return None
    return session


async def start_with_session(
    update: Update, context: Context, flow: str, prompt: str, state: int
) -> int:
    """Common start of flows that need a session: remember it, ask the first question."""
    await end_flow(context, flow)
    session = await require_session(update, context)
    if session is None:
        return END
    flow_state(context, flow).session = session
    await message_of(update).reply_text(prompt)
    return state


async def email_step(update: Update, context: Context, flow: str, next_prompt: str) -> bool:
    """Read an email address into the flow's data; False (after saying why) when malformed."""
    try:
        email = normalise_email(message_of(update).text or "")
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return False
    flow_state(context, flow).email = email
    await message_of(update).reply_text(next_prompt)
    return True


async def password_step(
    update: Update, context: Context, flow: str, next_prompt: str, next_state: int
) -> int:
    """Read the password (deleted from the chat) and keep core's fresh re-auth proof."""
    password, note = await take_secret(update, "password")
    data = flow_state(context, flow)
    try:
        data.proof = await context.bot_data.services.accounts.reauthenticate(
            data.started_session(), password
        )
    except Refusal as exc:
        await charge_auth_failure(update, context)
        await end_flow(context, flow)
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    await message_of(update).reply_text(f"{note}\n\n{next_prompt}")
    return next_state


async def tell_chats(context: Context, chat_ids: Sequence[int], text: str) -> None:
    """Best-effort notices (e.g. to sessions that were just ended); failures are logged."""
    for chat_id in chat_ids:
        try:
            await context.bot.send_message(chat_id, text)
        except TelegramError as exc:
            logger.warning("could not notify a chat: %s", type(exc).__name__)


MAX_REPLY = 4000  # under Telegram's 4096, with room for HTML


async def reply_lines(message: Message, lines: list[str]) -> None:
    """Reply with ``lines``, split into as few messages as Telegram's limit allows."""
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > MAX_REPLY:
            await message.reply_text("\n".join(chunk))
            chunk = []
        chunk.append(line)
    if chunk:
        await message.reply_text("\n".join(chunk))


def id_argument(context: Context) -> int | None:
    """The record id given as the command's first argument, or None."""
    args = context.args or []
    return parse_id(args[0]) if args else None


@overload
def flow_state(context: Context, flow: str) -> FlowState: ...
@overload
def flow_state(context: Context, flow: str, kind: type[S]) -> S: ...
def flow_state(context: Context, flow: str, kind: type[FlowState] = FlowState) -> FlowState:
    """The typed state of one flow (see :mod:`bot.flow_state`), made empty at its first use.

    A shared step may have made a plain :class:`FlowState` before the flow's own step asks
    for its ``kind``: what it holds moves into the richer one (so does a mapping that a
    version before these classes persisted)."""
    assert context.user_data is not None
    held = context.user_data.get(flow)
    if isinstance(held, kind):
        return held
    state = kind()
    names = {member.name for member in dataclasses.fields(state)}
    if isinstance(held, FlowState):
        held = {member.name: getattr(held, member.name) for member in dataclasses.fields(held)}
    if isinstance(held, dict):
        for name, value in held.items():
            if name in names:
                setattr(state, name, value)
    context.user_data[flow] = state
    return state


def clear_flow(context: Context, key: str) -> None:
    """Forget everything a flow kept."""
    if context.user_data is not None:
        context.user_data.pop(key, None)


def delete_later(context: Context, flow: str, message: Message) -> None:
    """Remember a bot message to delete when the flow ends (success, cancel or timeout)."""
    flow_state(context, flow).cleanup.append((message.chat_id, message.message_id))


async def end_flow(context: Context, flow: str) -> None:
    """Delete the flow's sensitive messages and forget its data."""
    held = (context.user_data or {}).get(flow)
    cleanup = held.cleanup if isinstance(held, FlowState) else []
    for chat_id, message_id in cleanup:
        try:
            await context.bot.delete_message(chat_id, message_id)
        except TelegramError as exc:
            logger.warning("could not delete a sensitive message: %s", type(exc).__name__)
    clear_flow(context, flow)


async def _check_pending(context: Context, flow: str) -> None:
    """Raise FlowEnded when what the flow holds (its session and proof, or a login attempt)
    went stale since the last step. Core checks again in every committing transaction."""
    data = (context.user_data or {}).get(flow)
    if not isinstance(data, FlowState):
        return
    services = context.bot_data.services
    session, proof, attempt = data.session, data.proof, data.attempt
    if isinstance(session, Session):
        await services.sessions.check_live(
            session, proof if isinstance(proof, ReauthProof) else None
        )
    if isinstance(attempt, LoginAttempt) and attempt.ok:
        await services.accounts.check_attempt(attempt)


async def tell_flow_ended(
    update: Update,
    context: Context,
    flow: str,
    restart_hint: str,
    ended: FlowEnded,
    *,
    delete_answer: bool = False,
) -> None:
    """End the flow and say why: "This step ended because …; start again with /x". With
    ``delete_answer``, the answer the user just sent (maybe a secret) is deleted first."""
    await end_flow(context, flow)
    note = ""
    if update.callback_query is not None:
        await update.callback_query.answer()
    elif delete_answer and update.message is not None and update.message.text:
        try:
            await update.message.delete()
            note = texts.FLOW_ENDED_DELETED + "\n\n"
        except TelegramError as exc:
            logger.warning("could not delete a late answer: %s", type(exc).__name__)
    reason = str(ended.reason)
    restart = escape(restart_hint)
    if ended.session_ended:
        restart = f"{texts.FLOW_ENDED_LOG_IN} {restart}"
    text = texts.FLOW_ENDED.format(
        reason=texts.FLOW_END_REASONS.get(reason, texts.FLOW_END_REASONS["ended"]),
        restart=restart,
    )
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, note + text)


def _ends_when_stale(
    flow: str, restart_hint: str, callback: Callable[[Update, Context], Coroutine[Any, Any, object]]
) -> Callable[[Update, Context], Coroutine[Any, Any, object]]:
    """A step that first checks the flow is still live, and ends it (saying why) when the
    check here or core's check in the committing transaction finds it stale."""

    async def step(update: Update, context: Context) -> object:
        try:
            await _check_pending(context, flow)
        except FlowEnded as ended:  # the step's handler never saw the answer: delete it here
            await tell_flow_ended(update, context, flow, restart_hint, ended, delete_answer=True)
            return END
        try:
            return await callback(update, context)
        except FlowEnded as ended:
            await tell_flow_ended(update, context, flow, restart_hint, ended)
            return END

    return step


class Flow(ConversationHandler[Any]):
    """A conversation that knows its secret steps (see :class:`Secret`): the gate and the
    guards ask it (:class:`bot.secret_steps.AsksSecrets`), in the manner of handler flags.

    Flows that ask for a secret run only in private chats (unless the flow checks the chat
    itself: ``private_only=False``). A conversation restored from the database after a restart
    has no timeout job: the first update after its deadline is answered as a timeout.
    """

    def __init__(
        self,
        *args: Any,
        secrets: Mapping[object, Secret],
        guesses: Sequence[object] = (),
        private_only: bool,
        restart_hint: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.secret_states: dict[object, Secret] = dict(secrets)
        secret = {state for state, kind in self.secret_states.items() if kind.is_guess}
        self._guess_states = frozenset(secret | set(guesses))
        self.private_only = private_only
        self._restart_hint = restart_hint

    @property
    def restart_hint(self) -> str:
        """How to start this flow again (told after a timeout or a secret left behind)."""
        return self._restart_hint

    @property
    def guess_states(self) -> frozenset[object]:
        """States whose answer is a guess: a password or code, or a declared non-secret guess
        such as a captcha (the auth limit judges them all)."""
        return self._guess_states

    @property
    def asks_secrets(self) -> bool:
        """Whether any step asks for a password, a code or another secret."""
        return bool(self.secret_states)

    def is_code_step(self, state: object) -> bool:
        """Whether an answer in ``state`` is judged by the auth limit (SPEC §5)."""
        return state in self.guess_states

    def secret_asked(self, update: Update) -> Secret | None:
        """The secret this flow's current step asks the sender of ``update`` for, if any."""
        with contextlib.suppress(RuntimeError):  # an update it cannot key: no chat or user
            return self.secret_states.get(self._conversations.get(self._get_key(update)))
        return None

    async def handle_update(
        self, update: Update, application: Any, check_result: Any, context: Context
    ) -> object | None:
        """Refuse group chats at the entry, end restored flows past their deadline."""
        state, key, handler, _ = check_result
        chat = update.effective_chat
        if handler in self.entry_points:
            if context.user_data is not None:
                context.user_data.pop(AFTERMATH_KEY, None)  # a new start: aftermath over
            if self.private_only and chat is not None and chat.type != ChatType.PRIVATE:
                await _refuse_group(update)
                return None
        persistence = application.persistence
        restored = persistence.restored_at(self.name, key) if persistence is not None else None
        if restored is not None and state is not None and handler not in self.entry_points:
            now = context.bot_data.services.clock.now()
            if now - restored > timedelta(seconds=CONVERSATION_TIMEOUT):
                self._update_state(self.END, key)
                await _after_timeout(update, context, self)
                message = update.message
                if message is not None and message.text and not message.text.startswith("/"):
                    await delete_quietly(message)  # an answer to a step that is gone
                return None
        WRONG_ANSWER_CHARGED.set(False)
        outcome = await super().handle_update(update, application, check_result, context)
        ended = key not in self._conversations
        if WRONG_ANSWER_CHARGED.get() and self.secret_states and ended:
            # A wrong answer ended the flow: the next text may well be the password again.
            remember_secret_flow_ended(context, str(self.name))
        return outcome

    async def _trigger_timeout(self, context: Any) -> None:
        """A timeout is a turn of its user (bot/user_turns.py): with several instances the
        flow may have moved on elsewhere, and the turn's reading of the user's state then
        cancels this timeout instead of ending that flow."""
        timeout = context.job.data if context.job is not None else None
        key = getattr(timeout, "conversation_key", None)
        application = getattr(timeout, "application", None)
        if application is None or not key or not isinstance(key[-1], int):
            await super()._trigger_timeout(context)
            return
        async with user_turns.turn(application, key[-1]):
            await super()._trigger_timeout(context)


async def _refuse_group(update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(texts.SECRET_FLOW_PRIVATE_ONLY, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(texts.SECRET_FLOW_PRIVATE_ONLY)


async def _after_timeout(update: object, context: Context, flow: Flow) -> None:
    """What a timeout does: forget the flow, delete its messages, say how to start again."""
    name = str(flow.name)
    await end_flow(context, name)
    if flow.secret_states:
        remember_secret_flow_ended(context, name)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is not None:
        await context.bot.send_message(
            chat.id, texts.FLOW_TIMEOUT.format(restart=escape(flow.restart_hint))
        )


def conversation(
    *,
    name: str,
    entry: str,
    entry_callback: Callable[[Update, Context], Coroutine[Any, Any, object]],
    states: dict[object, list[BaseHandler[Update, Any, Any]]],
    restart_hint: str,
    secrets: Mapping[object, Secret] | None = None,
    guesses: Sequence[object] = (),
    private_only: bool = True,
    extra_entries: Sequence[BaseHandler[Update, Any, Any]] = (),
    extra_fallbacks: Sequence[BaseHandler[Update, Any, Any]] = (),
    entry_filter: filters.BaseFilter | None = None,
) -> ConversationHandler[Any]:
    """A flow with /cancel, a 5-minute timeout, and polite replies to unexpected input.

    ``secrets`` declares every state whose answer is a password, a code or another secret
    (see :class:`Secret`): password and code steps are judged by the auth limit, and a wrong
    answer (the step asks again) is charged to it; flows with secrets run only in private
    chats (``private_only``) and a text sent just after one ended unfinished is deleted.
    ``guesses`` are states whose answer is a guess but no secret (a captcha): the auth limit
    judges them too, and their step charges a wrong answer itself.
    Messages listed with :func:`delete_later` (a QR code, a secret) are deleted when the flow
    is cancelled or times out. ``entry_filter`` narrows who may start it (admin flows pass
    their own admin filter). The conversation is persisted (see :mod:`bot.persistence`).
    """
    declared = dict(secrets or {})
    unknown = (set(declared) | set(guesses)) - set(states)
    if unknown:
        raise ValueError(f"flow {name} declares secrets for unknown states {unknown}")
    guessed = {state for state, kind in declared.items() if kind.is_guess}
    for state in guessed:
        for handler in states[state]:
            handler.callback = charging_wrong_answers(handler.callback, state)
    flow: Flow

    async def cancel(update: Update, context: Context) -> int:
        await end_flow(context, name)
        if declared:
            remember_secret_flow_ended(context, name)
        await message_of(update).reply_text(texts.CANCELLED)
        return END

    async def timed_out(update: Update, context: Context) -> None:
        await _after_timeout(update, context, flow)

    async def busy(update: Update, context: Context) -> None:
        await message_of(update).reply_text(texts.FLOW_BUSY)

    async def not_text(update: Update, context: Context) -> None:
        await message_of(update).reply_text(texts.TEXT_EXPECTED)

    for handlers in states.values():
        for handler in handlers:
            handler.callback = _ends_when_stale(name, restart_hint, handler.callback)

    with warnings.catch_warnings():
        # Buttons inside a flow belong to the user's current step, not to one message, which
        # is exactly per_message=False; PTB warns about that choice on every construction.
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        flow = Flow(
            entry_points=[
                CommandHandler(entry, entry_callback, filters=entry_filter),
                *extra_entries,
            ],
            states={
                **states,
                ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
            },
            fallbacks=[
                CommandHandler("cancel", cancel),
                *extra_fallbacks,
                MessageHandler(filters.COMMAND, busy),
                MessageHandler(~filters.TEXT & ~filters.UpdateType.EDITED, not_text),
            ],
            conversation_timeout=CONVERSATION_TIMEOUT,
            name=name,
            allow_reentry=True,
            persistent=True,
            secrets=declared,
            guesses=guesses,
            private_only=private_only,
            restart_hint=restart_hint,
        )
    return flow


TEXT = filters.TEXT & ~filters.COMMAND & ~filters.UpdateType.EDITED
