"""The captcha step shared by /register and /login.

A picture takes :data:`~core.captcha.MAX_TRIES` answers; after that a new picture is shown, up
to :data:`~core.captcha.MAX_PICTURES` per flow, and then the flow ends. Only the current
picture stays in the chat: the previous one is deleted when a new one is sent, and the last one
when the step is passed or the flow ends (also on /cancel and timeout, through the flow's
clean-up list).
"""

from __future__ import annotations

import logging
from enum import Enum

from telegram import Update
from telegram.error import TelegramError

from bot import texts
from bot.context import Context
from bot.flow_state import CaptchaFlowState
from bot.flows import charge_auth_failure, message_of
from bot.wording import count, join_words
from core.adapters.captcha_image import LEFT_OUT, MAX_PICTURES, MAX_TRIES

logger = logging.getLogger(__name__)


class CaptchaOutcome(Enum):
    PASSED = "passed"
    RETRY = "retry"  # wrong; the same picture again, or a new one after MAX_TRIES
    FAILED = "failed"  # wrong on the last try of the last picture: the flow must end


def captcha_enabled(context: Context) -> bool:
    """``security.captcha`` from the config."""
    return context.bot_data.services.settings.security.captcha


def tries_left(left: int) -> str:
    """ "3 tries left", "1 try left"."""
    return texts.CAPTCHA_TRIES_LEFT.format(tries=count(left, "try", "tries"))


def captcha_caption(intro: str, left: int) -> str:
    """The text under a picture: the step, what to type, what it never uses, tries left."""
    prompt = texts.CAPTCHA_PROMPT.format(
        left_out=join_words(list(LEFT_OUT)), tries_left=tries_left(left)
    )
    return f"{intro}\n\n{prompt}" if intro else prompt


async def remove_captcha(context: Context, data: CaptchaFlowState) -> None:
    """Delete the picture on screen, if any (best effort: it holds no secret)."""
    picture, data.captcha_picture, data.captcha = data.captcha_picture, None, None
    if picture is None:
        return
    chat_id, message_id = picture
    # compared as tuples: a flow persisted by an older version may hold lists
    data.cleanup = [m for m in data.cleanup if tuple(m) != (chat_id, message_id)]
    try:
        await context.bot.delete_message(chat_id, message_id)
    except TelegramError as exc:
        logger.warning("could not delete an old captcha picture: %s", type(exc).__name__)


async def send_captcha(
    update: Update, context: Context, data: CaptchaFlowState, intro: str
) -> None:
    """Replace the picture on screen by a new one and remember its answer in the flow's data."""
    await remove_captcha(context, data)
    captcha = await context.bot_data.services.captcha.new()
    data.captcha = captcha
    data.captcha_tries = 0
    data.captcha_pictures += 1
    sent = await message_of(update).reply_photo(
        captcha.image_png, caption=captcha_caption(intro, MAX_TRIES)
    )
    picture = (sent.chat_id, sent.message_id)
    data.captcha_picture = picture
    # /cancel and the timeout delete what is listed here (bot.flows.end_flow).
    data.cleanup.append(picture)


async def check_captcha(update: Update, context: Context, data: CaptchaFlowState) -> CaptchaOutcome:
    """Compare the typed answer: the same picture again, a new one, or the end of the flow.

    A wrong answer is decided here (the one place such an answer is known to be wrong).
    """
    captcha = data.captcha
    typed = message_of(update).text or ""
    if captcha is not None and captcha.matches(typed):
        await remove_captcha(context, data)
        return CaptchaOutcome.PASSED
    await charge_auth_failure(update, context)  # a wrong captcha is a guess (SPEC §5)
    data.captcha_tries += 1
    left = MAX_TRIES - data.captcha_tries
    if left > 0 and captcha is not None:
        await message_of(update).reply_text(texts.CAPTCHA_WRONG.format(tries_left=tries_left(left)))
        return CaptchaOutcome.RETRY
    if data.captcha_pictures < MAX_PICTURES:
        await send_captcha(update, context, data, texts.CAPTCHA_NEW_PICTURE)
        return CaptchaOutcome.RETRY
    await remove_captcha(context, data)
    return CaptchaOutcome.FAILED
