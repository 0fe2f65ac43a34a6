"""/apikeys, /apikey_add, /apikey_delete: exchange API keys, stored only encrypted.

Every message carrying a credential (key, secret, passphrase) or a confirmation (password,
2FA code) is deleted as soon as it is read. Until the last step the credentials wait in the
flow's memory only (never in the database, never in a reply), and :func:`end_flow` drops
them on success, /cancel or timeout.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import datetime
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flow_state import ApiKeyAddition, ApiKeyDeletion, PendingApiKey
from bot.flows import (
    END,
    TEXT,
    Secret,
    conversation,
    end_flow,
    flow_state,
    message_of,
    require_session,
    take_secret,
)
from bot.pickers import Choice, Picker, offer, picked
from core.accounts.sessions import Session
from core.apikeys.refusals import Credential
from core.apikeys.service import (
    EXCHANGES,
    LABEL_MAX,
    ApiKeyDraft,
    ApiKeyView,
    KeyUnavailable,
    exchange_name,
    needs_passphrase,
    validate_credential,
    validate_exchange,
    validate_label,
    validate_passphrase,
    validate_secret,
)
from core.errors import Refusal
from core.ids import parse_id
from core.safety.service import Action, Halted
from core.twofactor.service import CodeBlocked

ADD, DELETE = "apikey_add", "apikey_delete"
EXCHANGE, LABEL, KEY, SECRET, PASSPHRASE, CONFIRM = range(6)
DELETE_CONFIRM, DELETE_CODE = range(2)

CB_ADD = "apikey:add"
CB_EXCHANGE = "apikey:ex:"
CB_DELETE = "apikey:del:"
CB_KEEP = "apikey:keep"

logger = logging.getLogger(__name__)

# Errors after which retrying the same step cannot help: the flow ends.
_FINAL = (CodeBlocked, Halted, KeyUnavailable)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _facts(key: ApiKeyView) -> dict[str, object]:
    """The fields every text about one key uses, HTML-escaped."""
    return {
        "id": key.id,
        "exchange": escape(key.exchange_name),
        "label": escape(key.label),
        "masked": escape(key.masked_key),
    }


async def _ack(update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()


async def _flow_session(
    update: Update, context: Context, flow: str, note: str = ""
) -> Session | None:
    """The session the flow started with, if it is still live (it may have expired or been
    ended from another device meanwhile); otherwise end the flow and say so."""
    started = flow_state(context, flow).session
    user = update.effective_user
    live = await context.bot_data.services.sessions.current(user.id) if user else None
    if live is None or started is None or live.id != started.id:
        await end_flow(context, flow)
        await message_of(update).reply_text(f"{note}\n\n{texts.LOGIN_FIRST}".strip())
        return None
    return started  # the flow's own session: core re-checks it (and its stamp) when writing


async def _drop_buttons(update: Update) -> None:
    """Take the buttons off the message that was pressed, so it can't be pressed twice."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    try:
        await query.edit_message_reply_markup(None)
    except TelegramError:
        pass  # an old or already edited message: nothing to take away


# --- list ----------------------------------------------------------------------------------


async def list_keys(update: Update, context: Context) -> None:
    """The caller's keys: exchange, label, last 4 characters of the key, when added."""
    session = await require_session(update, context)
    if session is None:
        return
    keys = await context.bot_data.services.apikeys.keys(session.account_id)
    add = InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.APIKEY_BUTTON_ADD, callback_data=CB_ADD)]]
    )
    if not keys:
        await message_of(update).reply_text(texts.APIKEYS_NONE, reply_markup=add)
        return
    lines = [texts.APIKEYS_HEADER, ""]
    for key in keys:
        replaced = texts.APIKEYS_REPLACED.format(at=_when(key.updated_at)) if key.updated_at else ""
        lines.append(
            texts.APIKEYS_LINE.format(**_facts(key), added=_when(key.created_at), replaced=replaced)
        )
    lines += ["", texts.APIKEYS_FOOTER]
    await message_of(update).reply_text("\n".join(lines), reply_markup=add)


# --- add -----------------------------------------------------------------------------------


async def start_add(update: Update, context: Context) -> int:
    """Needs a session and the kill switch off; ask for the exchange."""
    await _ack(update)
    await end_flow(context, ADD)
    session = await require_session(update, context)
    if session is None:
        return END
    try:
        await context.bot_data.services.safety.ensure_allowed(Action.API_KEYS)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return END
    data = flow_state(context, ADD, ApiKeyAddition)
    data.session, data.pending = session, PendingApiKey()
    buttons = [
        InlineKeyboardButton(exchange_name(ex), callback_data=f"{CB_EXCHANGE}{ex}")
        for ex in EXCHANGES
    ]
    keyboard = InlineKeyboardMarkup([buttons[:3], buttons[3:]])
    await message_of(update).reply_text(texts.APIKEY_ASK_EXCHANGE, reply_markup=keyboard)
    return EXCHANGE


async def _take_exchange(update: Update, context: Context, text: str) -> int:
    try:
        exchange = validate_exchange(text)
    except Refusal:
        await message_of(update).reply_text(texts.APIKEY_PICK_EXCHANGE)
        return EXCHANGE
    pending = flow_state(context, ADD, ApiKeyAddition).pending
    pending.exchange = exchange
    name = escape(exchange_name(exchange))
    await message_of(update).reply_text(texts.APIKEY_ASK_LABEL.format(exchange=name))
    return LABEL


async def got_exchange_button(update: Update, context: Context) -> int:
    """An exchange button (its data is checked against the list: it may be forged)."""
    await _ack(update)
    await _drop_buttons(update)
    data = update.callback_query.data if update.callback_query else ""
    return await _take_exchange(update, context, (data or "").removeprefix(CB_EXCHANGE))


async def got_exchange_text(update: Update, context: Context) -> int:
    """The exchange typed instead of pressed: fine if it is one we know."""
    return await _take_exchange(update, context, message_of(update).text or "")


async def got_label(update: Update, context: Context) -> int:
    """Check the label; tell the user when it will replace a key; ask for the key."""
    message = message_of(update)
    text = message.text or ""
    data = flow_state(context, ADD, ApiKeyAddition)
    pending = data.pending
    try:
        label = validate_label(text)
    except Refusal as exc:
        note = ""
        if len(text.strip()) > LABEL_MAX:
            # Too long for a label: quite possibly a key pasted one step early.
            try:
                await message.delete()
                note = texts.APIKEY_LABEL_DELETED + "\n\n"
            except TelegramError as error:
                logger.warning("could not delete a long label: %s", type(error).__name__)
        await message.reply_text(note + texts.render(exc))
        return LABEL
    try:
        existing = await context.bot_data.services.apikeys.prepare(
            data.started_session(), pending.exchange, label
        )
    except Refusal as exc:
        await end_flow(context, ADD)
        await message.reply_text(texts.render(exc))
        return END
    pending.label = label
    prompt = texts.APIKEY_ASK_KEY
    if existing is not None:
        prompt = texts.APIKEY_WILL_REPLACE.format(**_facts(existing)) + "\n\n" + prompt
    await message.reply_text(prompt)
    return KEY


async def got_key(update: Update, context: Context) -> int:
    """Read (and delete) the API key; ask for the secret."""
    key, note = await take_secret(update, "API key")
    try:
        key = validate_credential(key, Credential.KEY)
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return KEY
    flow_state(context, ADD, ApiKeyAddition).pending.key = key
    await message_of(update).reply_text(f"{note}\n\n{texts.APIKEY_ASK_SECRET}")
    return SECRET


async def got_secret(update: Update, context: Context) -> int:
    """Read (and delete) the secret; ask for the passphrase or the confirmation."""
    secret, note = await take_secret(update, "API secret")
    pending = flow_state(context, ADD, ApiKeyAddition).pending
    try:
        secret = validate_secret(secret, pending.key)
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return SECRET
    pending.secret = secret
    if needs_passphrase(pending.exchange):
        name = escape(exchange_name(pending.exchange))
        await message_of(update).reply_text(
            f"{note}\n\n" + texts.APIKEY_ASK_PASSPHRASE.format(exchange=name)
        )
        return PASSPHRASE
    return await _ask_confirmation(update, context, note)


async def got_passphrase(update: Update, context: Context) -> int:
    """Read (and delete) the passphrase; ask for the confirmation."""
    passphrase, note = await take_secret(update, "passphrase")
    try:
        passphrase = validate_passphrase(passphrase)
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return PASSPHRASE
    flow_state(context, ADD, ApiKeyAddition).pending.passphrase = passphrase
    return await _ask_confirmation(update, context, note)


async def _ask_confirmation(update: Update, context: Context, note: str) -> int:
    data = flow_state(context, ADD, ApiKeyAddition)
    pending = data.pending
    pending.needs_code = await context.bot_data.services.apikeys.needs_code(
        data.started_session().account_id
    )
    ask = texts.APIKEY_ASK_CODE if pending.needs_code else texts.APIKEY_ASK_PASSWORD
    await message_of(update).reply_text(f"{note}\n\n{ask}")
    return CONFIRM


async def got_confirmation(update: Update, context: Context) -> int:
    """Check the 2FA code (or password) and store the key, encrypted."""
    data = flow_state(context, ADD, ApiKeyAddition)
    pending = data.pending
    confirmation, note = await take_secret(update, "code" if pending.needs_code else "password")
    session = await _flow_session(update, context, ADD, note)
    if session is None:
        return END
    draft = ApiKeyDraft(
        pending.exchange, pending.label, pending.key, pending.secret, pending.passphrase
    )
    try:
        saved = await context.bot_data.services.apikeys.save(session, draft, confirmation)
    except _FINAL as exc:
        await end_flow(context, ADD)
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return CONFIRM
    await end_flow(context, ADD)
    text = texts.APIKEY_REPLACED if saved.updated else texts.APIKEY_ADDED
    await message_of(update).reply_text(f"{note}\n\n" + text.format(**_facts(saved.key)))
    return END


# --- delete --------------------------------------------------------------------------------


async def _key_choices(context: Context, session: Session) -> list[Choice]:
    """The caller's own keys, as /apikey_delete's buttons."""
    keys = await context.bot_data.services.apikeys.keys(session.account_id)
    return [Choice(str(k.id), f"{k.exchange_name} · {k.label} · {k.masked_key}") for k in keys]


KEYS = Picker(DELETE, texts.PICK_APIKEY, texts.PICK_APIKEY_NONE, _key_choices)


def _key_id(args: list[str] | None) -> int | None:
    if not args or len(args) != 1:
        return None
    return parse_id(args[0])


async def start_delete(update: Update, context: Context) -> int:
    """Find the caller's key by id and ask for confirmation with buttons."""
    await end_flow(context, DELETE)
    session = await require_session(update, context)
    if session is None:
        return END
    if not context.args:  # sent bare: buttons of the caller's own keys (bot/pickers.py)
        return await offer(update, context, KEYS, session)
    key_id = _key_id(context.args)
    if key_id is None:
        await message_of(update).reply_text(texts.APIKEY_DELETE_USAGE)
        return END
    services = context.bot_data.services
    try:
        await services.safety.ensure_allowed(Action.API_KEYS)
        key = await services.apikeys.get(session.account_id, key_id)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return END
    data = flow_state(context, DELETE, ApiKeyDeletion)
    data.session, data.key_id = session, key.id
    data.confirm = secrets.token_urlsafe(9)  # opaque, and this confirmation's only
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.APIKEY_BUTTON_DELETE, callback_data=f"{CB_DELETE}{data.confirm}"
                ),
                InlineKeyboardButton(texts.APIKEY_BUTTON_KEEP, callback_data=CB_KEEP),
            ]
        ]
    )
    await message_of(update).reply_text(
        texts.APIKEY_DELETE_CONFIRM.format(**_facts(key)), reply_markup=keyboard
    )
    return DELETE_CONFIRM


async def pressed_delete(update: Update, context: Context) -> int:
    """Confirmed: ask for a 2FA code when 2FA is on, else delete now."""
    query = update.callback_query
    assert query is not None
    data = flow_state(context, DELETE, ApiKeyDeletion)
    pressed = (query.data or "").removeprefix(CB_DELETE).encode()
    if not data.confirm or not hmac.compare_digest(pressed, data.confirm.encode()):
        # Not the key this flow asked about (an old message, or forged data): change nothing.
        await query.answer(texts.STALE_BUTTON, show_alert=True)
        return DELETE_CONFIRM
    await query.answer()
    await _drop_buttons(update)
    if await _flow_session(update, context, DELETE) is None:
        return END
    if await context.bot_data.services.apikeys.needs_code(data.started_session().account_id):
        await message_of(update).reply_text(texts.APIKEY_DELETE_ASK_CODE)
        return DELETE_CODE
    return await _delete(update, context, None, "")


async def got_delete_code(update: Update, context: Context) -> int:
    """Read (and delete) the 2FA code; delete the key."""
    code, note = await take_secret(update, "code")
    return await _delete(update, context, code, note)


async def _delete(update: Update, context: Context, code: str | None, note: str) -> int:
    data = flow_state(context, DELETE, ApiKeyDeletion)
    prefix = f"{note}\n\n" if note else ""
    session = await _flow_session(update, context, DELETE, note)
    if session is None:
        return END
    if data.key_id is None:
        raise LookupError("the delete flow kept no key")
    try:
        key = await context.bot_data.services.apikeys.delete(session, data.key_id, code)
    except _FINAL as exc:
        await end_flow(context, DELETE)
        await message_of(update).reply_text(prefix + texts.render(exc))
        return END
    except Refusal as exc:
        await message_of(update).reply_text(prefix + texts.render(exc))
        if code is None:
            await end_flow(context, DELETE)
            return END
        return DELETE_CODE
    await end_flow(context, DELETE)
    await message_of(update).reply_text(prefix + texts.APIKEY_DELETED.format(**_facts(key)))
    return END


async def pressed_keep(update: Update, context: Context) -> int:
    """Not deleting after all."""
    await _ack(update)
    await _drop_buttons(update)
    await end_flow(context, DELETE)
    await message_of(update).reply_text(texts.APIKEY_KEPT)
    return END


def register(application: VerzekApplication) -> None:
    """Wire the API-key commands and buttons."""
    application.add_handler(CommandHandler("apikeys", list_keys))
    application.add_handler(
        conversation(
            name=ADD,
            entry="apikey_add",
            entry_callback=start_add,
            extra_entries=[CallbackQueryHandler(start_add, pattern=f"^{CB_ADD}$")],
            states={
                EXCHANGE: [
                    CallbackQueryHandler(got_exchange_button, pattern=f"^{CB_EXCHANGE}"),
                    MessageHandler(TEXT, got_exchange_text),
                ],
                LABEL: [MessageHandler(TEXT, got_label)],
                KEY: [MessageHandler(TEXT, got_key)],
                SECRET: [MessageHandler(TEXT, got_secret)],
                PASSPHRASE: [MessageHandler(TEXT, got_passphrase)],
                CONFIRM: [MessageHandler(TEXT, got_confirmation)],
            },
            restart_hint="Start again with /apikey_add.",
            secrets={
                KEY: Secret.NEW_SECRET,
                SECRET: Secret.NEW_SECRET,
                PASSPHRASE: Secret.NEW_SECRET,
                CONFIRM: Secret.CODE,  # the 2FA code, or the password without 2FA
            },
        )
    )
    application.add_handler(
        conversation(
            name=DELETE,
            entry="apikey_delete",
            entry_callback=start_delete,
            extra_entries=[picked(application, KEYS, start_delete)],
            states={
                DELETE_CONFIRM: [
                    CallbackQueryHandler(pressed_delete, pattern=f"^{CB_DELETE}"),
                    CallbackQueryHandler(pressed_keep, pattern=f"^{CB_KEEP}$"),
                ],
                DELETE_CODE: [MessageHandler(TEXT, got_delete_code)],
            },
            restart_hint="Start again with /apikey_delete ID.",
            secrets={DELETE_CODE: Secret.CODE},
        )
    )
