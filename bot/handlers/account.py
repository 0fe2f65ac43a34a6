"""/me, /password (current → new, typed twice) and /email."""

from __future__ import annotations

import logging
from html import escape

from telegram import Update
from telegram.ext import CommandHandler, MessageHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flow_state import PasswordChange
from bot.flows import (
    END,
    TEXT,
    Secret,
    clear_flow,
    conversation,
    flow_state,
    message_of,
    password_step,
    require_session,
    start_with_session,
    take_secret,
    tell_chats,
)
from bot.handlers.payments import license_line
from bot.session_view import session_limits
from bot.wording import count
from core.accounts.overview import account_overview
from core.errors import Refusal
from core.payments.licenses import FREE

logger = logging.getLogger(__name__)

PW_CURRENT, PW_NEW, PW_CONFIRM = range(3)
EMAIL_PASSWORD, EMAIL_NEW = range(2)


async def me(update: Update, context: Context) -> None:
    """Account, tier, license, 2FA and session facts."""
    session = await require_session(update, context)
    if session is None:
        return
    services = context.bot_data.services
    overview = await account_overview(
        services.uow, services.clock, services.licenses, session.account_id
    )
    account, mfa, license_status = overview.account, overview.mfa, overview.license
    mfa_text = (
        texts.ME_MFA_ON.format(
            since=f"{mfa.enabled_since:%Y-%m-%d}",
            left=count(mfa.backup_codes_left, "backup code"),
        )
        if mfa.enabled and mfa.enabled_since
        else texts.ME_MFA_OFF
    )
    await message_of(update).reply_text(
        texts.ME.format(
            email=escape(account.email),
            tier=escape(license_status.tier) if license_status else FREE,
            license=license_line(license_status),
            mfa=mfa_text,
            session=session_limits(session, services.settings.security.idle_minutes),
        )
    )


async def start_password_change(update: Update, context: Context) -> int:
    """Begin: needs a session; ask for the current password."""
    return await start_with_session(update, context, "password", texts.PW_ASK_CURRENT, PW_CURRENT)


async def got_current_password(update: Update, context: Context) -> int:
    """Re-authenticate with the current password."""
    return await password_step(update, context, "password", texts.PW_ASK_NEW, PW_NEW)


async def got_new_password(update: Update, context: Context) -> int:
    """Check the new password's rules, keep only its hash, ask for it once more."""
    password, note = await take_secret(update, "password")
    data = flow_state(context, "password", PasswordChange)
    accounts = context.bot_data.services.accounts
    try:
        account = await accounts.account(data.started_session().account_id)
        await accounts.check_new_password(password, account.email)
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return PW_NEW
    data.new_hash = await accounts.passwords.hash(password)
    del password
    await message_of(update).reply_text(f"{note}\n\n{texts.PW_CONFIRM_NEW}")
    return PW_CONFIRM


async def got_new_password_again(update: Update, context: Context) -> int:
    """Compare with the first typing; set the new password; other sessions end and are told."""
    password, note = await take_secret(update, "password")
    data = flow_state(context, "password", PasswordChange)
    services = context.bot_data.services
    new_hash, data.new_hash = data.new_hash or "", None
    if not await services.accounts.passwords.verify(new_hash, password):
        await message_of(update).reply_text(
            f"{note}\n\n{texts.PASSWORDS_DIFFER}\n\n{texts.PW_ASK_NEW}"
        )
        return PW_NEW
    try:
        ended = await services.accounts.change_password(
            data.started_session(), data.fresh_proof(), password
        )
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}\n\n{texts.PW_ASK_NEW}")
        return PW_NEW
    clear_flow(context, "password")
    others = (
        texts.PW_OTHERS_ENDED.format(count=count(len(ended), "other session"))
        if ended
        else texts.PW_NO_OTHERS
    )
    await message_of(update).reply_text(f"{note}\n\n{texts.PW_DONE.format(others=others)}")
    await tell_chats(context, ended, texts.PW_CHANGED_ELSEWHERE)
    return END


async def start_email_change(update: Update, context: Context) -> int:
    """Begin: needs a session; ask for the password."""
    return await start_with_session(
        update, context, "email", texts.EMAIL_ASK_PASSWORD, EMAIL_PASSWORD
    )


async def got_email_password(update: Update, context: Context) -> int:
    """Re-authenticate; ask for the new address."""
    return await password_step(update, context, "email", texts.EMAIL_ASK_NEW, EMAIL_NEW)


async def got_new_email(update: Update, context: Context) -> int:
    """Change the email."""
    data = flow_state(context, "email")
    try:
        email = await context.bot_data.services.accounts.change_email(
            data.started_session(), data.fresh_proof(), message_of(update).text or ""
        )
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return EMAIL_NEW
    clear_flow(context, "email")
    await message_of(update).reply_text(texts.EMAIL_DONE.format(email=escape(email)))
    return END


def register(application: VerzekApplication) -> None:
    """Wire /me, /password, /email."""
    application.add_handler(CommandHandler("me", me))
    application.add_handler(
        conversation(
            name="password",
            entry="password",
            entry_callback=start_password_change,
            states={
                PW_CURRENT: [MessageHandler(TEXT, got_current_password)],
                PW_NEW: [MessageHandler(TEXT, got_new_password)],
                PW_CONFIRM: [MessageHandler(TEXT, got_new_password_again)],
            },
            restart_hint="Start again with /password.",
            secrets={
                PW_CURRENT: Secret.PASSWORD,
                PW_NEW: Secret.NEW_SECRET,
                PW_CONFIRM: Secret.NEW_SECRET,
            },
        )
    )
    application.add_handler(
        conversation(
            name="email",
            entry="email",
            entry_callback=start_email_change,
            states={
                EMAIL_PASSWORD: [MessageHandler(TEXT, got_email_password)],
                EMAIL_NEW: [MessageHandler(TEXT, got_new_email)],
            },
            restart_hint="Start again with /email.",
            secrets={EMAIL_PASSWORD: Secret.PASSWORD},
        )
    )
