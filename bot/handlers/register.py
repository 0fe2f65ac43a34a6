"""/register: email → password (typed twice) → captcha → optional referral code → logged in.

The referral step offers the code of an invite link the user opened (/start ref_CODE,
:class:`bot.flow_state.Invitation`) as a "Use CODE" button; another code can still be typed,
or the step skipped. The button carries no code: the remembered one is read when pressed.

Only the password's hash is kept between steps; the second typing is checked against it, so
no plaintext password ever sits in the flow's data (which may be persisted).
"""

from __future__ import annotations

import logging
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, MessageHandler

from bot import texts
from bot.captcha_step import CaptchaOutcome, captcha_enabled, check_captcha, send_captcha
from bot.context import Context, VerzekApplication
from bot.flow_state import INVITATION, Invitation, RegisterDraft
from bot.flows import (
    END,
    TEXT,
    Secret,
    conversation,
    email_step,
    end_flow,
    flow_state,
    message_of,
    take_secret,
)
from bot.session_view import session_limits
from core.errors import Refusal

logger = logging.getLogger(__name__)

EMAIL, PASSWORD, CONFIRM, CAPTCHA, REFERRAL = range(5)
FLOW = "register"
SKIP_DATA = "reg:skip"
INVITED_DATA = "reg:invited"
RESTART_HINT = "Start again with /register."


def total_steps(context: Context) -> int:
    """Email, password, [captcha,] referral: the count people see must match what they get."""
    return 4 if captcha_enabled(context) else 3


async def start_registration(update: Update, context: Context) -> int:
    """Begin: ask for the email."""
    await end_flow(context, FLOW)
    await message_of(update).reply_text(texts.REG_ASK_EMAIL.format(total=total_steps(context)))
    return EMAIL


async def got_email(update: Update, context: Context) -> int:
    """Validate the email; ask for a password."""
    prompt = texts.REG_ASK_PASSWORD.format(total=total_steps(context))
    ok = await email_step(update, context, FLOW, prompt)
    return PASSWORD if ok else EMAIL


async def got_password(update: Update, context: Context) -> int:
    """Delete the password message, check the rules, keep only its hash; ask for it again."""
    password, note = await take_secret(update, "password")
    data = flow_state(context, FLOW, RegisterDraft)
    accounts = context.bot_data.services.accounts
    try:
        await accounts.check_new_password(password, data.email or "")
    except Refusal as exc:
        await message_of(update).reply_text(
            f"{note}\n\n{texts.render(exc)}\n\n{texts.REG_TRY_ANOTHER_PASSWORD}"
        )
        return PASSWORD
    data.password_hash = await accounts.passwords.hash(password)
    del password
    confirm = texts.REG_CONFIRM_PASSWORD.format(total=total_steps(context))
    await message_of(update).reply_text(f"{note}\n\n{confirm}")
    return CONFIRM


async def got_confirmation(update: Update, context: Context) -> int:
    """Compare the second typing with the first (by its hash); a typo means choosing again."""
    typed, note = await take_secret(update, "password")
    data = flow_state(context, FLOW, RegisterDraft)
    accounts = context.bot_data.services.accounts
    same = await accounts.passwords.verify(data.password_hash or "", typed)
    del typed
    if not same:
        data.password_hash = None
        again = texts.REG_ASK_PASSWORD.format(total=total_steps(context))
        await message_of(update).reply_text(f"{note}\n\n{texts.PASSWORDS_DIFFER}\n\n{again}")
        return PASSWORD
    if captcha_enabled(context):
        await message_of(update).reply_text(note)
        await send_captcha(update, context, data, texts.REG_CAPTCHA.format(total=4))
        return CAPTCHA
    await ask_referral(update, context, note)
    return REFERRAL


def invitation(context: Context) -> str | None:
    """The code of the invite link this user opened, if any."""
    held = (context.user_data or {}).get(INVITATION)
    return held.code if isinstance(held, Invitation) and held.code else None


async def ask_referral(update: Update, context: Context, prefix: str = "") -> None:
    """Offer the optional referral code with a Skip button (and the invite's code, if any)."""
    skip = InlineKeyboardButton(texts.SKIP, callback_data=SKIP_DATA)
    total = total_steps(context)
    invited = invitation(context)
    if invited is None:
        keyboard = InlineKeyboardMarkup([[skip]])
        question = texts.REG_ASK_REFERRAL.format(step=total, total=total)
    else:
        flow_state(context, FLOW, RegisterDraft).offered_code = invited
        use = InlineKeyboardButton(texts.USE_CODE.format(code=invited), callback_data=INVITED_DATA)
        keyboard = InlineKeyboardMarkup([[use], [skip]])
        question = texts.REG_ASK_REFERRAL_INVITED.format(
            step=total, total=total, code=escape(invited)
        )
    text = f"{prefix}\n\n{question}" if prefix else question
    await message_of(update).reply_text(text, reply_markup=keyboard)


async def got_captcha(update: Update, context: Context) -> int:
    """Check the captcha answer; after too many pictures the flow ends."""
    data = flow_state(context, FLOW, RegisterDraft)
    outcome = await check_captcha(update, context, data)
    if outcome is CaptchaOutcome.PASSED:
        await ask_referral(update, context)
        return REFERRAL
    if outcome is CaptchaOutcome.FAILED:
        await end_flow(context, FLOW)
        await message_of(update).reply_text(texts.CAPTCHA_RESTART.format(restart=RESTART_HINT))
        return END
    return CAPTCHA


async def got_referral(update: Update, context: Context) -> int:
    """A typed referral code: create the account if it exists."""
    code = (message_of(update).text or "").strip()
    if not await context.bot_data.services.accounts.referral_code_exists(code):
        await message_of(update).reply_text(texts.REG_UNKNOWN_REFERRAL)
        return REFERRAL
    return await create_account(update, context, code.upper())


async def used_invitation(update: Update, context: Context) -> int:
    """The "Use CODE" button: create the account with the code it showed, when that is
    still known (its account may have gone since the question was asked)."""
    code = flow_state(context, FLOW, RegisterDraft).offered_code
    if code is None or not await context.bot_data.services.accounts.referral_code_exists(code):
        await tidy_button(update)
        await message_of(update).reply_text(texts.REG_UNKNOWN_REFERRAL)
        return REFERRAL
    await tidy_button(update)
    return await create_account(update, context, code)


async def skipped_referral(update: Update, context: Context) -> int:
    """The Skip button: create the account without a referrer."""
    await tidy_button(update)
    return await create_account(update, context, None)


async def tidy_button(update: Update) -> None:
    """Answer the pressed button and take the keyboard away."""
    query = update.callback_query
    assert query is not None
    try:
        await query.answer()
        await query.edit_message_reply_markup(None)
    except TelegramError as exc:
        # Only cosmetic (the button's spinner, the old keyboard): a Telegram outage must not
        # cost the user the account they just finished setting up.
        logger.warning("could not tidy up a referral button: %s", type(exc).__name__)


async def create_account(update: Update, context: Context, code: str | None) -> int:
    """Store the account and open its first session; the flow ends whatever happens."""
    data = flow_state(context, FLOW, RegisterDraft)
    await end_flow(context, FLOW)
    user = update.effective_user
    assert user is not None
    services = context.bot_data.services
    try:
        account = await services.accounts.register(
            email=data.email or "",
            password_hash=data.password_hash or "",
            referral_code=code,
            telegram_user_id=user.id,
            sign_in=True,
        )
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return END
    if context.user_data is not None:
        context.user_data.pop(INVITATION, None)  # the account exists: the invite is spent
    session = await services.sessions.current(user.id)
    referred = texts.REG_REFERRED.format(code=escape(code)) if code else ""
    limits = (
        session_limits(session, services.settings.security.idle_minutes)
        if session is not None
        else texts.LOGIN_FIRST
    )
    try:
        await message_of(update).reply_text(
            texts.REG_DONE.format(
                email=escape(account.email),
                code=account.referral_code,
                referred=referred,
                session=limits,
            )
        )
    except TelegramError as exc:
        # The account is committed, so the flow is over even if Telegram lost the news:
        # raising here would leave the user stuck in a finished flow.
        logger.warning("account created; Telegram did not take the reply: %s", type(exc).__name__)
    return END


def register(application: VerzekApplication) -> None:
    """Wire /register."""
    application.add_handler(
        conversation(
            name=FLOW,
            entry="register",
            entry_callback=start_registration,
            states={
                EMAIL: [MessageHandler(TEXT, got_email)],
                PASSWORD: [MessageHandler(TEXT, got_password)],
                CONFIRM: [MessageHandler(TEXT, got_confirmation)],
                CAPTCHA: [MessageHandler(TEXT, got_captcha)],
                REFERRAL: [
                    MessageHandler(TEXT, got_referral),
                    CallbackQueryHandler(skipped_referral, pattern=f"^{SKIP_DATA}$"),
                    CallbackQueryHandler(used_invitation, pattern=f"^{INVITED_DATA}$"),
                ],
            },
            restart_hint=RESTART_HINT,
            secrets={PASSWORD: Secret.NEW_SECRET, CONFIRM: Secret.NEW_SECRET},
            guesses=[CAPTCHA],  # bot/captcha_step.py charges a wrong answer
        )
    )
