"""Every text the bot shows, by feature, in one catalogue per language (HTML parse mode).

``bot/texts/en/<feature>.py`` holds the English texts of one feature: the constants handlers
use (``texts.LOGIN_DONE``) and ``REFUSALS``, the words for each typed refusal core raises
(:class:`core.errors.Reason`). :func:`render` turns a refusal into the sentence to send.
Another language is another ``bot/texts/<lang>/`` package with the same modules, listed in
``bot/texts/catalogue.py``; tests/test_texts_catalogue.py fails while any reason has no text.
"""

from __future__ import annotations

# The English constants stay importable as ``texts.NAME``: handlers read them all the time.
from bot.texts.catalogue import render as render
from bot.texts.en.accounts import *  # noqa: F403
from bot.texts.en.admin import *  # noqa: F403
from bot.texts.en.apikeys import *  # noqa: F403
from bot.texts.en.audit import *  # noqa: F403
from bot.texts.en.backups import *  # noqa: F403
from bot.texts.en.care import *  # noqa: F403
from bot.texts.en.common import *  # noqa: F403
from bot.texts.en.info import *  # noqa: F403
from bot.texts.en.links import *  # noqa: F403
from bot.texts.en.payments import *  # noqa: F403
from bot.texts.en.payments_screen import *  # noqa: F403
from bot.texts.en.payments_watch import *  # noqa: F403
from bot.texts.en.pickers import *  # noqa: F403
from bot.texts.en.safety import *  # noqa: F403
from bot.texts.en.sessions import *  # noqa: F403
from bot.texts.en.stars import *  # noqa: F403
from bot.texts.en.twofactor import *  # noqa: F403
from bot.texts.en.wallet import *  # noqa: F403
