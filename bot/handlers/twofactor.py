"""/2fa, /2fa_enroll, /2fa_disable, /backup_codes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flows import (
    END,
    TEXT,
    Secret,
    conversation,
    delete_later,
    end_flow,
    flow_state,
    message_of,
    password_step,
    require_session,
    take_secret,
)
from bot.wording import count
from core.errors import Refusal
from core.twofactor.service import CodeBlocked, format_backup_code

logger = logging.getLogger(__name__)

ENROLL, DISABLE, CODES = "2fa_enroll", "2fa_disable", "backup_codes"
CODE, PASSWORD = range(2)


async def _ack(update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()


def _codes_block(codes: list[str]) -> str:
    return "\n".join(f"<code>{format_backup_code(code)}</code>" for code in codes)


# --- the backup-codes message: protected, and deleted after "I saved them" or 10 minutes ---

CODES_MESSAGE_LIFETIME = timedelta(minutes=10)
CODES_SWEEP_SECONDS = 30
CB_SAVED = "2fa:saved"
_CODES_MESSAGES = "backup_codes_messages"  # user_data: [(chat id, message id, ISO due time)]


async def send_backup_codes(update: Update, context: Context, text: str) -> None:
    """Send the codes so they can't be forwarded or saved, and remember to delete them (the
    due time is in user_data, which the persistence keeps across restarts)."""
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.BACKUP_CODES_SAVED_BUTTON, callback_data=CB_SAVED)]]
    )
    sent = await message_of(update).reply_text(
        f"{text}\n\n{texts.BACKUP_CODES_AUTO_DELETE}", protect_content=True, reply_markup=keyboard
    )
    due = context.bot_data.services.clock.now() + CODES_MESSAGE_LIFETIME
    assert context.user_data is not None
    context.user_data.setdefault(_CODES_MESSAGES, []).append(
        (sent.chat_id, sent.message_id, due.isoformat())
    )


async def _delete_codes_message(context: Context, chat_id: int, message_id: int) -> None:
    try:
        await context.bot.delete_message(chat_id, message_id)
    except TelegramError as exc:
        logger.warning("could not delete a backup-codes message: %s", type(exc).__name__)


async def saved_codes(update: Update, context: Context) -> None:
    """ "I saved them": delete the message now (only one this user was sent)."""
    query = update.callback_query
    assert query is not None
    pending = context.user_data.get(_CODES_MESSAGES, []) if context.user_data else []
    target = query.message
    mine = [
        entry
        for entry in pending
        if target is not None and (entry[0], entry[1]) == (target.chat.id, target.message_id)
    ]
    if not mine:
        await query.answer(texts.STALE_BUTTON, show_alert=True)
        return
    await query.answer(texts.BACKUP_CODES_GONE)
    for entry in mine:
        pending.remove(entry)
        await _delete_codes_message(context, entry[0], entry[1])


async def sweep_codes_messages(context: Context) -> None:
    """Job (also at start-up, so a restart keeps the promise): delete the codes messages
    whose 10 minutes are over."""
    now = context.bot_data.services.clock.now()
    for user_id, user_data in list(context.application.user_data.items()):
        pending = user_data.get(_CODES_MESSAGES)
        if not pending:
            continue
        context.application.mark_data_for_update_persistence(user_ids=user_id)
        for entry in list(pending):
            chat_id, message_id, due_text = [*entry, None, None, None][:3]
            try:
                due = datetime.fromisoformat(str(due_text))
            except (ValueError, TypeError):
                due = now
            if due <= now:
                pending.remove(entry)
                if isinstance(chat_id, int) and isinstance(message_id, int):
                    await _delete_codes_message(context, chat_id, message_id)
        if not pending:
            user_data.pop(_CODES_MESSAGES, None)


async def show_status(update: Update, context: Context) -> None:
    """2FA state with the buttons that fit it."""
    session = await require_session(update, context)
    if session is None:
        return
    status = await context.bot_data.services.twofactor.status(session.account_id)
    if status.enabled and status.enabled_since is not None:
        text = texts.MFA_STATUS_ON.format(
            since=status.enabled_since.strftime("%Y-%m-%d %H:%M"), left=status.backup_codes_left
        )
        buttons = [
            InlineKeyboardButton(texts.MFA_BUTTON_CODES, callback_data="2fa:codes"),
            InlineKeyboardButton(texts.MFA_BUTTON_DISABLE, callback_data="2fa:disable"),
        ]
    else:
        text = texts.MFA_STATUS_OFF
        buttons = [InlineKeyboardButton(texts.MFA_BUTTON_ENROLL, callback_data="2fa:enroll")]
    await message_of(update).reply_text(text, reply_markup=InlineKeyboardMarkup([buttons]))


# --- enrolment ---------------------------------------------------------------------------


async def start_enroll(update: Update, context: Context) -> int:
    """Ask for the password first: a secret is shown only to whoever knows it (SPEC §10)."""
    await _ack(update)
    await end_flow(context, ENROLL)
    session = await require_session(update, context)
    if session is None:
        return END
    if await context.bot_data.services.twofactor.is_enabled(session.account_id):
        await message_of(update).reply_text(texts.MFA_ALREADY_ON)
        return END
    flow_state(context, ENROLL).session = session
    await message_of(update).reply_text(texts.MFA_ENROLL_ASK_PASSWORD)
    return PASSWORD


async def got_enroll_password(update: Update, context: Context) -> int:
    """Check the password; then send the QR code and the key and wait for the first code."""
    password, note = await take_secret(update, "password")
    data = flow_state(context, ENROLL)
    services = context.bot_data.services
    try:
        proof = await services.accounts.reauthenticate(data.started_session(), password)
        enrollment = await services.twofactor.start_enrollment(data.started_session(), proof)
    except Refusal as exc:
        await end_flow(context, ENROLL)
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    data.proof = proof
    chat = message_of(update)
    delete_later(context, ENROLL, await chat.reply_photo(enrollment.qr_png, caption=texts.MFA_SCAN))
    spaced = " ".join(enrollment.secret[i : i + 4] for i in range(0, len(enrollment.secret), 4))
    delete_later(context, ENROLL, await chat.reply_text(texts.MFA_MANUAL.format(secret=spaced)))
    await chat.reply_text(f"{note}\n\n{texts.MFA_ASK_FIRST_CODE}")
    return CODE


async def got_enroll_code(update: Update, context: Context) -> int:
    """Confirm with the first code; show the backup codes once."""
    code, note = await take_secret(update, "code")
    data = flow_state(context, ENROLL)
    try:
        codes = await context.bot_data.services.twofactor.confirm_enrollment(
            data.started_session(), data.fresh_proof(), code
        )
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return CODE
    await end_flow(context, ENROLL)
    await send_backup_codes(
        update, context, f"{note}\n\n" + texts.MFA_ENABLED.format(codes=_codes_block(codes))
    )
    return END


# --- new backup codes --------------------------------------------------------------------


async def _start_with_2fa_on(
    update: Update, context: Context, flow: str, prompt: str, state: int
) -> int:
    """Common start of the flows that need a session with 2FA on: ask the first question."""
    await _ack(update)
    await end_flow(context, flow)
    session = await require_session(update, context)
    if session is None:
        return END
    if not await context.bot_data.services.twofactor.is_enabled(session.account_id):
        await message_of(update).reply_text(texts.MFA_NOT_ON)
        return END
    flow_state(context, flow).session = session
    await message_of(update).reply_text(prompt)
    return state


async def _reply_after_code_error(
    update: Update, context: Context, flow: str, note: str, exc: Refusal
) -> int:
    """A refused code: blocked ends the flow, anything else asks again."""
    await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
    if isinstance(exc, CodeBlocked):
        await end_flow(context, flow)
        return END
    return CODE


async def start_codes(update: Update, context: Context) -> int:
    """Ask for a current code."""
    return await _start_with_2fa_on(update, context, CODES, texts.MFA_ASK_CODE, CODE)


async def got_codes_code(update: Update, context: Context) -> int:
    """Replace the backup codes."""
    code, note = await take_secret(update, "code")
    session = flow_state(context, CODES).started_session()
    try:
        codes = await context.bot_data.services.twofactor.regenerate_backup_codes(session, code)
    except Refusal as exc:
        return await _reply_after_code_error(update, context, CODES, note, exc)
    await end_flow(context, CODES)
    await send_backup_codes(
        update, context, f"{note}\n\n" + texts.MFA_NEW_CODES.format(codes=_codes_block(codes))
    )
    return END


# --- disabling ---------------------------------------------------------------------------


async def start_disable(update: Update, context: Context) -> int:
    """Ask for the password first."""
    return await _start_with_2fa_on(
        update, context, DISABLE, texts.MFA_DISABLE_ASK_PASSWORD, PASSWORD
    )


async def got_disable_password(update: Update, context: Context) -> int:
    """Re-authenticate, then ask for a code."""
    return await password_step(update, context, DISABLE, texts.MFA_ASK_CODE, CODE)


async def got_disable_code(update: Update, context: Context) -> int:
    """Turn 2FA off; other sessions end and are told."""
    code, note = await take_secret(update, "code")
    data = flow_state(context, DISABLE)
    try:
        ended = await context.bot_data.services.twofactor.disable(
            data.started_session(), data.fresh_proof(), code
        )
    except Refusal as exc:
        return await _reply_after_code_error(update, context, DISABLE, note, exc)
    await end_flow(context, DISABLE)
    others = texts.PW_OTHERS_ENDED.format(count=count(len(ended), "other session")) if ended else ""
    await message_of(update).reply_text(f"{note}\n\n" + texts.MFA_DISABLED.format(others=others))
    # The owner's other chats (those logged out included) hear of it from core/audit/notices.py.
    return END


def register(application: VerzekApplication) -> None:
    """Wire the 2FA commands and buttons."""
    application.add_handler(CommandHandler("2fa", show_status))
    application.add_handler(CallbackQueryHandler(saved_codes, pattern=f"^{CB_SAVED}$"))
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            sweep_codes_messages,
            interval=CODES_SWEEP_SECONDS,
            first=1,  # soon after start-up: a restart keeps the 10-minute promise
            name="codes-sweep",
            job_kwargs={"misfire_grace_time": None, "coalesce": True},
        )
    application.add_handler(
        conversation(
            name=ENROLL,
            entry="2fa_enroll",
            entry_callback=start_enroll,
            extra_entries=[CallbackQueryHandler(start_enroll, pattern="^2fa:enroll$")],
            states={
                PASSWORD: [MessageHandler(TEXT, got_enroll_password)],
                CODE: [MessageHandler(TEXT, got_enroll_code)],
            },
            restart_hint="Start again with /2fa_enroll.",
            secrets={PASSWORD: Secret.PASSWORD, CODE: Secret.CODE},
        )
    )
    application.add_handler(
        conversation(
            name=CODES,
            entry="backup_codes",
            entry_callback=start_codes,
            extra_entries=[CallbackQueryHandler(start_codes, pattern="^2fa:codes$")],
            states={CODE: [MessageHandler(TEXT, got_codes_code)]},
            restart_hint="Start again with /backup_codes.",
            secrets={CODE: Secret.CODE},
        )
    )
    application.add_handler(
        conversation(
            name=DISABLE,
            entry="2fa_disable",
            entry_callback=start_disable,
            extra_entries=[CallbackQueryHandler(start_disable, pattern="^2fa:disable$")],
            states={
                PASSWORD: [MessageHandler(TEXT, got_disable_password)],
                CODE: [MessageHandler(TEXT, got_disable_code)],
            },
            restart_hint="Start again with /2fa_disable.",
            secrets={PASSWORD: Secret.PASSWORD, CODE: Secret.CODE},
        )
    )
