"""/register: email → password → captcha → optional referral code."""

from __future__ import annotations

import logging
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, MessageHandler

from bot import texts
from bot.captcha_step import CaptchaOutcome, captcha_enabled, check_captcha, send_captcha
from bot.context import Context
from bot.flows import (
    END,
    TEXT,
    Secret,
    clear_flow,
    conversation,
    email_step,
    flow_data,
    message_of,
    take_secret,
)
from core.errors import UserError

logger = logging.getLogger(__name__)

EMAIL, PASSWORD, CAPTCHA, REFERRAL = range(4)
FLOW = "register"
SKIP_DATA = "reg:skip"


async def start_registration(update: Update, context: Context) -> int:
    """Begin: ask for the email."""
    clear_flow(context, FLOW)
    await message_of(update).reply_text(texts.REG_ASK_EMAIL)
    return EMAIL


async def got_email(update: Update, context: Context) -> int:
    """Validate the email; ask for a password."""
    ok = await email_step(update, context, FLOW, texts.REG_ASK_PASSWORD)
    return PASSWORD if ok else EMAIL


async def got_password(update: Update, context: Context) -> int:
    """Delete the password message, check the rules, keep only its hash."""
    password, note = await take_secret(update, "password")
    data = flow_data(context, FLOW)
    accounts = context.bot_data.services.accounts
    try:
        await accounts.check_new_password(password, data["email"])
    except UserError as exc:
        await message_of(update).reply_text(
            f"{note}\n\n{exc.user_message}\n\n{texts.REG_TRY_ANOTHER_PASSWORD}"
        )
        return PASSWORD
    data["password_hash"] = await accounts.passwords.hash(password)
    if captcha_enabled(context):
        await message_of(update).reply_text(note)
        await send_captcha(update, context, data, texts.REG_CAPTCHA)
        return CAPTCHA
    await ask_referral(update, note)
    return REFERRAL


async def ask_referral(update: Update, prefix: str = "") -> None:
    """Offer the optional referral code with a Skip button."""
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(texts.SKIP, callback_data=SKIP_DATA)]])
    text = f"{prefix}\n\n{texts.REG_ASK_REFERRAL}" if prefix else texts.REG_ASK_REFERRAL
    await message_of(update).reply_text(text, reply_markup=keyboard)


async def got_captcha(update: Update, context: Context) -> int:
    """Check the captcha answer."""
    data = flow_data(context, FLOW)
    outcome = await check_captcha(update, context, data)
    if outcome is CaptchaOutcome.PASSED:
        await ask_referral(update)
        return REFERRAL
    if outcome is CaptchaOutcome.RESTART:
        clear_flow(context, FLOW)
        await message_of(update).reply_text(texts.REG_ASK_EMAIL)
        return EMAIL
    return CAPTCHA


async def got_referral(update: Update, context: Context) -> int:
    """A typed referral code: create the account if it exists."""
    code = (message_of(update).text or "").strip()
    if not await context.bot_data.services.accounts.referral_code_exists(code):
        await message_of(update).reply_text(texts.REG_UNKNOWN_REFERRAL)
        return REFERRAL
    return await create_account(update, context, code)


async def skipped_referral(update: Update, context: Context) -> int:
    """The Skip button: create the account without a referrer."""
    query = update.callback_query
    assert query is not None
    try:
        await query.answer()
        await query.edit_message_reply_markup(None)
    except TelegramError as exc:
        # Only cosmetic (the button's spinner, the old keyboard): a Telegram outage must not
        # cost the user the account they just finished setting up.
        logger.warning("could not tidy up the Skip button: %s", type(exc).__name__)
    return await create_account(update, context, None)


async def create_account(update: Update, context: Context, code: str | None) -> int:
    """Store the account; the flow ends whatever happens."""
    data = flow_data(context, FLOW)
    clear_flow(context, FLOW)
    user = update.effective_user
    assert user is not None
    try:
        account = await context.bot_data.services.accounts.register(
            email=data["email"],
            password_hash=data["password_hash"],
            referral_code=code,
            telegram_user_id=user.id,
        )
    except UserError as exc:
        await message_of(update).reply_text(exc.user_message)
        return END
    try:
        await message_of(update).reply_text(
            texts.REG_DONE.format(email=escape(account.email), code=account.referral_code)
        )
    except TelegramError as exc:
        # The account is committed, so the flow is over even if Telegram lost the news:
        # raising here would leave the user stuck in a finished flow.
        logger.warning("account created; Telegram did not take the reply: %s", type(exc).__name__)
    return END


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Wire /register."""
    application.add_handler(
        conversation(
            name=FLOW,
            entry="register",
            entry_callback=start_registration,
            states={
                EMAIL: [MessageHandler(TEXT, got_email)],
                PASSWORD: [MessageHandler(TEXT, got_password)],
                CAPTCHA: [MessageHandler(TEXT, got_captcha)],
                REFERRAL: [
                    MessageHandler(TEXT, got_referral),
                    CallbackQueryHandler(skipped_referral, pattern=f"^{SKIP_DATA}$"),
                ],
            },
            restart_hint="Start again with /register.",
            secrets={PASSWORD: Secret.NEW_SECRET},
            guesses=[CAPTCHA],  # bot/captcha_step.py charges a wrong answer
        )
    )
