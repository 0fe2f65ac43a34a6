"""/terms, /privacy and /paysupport: the global commands Telegram asks every bot for (SPEC §11).

/terms, /privacy and /paysupport show ``texts.terms_file`` / ``texts.privacy_file`` /
``texts.paysupport_file`` when configured (/paysupport then still asks for the message), as
plain text (escaped, so a file can never inject markup), split into messages under Telegram's
4096-character limit; a file that cannot be read falls back to the built-in text with a
warning in the log. /paysupport explains how to get help with a payment and takes one plain
message (at most :data:`core.audit.support.MAX_CHARS` characters) to the admin chat through
the alert outbox (:mod:`core.audit.support`).
"""

from __future__ import annotations

import asyncio
import logging
from html import escape
from pathlib import Path

from telegram import Update
from telegram.ext import CommandHandler, MessageHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flows import END, TEXT, conversation, message_of
from bot.presence import current_session
from bot.wording import count
from core.audit.support import MAX_CHARS, SupportRequestsTooMany
from core.errors import Refusal

logger = logging.getLogger(__name__)

FLOW = "paysupport"
WRITE = 0
TELEGRAM_LIMIT = 4096
MAX_FILE_BYTES = 1_000_000  # a terms file larger than this is a mistake, not a text


def plain_chunks(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """``text`` escaped for HTML, in pieces that each stay within ``limit`` characters (also
    counted escaped and in UTF-16 units, so no reading of Telegram's limit can refuse one).
    Pieces end at line breaks where possible; an escape sequence is never cut."""
    chunks: list[str] = []
    current = ""

    def size(piece: str) -> int:
        return len(piece.encode("utf-16-le")) // 2

    for line in text.splitlines():
        pieces = [escape(ch) for ch in line] if size(escape(line)) > limit else [escape(line)]
        for i, piece in enumerate(pieces):
            glue = "\n" if current and i == 0 else ""
            if current and size(current + glue + piece) > limit:
                chunks.append(current)
                current, glue = "", ""
            current += glue + piece
    if current.strip():
        chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()]


async def _file_text(path: Path | None, name: str) -> str | None:
    """The configured file's text, or None (with a warning) when it cannot be used."""
    if path is None:
        return None
    try:
        raw = await asyncio.to_thread(_read_capped, path)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        logger.warning(
            "texts.%s %s cannot be shown (%s): built-in text used", name, path, type(exc).__name__
        )
        return None
    if not text.strip():
        logger.warning("texts.%s %s is empty: built-in text used", name, path)
        return None
    return text


def _read_capped(path: Path) -> bytes:
    with path.open("rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError("file too large")
    return raw


async def _show(update: Update, text: str) -> None:
    for chunk in plain_chunks(text):
        await message_of(update).reply_text(chunk)


async def show_terms(update: Update, context: Context) -> None:
    """/terms: the operator's terms file, or ours."""
    settings = context.bot_data.services.settings
    text = await _file_text(settings.texts.terms_file, "terms_file")
    await _show(update, text if text is not None else texts.TERMS_DEFAULT)


async def show_privacy(update: Update, context: Context) -> None:
    """/privacy: what is stored, for how long, how to delete it."""
    settings = context.bot_data.services.settings
    text = await _file_text(settings.texts.privacy_file, "privacy_file")
    if text is None:
        retention = count(settings.backups.retention_days, "day")
        text = texts.PRIVACY_DEFAULT.format(retention=retention)
    await _show(update, text)


async def start_support(update: Update, context: Context) -> int:
    """/paysupport: how to get help with a payment (the operator's file, or ours); ask for
    the message."""
    user = update.effective_user
    assert user is not None  # the gate lets no update without a sender through
    try:
        await context.bot_data.services.support.allowed(user.id)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return END
    settings = context.bot_data.services.settings
    text = await _file_text(settings.texts.paysupport_file, "paysupport_file")
    if text is None:
        await message_of(update).reply_text(texts.PAYSUPPORT_INTRO.format(limit=MAX_CHARS))
    else:
        await _show(update, text)
        await message_of(update).reply_text(texts.PAYSUPPORT_ASK.format(limit=MAX_CHARS))
    return WRITE


async def got_message(update: Update, context: Context) -> int:
    """The user's message: send it to the admin chat, or say why not (nothing is sent)."""
    user = update.effective_user
    assert user is not None
    services = context.bot_data.services
    session = await current_session(update, context)
    account_id = session.account_id if session is not None else None
    try:
        # .text, never .text_html: what reaches the admins is the plain text, escaped there
        receipt = await services.support.request(user.id, account_id, message_of(update).text or "")
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return END if isinstance(exc.reason, SupportRequestsTooMany) else WRITE
    await message_of(update).reply_text(texts.PAYSUPPORT_SENT.format(reference=receipt.reference))
    return END


def register(application: VerzekApplication) -> None:
    """Wire /terms, /privacy and /paysupport."""
    application.add_handler(CommandHandler("terms", show_terms))
    application.add_handler(CommandHandler("privacy", show_privacy))
    application.add_handler(
        conversation(
            name=FLOW,
            entry="paysupport",
            entry_callback=start_support,
            states={WRITE: [MessageHandler(TEXT, got_message)]},
            restart_hint=f"Start again with {texts.PAYSUPPORT_RESTART}.",
        )
    )
