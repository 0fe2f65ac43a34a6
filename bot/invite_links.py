"""Invite links: ``https://t.me/<bot>?start=ref_<CODE>`` and the Share button for one."""

from __future__ import annotations

from urllib.parse import quote

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import texts

REFERRAL_PREFIX = "ref_"  # /start ref_CODE (bot/handlers/start.py reads it back)


def invite_link(bot_username: str, code: str) -> str:
    """The link that opens this bot with ``/start ref_<code>``."""
    return f"https://t.me/{bot_username}?start={REFERRAL_PREFIX}{code}"


def share_keyboard(link: str) -> InlineKeyboardMarkup:
    """One URL button opening Telegram's share sheet with the link and a line of text."""
    url = (
        f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(texts.SHARE_TEXT, safe='')}"
    )
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.SHARE, url=url)]])
