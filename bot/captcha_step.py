"""The captcha step shared by /register and /login."""

from __future__ import annotations

from enum import Enum
from typing import Any

from telegram import Update

from bot import texts
from bot.context import Context
from bot.flows import charge_auth_failure, message_of
from core.captcha import MAX_TRIES, Captcha


class CaptchaOutcome(Enum):
    PASSED = "passed"
    RETRY = "retry"  # wrong, a new picture was sent
    RESTART = "restart"  # wrong for the last time


def captcha_enabled(context: Context) -> bool:
    """``security.captcha`` from the config."""
    return context.bot_data.services.settings.security.captcha


async def send_captcha(update: Update, context: Context, data: dict[str, Any], intro: str) -> None:
    """Send a new captcha picture and remember its answer in the flow's data."""
    captcha = await context.bot_data.services.captcha.new()
    data["captcha"] = captcha
    left = MAX_TRIES - data.get("captcha_tries", 0)
    await message_of(update).reply_photo(
        captcha.image_png, caption=f"{intro}\n\n{texts.CAPTCHA_PROMPT.format(left=left)}"
    )


async def check_captcha(update: Update, context: Context, data: dict[str, Any]) -> CaptchaOutcome:
    """Compare the typed answer; send a new picture or ask for a restart when wrong."""
    captcha: Captcha | None = data.get("captcha")
    typed = message_of(update).text or ""
    if captcha is not None and captcha.matches(typed):
        data.pop("captcha", None)
        return CaptchaOutcome.PASSED
    await charge_auth_failure(update, context)  # a wrong captcha is a guess (SPEC §5)
    data["captcha_tries"] = data.get("captcha_tries", 0) + 1
    if data["captcha_tries"] >= MAX_TRIES:
        await message_of(update).reply_text(texts.CAPTCHA_RESTART)
        return CaptchaOutcome.RESTART
    await send_captcha(update, context, data, texts.CAPTCHA_WRONG)
    return CaptchaOutcome.RETRY
