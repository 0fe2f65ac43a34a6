"""The gate in front of every handler (group -1): deny by default, before any handler runs.

It drops updates that have no user, stops updates over the sender's rate limit (SPEC §5,
answered once per window), refuses admin commands and admin buttons to non-admins with a
neutral reply and an audit event, never lets a forwarded, via-bot or edited message through
as a command or a flow answer (SPEC §10), and keeps account business out of group chats.
Telegram's checkout and receipts pass untouched (SPEC §12): a pre_checkout_query must be
answered within 10 seconds and a successful_payment means Stars were taken; neither is typed by
the user, neither is counted against the limit, and core checks both itself.

The command of an update is :func:`bot.commands.command_of`, the same rule PTB's
CommandHandler routes on, so the gate judges exactly the command a handler would run.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot import texts
from bot.commands import ADMIN_CALLBACK_PREFIX, ADMIN_ONLY, caption_command_of, command_of
from bot.context import Context
from bot.flows import Flow, take_secret
from bot.presence import presence_of
from bot.secret_steps import delete_quietly, secret_asked
from bot.update_processor import drop_message, forget_idle_user_data, is_payment
from core.audit.log import AuditEvent, EventType, Severity
from core.ratelimit import is_auth_step

logger = logging.getLogger(__name__)

_GROUP_OK = frozenset({"start", "help", "id"})  # /id: how the admin chat id is found
SWEEP_SECONDS = 60  # how often ended rate-limit windows are forgotten


def update_command(update: Update, context: Context) -> str | None:
    """The command a handler would run for this update (``/Stats@bot. x`` → ``stats``)."""
    return command_of(update.effective_message, context.bot.username)


def _is_relayed(update: Update) -> bool:
    """Forwarded, sent via an inline bot, or a channel post copied into a group."""
    message = update.effective_message
    return message is not None and bool(
        message.forward_origin is not None
        or message.via_bot is not None
        or message.is_automatic_forward
    )


async def _relayed_reply(update: Update, context: Context) -> str:
    """What to say to a relayed message; one that arrives at a secret step is deleted."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None or chat.type != ChatType.PRIVATE:
        return texts.FORWARDED_IGNORED
    if not (message.text or message.caption) or secret_asked(context.application, update) is None:
        return texts.FORWARDED_IGNORED
    deleted = await delete_quietly(message)
    return texts.FORWARDED_SECRET_DELETED if deleted else texts.FORWARDED_SECRET_NOT_DELETED


def _is_edit(update: Update) -> bool:
    return bool(
        update.edited_message or update.edited_channel_post or update.edited_business_message
    )


async def _say(update: Update, text: str) -> None:
    """Reply in the sender's private chat; best effort."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None or chat.type != ChatType.PRIVATE:
        return
    try:
        await message.reply_text(text)
    except TelegramError as exc:
        logger.warning("could not answer a relayed or edited message: %s", type(exc).__name__)


def is_admin(update: Update, context: Context) -> bool:
    """True when the sender is one of ``telegram.admins``."""
    user = update.effective_user
    return user is not None and user.id in context.bot_data.services.settings.telegram.admins


async def _deny(update: Update, context: Context, what: str) -> None:
    user = update.effective_user
    await context.bot_data.services.audit.record(
        AuditEvent(
            EventType.ADMIN_ACTION,
            Severity.WARNING,
            telegram_user_id=user.id if user else None,
            details={"action": what, "outcome": "denied", "reason": "not an admin"},
        )
    )
    logger.warning("admin action %s refused for a non-admin user", what)
    if update.callback_query is not None:
        await update.callback_query.answer(texts.NOT_ALLOWED, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(texts.NOT_ALLOWED)


def _in_code_step(update: Update, context: Context) -> bool:
    """Asks each conversation whether the sender is at one of its password or code steps."""
    for handlers in context.application.handlers.values():
        for flow in handlers:
            if isinstance(flow, Flow) and flow.guess_states:
                found = flow.check_update(update)  # (state, key, handler, check) or None
                if isinstance(found, tuple) and flow.is_code_step(found[0]):
                    return True
    return False


async def _rate_limit(update: Update, context: Context, command: str | None) -> None:
    """Stop an update over the sender's limit; only a window's first refusal is answered.

    An answer to a password or code step is judged by the auth limit (refused unread while
    it is full; the step charges it when wrong). Every refused text in a private chat is
    deleted, the silent ones too: any of them may carry a password or code.
    """
    chat, query, user = update.effective_chat, update.callback_query, update.effective_user
    if chat is not None and chat.type != ChatType.PRIVATE and command is None and query is None:
        return  # group chatter costs nothing: it is dropped below without a word
    assert user is not None
    guess = command is None and query is None and _in_code_step(update, context)
    limiter = context.bot_data.services.ratelimit
    try:
        auth = not guess and is_auth_step(command, False)
        # The tier comes from this update's one read, which the session check reuses.
        seen = None if auth else await presence_of(update, context)
        tier = seen.tier if seen is not None else None
        if guess:
            decision = await limiter.check_guess(user.id, tier=tier)
        else:
            decision = await limiter.check(user.id, auth=auth, tier=tier)
    except Exception:
        logger.exception("rate limit check failed; the update is dropped")
        raise ApplicationHandlerStop from None
    if decision.allowed:
        return
    message = update.effective_message
    private_text = (
        query is None
        and message is not None
        and bool(message.text)
        and chat is not None
        and chat.type == ChatType.PRIVATE
    )
    if not decision.notify:
        if private_text and message is not None:
            drop_message(context, message)
        raise ApplicationHandlerStop  # told once already in this window: drop in silence
    text = texts.RATE_LIMITED.format(seconds=decision.retry_after)
    try:
        if query is not None:
            await query.answer(text, show_alert=True)
        elif message is not None:
            if private_text and command is None:
                # The step that would have deleted a password or code never runs.
                _, note = await take_secret(update, "password or code")
                text = f"{text}\n\n{note}"
            elif private_text:
                drop_message(context, message)
            await message.reply_text(text)
    except TelegramError as exc:
        logger.warning("could not tell a user about their rate limit: %s", type(exc).__name__)
    raise ApplicationHandlerStop


async def sweep_rate_limits(context: Context) -> None:
    """Job: forget ended rate-limit windows and idle users' empty ``user_data``, so memory
    follows the users of the last minute."""
    await context.bot_data.services.ratelimit.sweep()
    forget_idle_user_data(context.application)


async def gate(update: Update, context: Context) -> None:
    """Let an update through to the handlers, or stop it here."""
    if update.effective_user is None or update.effective_user.is_bot:
        raise ApplicationHandlerStop
    if is_payment(update):
        return  # Telegram's checkout or receipt: never limited, never dropped (SPEC §12)
    admin = is_admin(update, context)
    command = update_command(update, context)
    await _rate_limit(update, context, command)
    if _is_relayed(update):
        # A forwarded "/approve 5" or a forwarded code is someone else's words: never an order.
        # Forwarded while a step asks for a secret, it may well be the user's own password,
        # code or key (from their saved messages): it must not stay in the chat either.
        await _say(update, await _relayed_reply(update, context))
        raise ApplicationHandlerStop
    caption_command = caption_command_of(update.effective_message, context.bot.username)
    for name in (command, caption_command):
        if name in ADMIN_ONLY and not admin:
            await _deny(update, context, f"/{name}")
            raise ApplicationHandlerStop
    if _is_edit(update):
        # PTB would run an edited command again; an edit is never a new order or answer.
        if command is not None:
            await _say(update, texts.EDITED_IGNORED)
        raise ApplicationHandlerStop
    query = update.callback_query
    if query is not None and (query.data or "").startswith(ADMIN_CALLBACK_PREFIX) and not admin:
        await _deny(update, context, "admin button")
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        if command is None and query is None:
            raise ApplicationHandlerStop  # group chatter is none of our business
        admin_chat = chat.id == context.bot_data.services.settings.telegram.admin_chat_id
        # Admin commands show emails and payments: only in a private chat or the admin chat,
        # never in some other group an admin happens to be in.
        allowed = command in _GROUP_OK or (command in ADMIN_ONLY and admin_chat)
        if command is not None and not allowed:
            if update.effective_message is not None:
                await update.effective_message.reply_text(
                    texts.ADMIN_PRIVATE_CHAT_ONLY
                    if command in ADMIN_ONLY
                    else texts.PRIVATE_CHAT_ONLY
                )
            raise ApplicationHandlerStop
