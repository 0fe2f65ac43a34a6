"""/login (email → password, asked again when wrong → captcha once → [2FA] → session), /logout."""

from __future__ import annotations

import logging
from html import escape

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import CommandHandler, MessageHandler

from bot import texts
from bot.captcha_step import CaptchaOutcome, captcha_enabled, check_captcha, send_captcha
from bot.context import Context, VerzekApplication
from bot.flow_state import LoginDraft
from bot.flows import (
    END,
    TEXT,
    Secret,
    charge_auth_failure,
    conversation,
    email_step,
    end_flow,
    flow_state,
    message_of,
    take_secret,
)
from bot.session_view import session_limits
from bot.wording import count
from core.accounts.login_throttle import LOCK_FAILURES
from core.accounts.refusals import PasswordLoginLocked
from core.accounts.service import LoginAttempt
from core.errors import Refusal
from core.twofactor.service import CodeBlocked, SecondFactorProof

logger = logging.getLogger(__name__)

EMAIL, PASSWORD, CAPTCHA, CODE = range(4)
FLOW = "login"
RESTART_HINT = "Start again with /login."
# Password answers one /login takes. Each is checked and counted by core's lock (5 failures
# lock the email), so the 6th in a row meets the lock; the cap only makes sure the loop ends
# even if the lock ever let one through.
MAX_PASSWORD_TRIES = LOCK_FAILURES + 1


async def start_login(update: Update, context: Context) -> int:
    """Begin: ask for the email."""
    await end_flow(context, FLOW)
    await message_of(update).reply_text(texts.LOGIN_ASK_EMAIL)
    return EMAIL


async def got_email(update: Update, context: Context) -> int:
    """Check the email's form only (existence is never revealed); ask for the password."""
    ok = await email_step(update, context, FLOW, texts.LOGIN_ASK_PASSWORD)
    return PASSWORD if ok else EMAIL


async def got_password(update: Update, context: Context) -> int:
    """Delete the message and check the password now; the verdict waits for the captcha.

    The check (and a failure's count against the lock) happens at once, so abandoning the
    captcha dodges nothing; the captcha is asked once per /login, and the email stays the one
    typed first, so a retry never tries another account without a new captcha.
    """
    password, note = await take_secret(update, "password")
    data = flow_state(context, FLOW, LoginDraft)
    user = update.effective_user
    assert user is not None
    attempt = await context.bot_data.services.accounts.check_credentials(
        data.email or "", password, user.id
    )
    data.attempt = attempt
    del password
    if not attempt.ok:
        await charge_auth_failure(update, context)  # a wrong password is a guess
    data.password_tries += 1
    if captcha_enabled(context) and not data.captcha_passed:
        await message_of(update).reply_text(note)
        await send_captcha(update, context, data, texts.LOGIN_CAPTCHA)
        return CAPTCHA
    return await verdict(update, context, note)


async def got_captcha(update: Update, context: Context) -> int:
    """Check the captcha; only then say how the login went."""
    data = flow_state(context, FLOW, LoginDraft)
    outcome = await check_captcha(update, context, data)
    if outcome is CaptchaOutcome.PASSED:
        data.captcha_passed = True
        return await verdict(update, context)
    if outcome is CaptchaOutcome.FAILED:
        await end_flow(context, FLOW)
        await message_of(update).reply_text(texts.CAPTCHA_RESTART.format(restart=RESTART_HINT))
        return END
    return CAPTCHA


async def verdict(update: Update, context: Context, note: str = "") -> int:
    """Say how the password check went: the lock, try again, the 2FA step, or the session.

    Unknown email and wrong password get the very same reply here (core makes them lock the
    same way too), so nothing tells which emails have accounts.
    """
    data = flow_state(context, FLOW, LoginDraft)
    attempt, data.attempt = data.attempt, None
    assert attempt is not None  # the password step made it
    prefix = f"{note}\n\n" if note else ""
    if attempt.locked_seconds:
        await end_flow(context, FLOW)
        locked = PasswordLoginLocked(attempt.locked_seconds)
        await message_of(update).reply_text(prefix + texts.render(locked))
        return END
    if not attempt.ok:
        return await wrong_password(update, context, prefix)
    if attempt.mfa_required:
        data.attempt = attempt
        await message_of(update).reply_text(prefix + texts.MFA_ASK_CODE_OR_BACKUP)
        return CODE
    await end_flow(context, FLOW)
    return await open_session(update, context, attempt, None, prefix)


async def wrong_password(update: Update, context: Context, prefix: str) -> int:
    """A wrong password (or an unknown email): ask again in this /login, up to the cap.

    Core has already counted the failure against the lock when the password was checked.
    """
    if flow_state(context, FLOW, LoginDraft).password_tries >= MAX_PASSWORD_TRIES:
        await end_flow(context, FLOW)
        await message_of(update).reply_text(
            f"{prefix}{texts.LOGIN_FAILED} {texts.LOGIN_FAILED_START_OVER}"
        )
        return END
    await message_of(update).reply_text(
        f"{prefix}{texts.LOGIN_FAILED} {texts.LOGIN_FAILED_TRY_AGAIN}"
    )
    return PASSWORD


async def got_code(update: Update, context: Context) -> int:
    """The second factor: a TOTP code or a backup code (deleted from the chat)."""
    code, note = await take_secret(update, "code")
    data = flow_state(context, FLOW, LoginDraft)
    attempt = data.attempt
    user = update.effective_user
    assert user is not None and attempt is not None and attempt.account_id is not None
    try:
        proof = await context.bot_data.services.twofactor.verify(
            attempt.account_id, user.id, code, purpose="login"
        )
    except CodeBlocked as exc:
        await end_flow(context, FLOW)
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return CODE
    await end_flow(context, FLOW)
    return await open_session(update, context, attempt, proof, f"{note}\n\n")


def backup_code_note(proof: SecondFactorProof | None) -> str:
    """After a login with a backup code: how many are left (and what to do when few are)."""
    if proof is None or proof.backup_codes_left is None:
        return ""
    left = proof.backup_codes_left
    if left == 0:
        return f"\n\n{texts.LOGIN_LAST_BACKUP_CODE}"
    text = texts.LOGIN_BACKUP_CODE_USED.format(left=count(left, "backup code"))
    return f"\n\n{text}" + (f" {texts.LOGIN_FEW_BACKUP_CODES}" if left <= 3 else "")


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
    limits = session_limits(result.session, services.settings.security.idle_minutes)
    try:
        await message_of(update).reply_text(
            prefix
            + texts.LOGIN_DONE.format(email=escape(result.email), session=limits)
            + backup_code_note(proof)
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


def register(application: VerzekApplication) -> None:
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
            restart_hint=RESTART_HINT,
            secrets={PASSWORD: Secret.PASSWORD, CODE: Secret.CODE},
            guesses=[CAPTCHA],  # bot/captcha_step.py charges a wrong answer
        )
    )
    application.add_handler(CommandHandler("logout", logout))
