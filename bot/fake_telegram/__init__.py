"""The fake Telegram: a supported, in-process test double of the Telegram Bot API.

``verzek shell`` runs the real bot on it (no token, no network), and the tests drive the bot
through it as users would (tests/support/harness.py). :class:`FakeBotAPI` answers the Bot API
methods the bot uses and checks what Telegram checks; :class:`FakeRequest` connects a real
python-telegram-bot ``Application`` to it; :mod:`bot.fake_telegram.entities` adds what Telegram
adds to a user's message (command entities, forward origins); :mod:`bot.fake_telegram.html` is
Telegram's HTML parse mode. The same fake served over HTTP, for a ``verzek run`` in a
subprocess, lives with the tests (tests/support/fakeapi_http.py).
"""

from bot.fake_telegram.api import FakeBotAPI
from bot.fake_telegram.html import html_to_plain
from bot.fake_telegram.records import BOT_USER, Button, Message, ScheduledFailure, TelegramUser
from bot.fake_telegram.request import FakeRequest

__all__ = [
    "BOT_USER",
    "Button",
    "FakeBotAPI",
    "FakeRequest",
    "Message",
    "ScheduledFailure",
    "TelegramUser",
    "html_to_plain",
]
