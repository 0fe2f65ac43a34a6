"""/login (email → password → captcha → session) and /logout."""

from __future__ import annotations

import logging
from html import escape

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, MessageHandler

from bot import texts
from bot.captcha_step import CaptchaOutcome, captcha_enabled, check_captcha, send_captcha
from bot.context import Context
from bot.flows import (
    END,
    TEXT,
    Secret,
    charge_auth_failure,
    clear_flow,
    conversation,
    email_step,
    flow_data,
    message_of,
    take_secret,
)
from core.accounts import LoginAttempt, locked_message
from core.errors import UserError
from core.twofactor import CodeBlocked, SecondFactorProof

logger = logging.getLogger(__name__)

EMAIL, PASSWORD, CAPTCHA, CODE = range(4)
FLOW = "login"


async def start_login(update: Update, context: Context) -> int:
    """Begin: ask for the email."""
    clear_flow(context, FLOW)
    await message_of(update).reply_text(texts.LOGIN_ASK_EMAIL)
    return EMAIL


async def got_email(update: Update, context: Context) -> int:
    """Check the email's form only (existence is never revealed); ask for the password."""
    ok = await email_step(update, context, FLOW, texts.LOGIN_ASK_PASSWORD)
    return PASSWORD if ok else EMAIL


async def got_password(update: Update, context: Context) -> int:
    """Delete the message and check the password now; the result waits for the captcha."""
    password, note = await take_secret(update, "password")
    data = flow_data(context, FLOW)
    user = update.effective_user
    assert user is not None
    data["attempt"] = await context.bot_data.services.accounts.check_credentials(
        data["email"], password, user.id
    )
    del password
    if not data["attempt"].ok:
        await charge_auth_failure(update, context)  # a wrong password is a guess
    if captcha_enabled(context):
        await message_of(update).reply_text(note)
        await send_captcha(update, context, data, texts.LOGIN_CAPTCHA)
        return CAPTCHA
    return await finish(update, context, note)


async def got_captcha(update: Update, context: Context) -> int:
    """Check the captcha; only then say how the login went."""
    data = flow_data(context, FLOW)
    outcome = await check_captcha(update, context, data)
    if outcome is CaptchaOutcome.PASSED:
        return await finish(update, context)
    if outcome is CaptchaOutcome.RESTART:
        clear_flow(context, FLOW)
        await message_of(update).reply_text(texts.LOGIN_ASK_EMAIL)
        return EMAIL
    return CAPTCHA


async def finish(update: Update, context: Context, note: str = "") -> int:
    """Open the session, or give the one reply used for every kind of failure."""
    data = flow_data(context, FLOW)
    clear_flow(context, FLOW)
    attempt: LoginAttempt = data["attempt"]
    prefix = f"{note}\n\n" if note else ""
    if attempt.locked_seconds:
        await message_of(update).reply_text(prefix + locked_message(attempt.locked_seconds))
        return END
    if not attempt.ok:
        await message_of(update).reply_text(prefix + texts.LOGIN_FAILED)
        return END
    if attempt.mfa_required:
        flow_data(context, FLOW)["attempt"] = attempt
        await message_of(update).reply_text(prefix + texts.MFA_ASK_CODE_OR_BACKUP)
        return CODE
    return await open_session(update, context, attempt, None, prefix)


async def got_code(update: Update, context: Context) -> int:
    """The second factor: a TOTP code or a backup code (deleted from the chat)."""
    code, note = await take_secret(update, "code")
    data = flow_data(context, FLOW)
    attempt: LoginAttempt = data["attempt"]
    user = update.effective_user
    assert user is not None and attempt.account_id is not None
    try:
        proof = await context.bot_data.services.twofactor.verify(
            attempt.account_id, user.id, code, purpose="login"
        )
    except CodeBlocked as exc:
        clear_flow(context, FLOW)
        await message_of(update).reply_text(f"{note}\n\n{exc.user_message}")
        return END
    except UserError as exc:
        await message_of(update).reply_text(f"{note}\n\n{exc.user_message}")
        return CODE
    clear_flow(context, FLOW)
    return await open_session(update, context, attempt, proof, f"{note}\n\n")


async def open_session(
    update: Update,
    context: Context,
    attempt: LoginAttempt,
    proof: SecondFactorProof | None,
    prefix: str,
) -> int:
    """Complete the login and warn the previous Telegram account if it changed."""
    user = update.effective_user
    assert user is not None
    services = context.bot_data.services
    result = await services.accounts.complete_login(attempt, user.id, proof)
    try:
        await message_of(update).reply_text(
            prefix
            + texts.LOGIN_DONE.format(
                email=escape(result.email),
                idle=services.settings.security.idle_minutes,
                expires=result.session.expires_at.strftime("%Y-%m-%d %H:%M"),
            )
        )
    except TelegramError as exc:
        # The session is committed, so the flow is over even if Telegram lost the news.
        logger.warning("logged in; Telegram did not take the reply: %s", type(exc).__name__)
    if result.previous_telegram_user_id is not None:
        try:
            await context.bot.send_message(
                result.previous_telegram_user_id,
                texts.LOGIN_ELSEWHERE.format(email=escape(result.email)),
            )
        except TelegramError as exc:
            logger.warning("could not warn the previous Telegram account: %s", type(exc).__name__)
    return END


async def logout(update: Update, context: Context) -> None:
    """End the session."""
    user = update.effective_user
    assert user is not None
    ended = await context.bot_data.services.sessions.logout(user.id)
    await message_of(update).reply_text(texts.LOGOUT_DONE if ended else texts.LOGOUT_NONE)


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Wire /login and /logout."""
    application.add_handler(
        conversation(
            name=FLOW,
            entry="login",
            entry_callback=start_login,
            states={
                EMAIL: [MessageHandler(TEXT, got_email)],
                PASSWORD: [MessageHandler(TEXT, got_password)],
                CAPTCHA: [MessageHandler(TEXT, got_captcha)],
                CODE: [MessageHandler(TEXT, got_code)],
            },
            restart_hint="Start again with /login.",
            secrets={PASSWORD: Secret.PASSWORD, CODE: Secret.CODE},
            guesses=[CAPTCHA],  # bot/captcha_step.py charges a wrong answer
        )
    )
    application.add_handler(CommandHandler("logout", logout))
