"""``telegram.mode = "webhook"``: Telegram POSTs updates to the bot instead of being polled.

python-telegram-bot serves the webhook (``Application.run_webhook``, a tornado server): it
calls ``setWebhook`` at start with our ``secret_token``, ``allowed_updates`` and
``drop_pending_updates=False`` (updates queued while the bot was down are still answered), and
refuses with 403 and processes nothing any request whose ``X-Telegram-Bot-Api-Secret-Token``
header is missing or wrong, or whose body is not JSON. PTB leaves the webhook set when it
stops; we remove it (``deleteWebhook``) unless ``telegram.webhook_remove_on_stop`` is false,
which several instances behind one URL need (one stopping must not cut off the others).

An update is answered 200 only once it was handled, and a redelivered one runs once: PTB's
server with our handler (bot/webhook_server.py, bot/acks.py).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlsplit

from telegram.error import TelegramError

from bot.acks import Acks, HandledUpdates
from bot.context import VerzekApplication
from bot.update_processor import PerUserUpdateProcessor
from bot.webhook_server import AckingUpdater
from core.config import Settings

logger = logging.getLogger(__name__)

# What the bot handles (the gate drops the rest): messages and their edits, buttons, and the
# pre-checkout queries of Telegram payments. Fewer kinds, less to be sent.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "pre_checkout_query"]


class SecretToken(str):
    """The webhook secret as PTB compares it (``token != secret_token``), in constant time.

    PTB's check is a plain string comparison, which stops at the first differing character.
    Python asks the right operand first when its type is a subclass of the left one's, so
    handing PTB this subclass makes its ``!=`` an :func:`hmac.compare_digest`. ``repr()``
    hides the value (PTB passes it on to ``setWebhook`` as the string it is).
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(
            str.encode(self, "utf-8"), other.encode("utf-8", "surrogateescape")
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return "SecretToken('**********')"


def url_path(webhook_url: str) -> str:
    """The path the bot serves: the public URL's (a reverse proxy passes it on unchanged)."""
    return urlsplit(webhook_url).path or "/"


def run_webhook(application: VerzekApplication, settings: Settings) -> None:
    """Serve the webhook until a stop signal; set it first, remove it after (see module)."""
    telegram = settings.telegram
    assert telegram.webhook_url is not None and telegram.webhook_secret is not None
    if telegram.webhook_remove_on_stop:
        if application.post_stop is not None:
            raise RuntimeError("the Application already has a post_stop hook")
        application.post_stop = remove_webhook
    acks_when_handled(application)
    application.run_webhook(
        listen=telegram.webhook_listen,
        port=telegram.webhook_port,
        url_path=url_path(telegram.webhook_url),
        webhook_url=telegram.webhook_url,
        secret_token=SecretToken(telegram.webhook_secret.get()),
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
    )


async def remove_webhook(application: Any) -> None:
    """``post_stop``: ``deleteWebhook`` (pending updates kept for the next start)."""
    try:
        await application.bot.delete_webhook(drop_pending_updates=False)
    except TelegramError as exc:  # the bot stops anyway; the next start sets it again
        logger.warning("could not remove the webhook: %s", type(exc).__name__)
    else:
        logger.info("webhook removed")


def acks_when_handled(application: VerzekApplication) -> None:
    """Serve the webhook with bot/webhook_server.py's updater, and run each update id once."""
    acks = Acks(application)
    processor = application.update_processor
    if not isinstance(processor, PerUserUpdateProcessor):
        raise RuntimeError("the webhook needs the per-user update processor")
    processor.ledger = HandledUpdates(application, acks)
    application.updater = AckingUpdater(acks)
