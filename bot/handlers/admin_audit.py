"""Admin views of the security data: /alerts, /suspicious and /audit EMAIL_OR_ID.

Non-admins never get here: the gate refuses these commands and every ``adm:`` button first,
the handlers carry their own admin filter, and core checks the actor of every read again.
The output names users and their events, so it is shown only in a private chat with an admin
or in the configured admin chat, never in some other group the bot happens to be in.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import CommandHandler

from bot import page_buttons, texts
from bot.audit_views import alert_line, audit_line, rule_label
from bot.commands import ADMIN_CALLBACK_PREFIX, AdminOnly, sender
from bot.context import Context, VerzekApplication
from bot.flows import message_of
from bot.wording import count
from core.audit.activity import AuditTarget, Page
from core.errors import Refusal

CALLBACK_PREFIX = f"{ADMIN_CALLBACK_PREFIX}audit:"  # then an opaque token (bot/page_buttons.py)


def actor_id(update: Update) -> int:
    """The presser's or sender's Telegram user id (the gate lets no update without one)."""
    user = update.effective_user
    assert user is not None
    return user.id


def _allowed_chat(update: Update, context: Context) -> bool:
    chat = update.effective_chat
    if chat is None:
        return False
    admin_chat = context.bot_data.services.settings.telegram.admin_chat_id
    return chat.type == ChatType.PRIVATE or chat.id == admin_chat


async def _refuse_chat(update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(texts.ADMIN_DATA_CHAT_ONLY, show_alert=True)
    else:
        await message_of(update).reply_text(texts.ADMIN_DATA_CHAT_ONLY)


async def alerts(update: Update, context: Context) -> None:
    """The newest alerts and their delivery state."""
    if not _allowed_chat(update, context):
        await _refuse_chat(update)
        return
    recent = await context.bot_data.services.alerts.recent(sender(update), 20)
    if not recent:
        await message_of(update).reply_text(texts.ALERTS_EMPTY)
        return
    await message_of(update).reply_text(
        "\n".join([texts.ALERTS_HEADER, "", *(alert_line(alert) for alert in recent)])
    )


async def suspicious(update: Update, context: Context) -> None:
    """Hits per rule over the last 24 hours."""
    if not _allowed_chat(update, context):
        await _refuse_chat(update)
        return
    summary = await context.bot_data.services.alerts.summary(sender(update), hours=24)
    if not summary:
        await message_of(update).reply_text(texts.SUSPICIOUS_EMPTY)
        return
    lines = [
        texts.SUSPICIOUS_LINE.format(
            rule=escape(rule_label(line.rule)),
            hits=count(line.hits, "hit"),
            subjects=count(line.subjects, "subject"),
            sent=line.alerts_sent,
            pending=line.alerts_pending,
        )
        for line in summary
    ]
    await message_of(update).reply_text("\n".join([texts.SUSPICIOUS_HEADER, "", *lines]))


def render(target: AuditTarget, page: Page) -> str:
    """One page of an account's (or Telegram user's) trail."""
    if target.kind == "account":
        header = texts.AUDIT_HEADER_ACCOUNT.format(
            id=target.id, email=escape(target.email or "deleted account")
        )
    else:
        header = texts.AUDIT_HEADER_TELEGRAM.format(id=target.id)
    if not page.events:
        return f"{header}\n\n{texts.AUDIT_EMPTY}"
    return "\n".join([header, "", *(audit_line(row) for row in page.events)])


def keyboard(
    target: AuditTarget, page: Page, sheet: page_buttons.PageSheet
) -> InlineKeyboardMarkup | None:
    """Newer/Older buttons (admin callback data: the gate refuses them to non-admins); the
    subject and cursor stay in ``sheet``, on the server."""
    kind = "a" if target.kind == "account" else "t"
    buttons = []
    if page.has_newer and page.newest_id is not None:
        data = sheet.button(CALLBACK_PREFIX, f"{kind}:{target.id}:n:{page.newest_id}")
        buttons.append(InlineKeyboardButton(texts.PAGE_NEWER, callback_data=data))
    if page.has_older and page.oldest_id is not None:
        data = sheet.button(CALLBACK_PREFIX, f"{kind}:{target.id}:o:{page.oldest_id}")
        buttons.append(InlineKeyboardButton(texts.PAGE_OLDER, callback_data=data))
    return InlineKeyboardMarkup([buttons]) if buttons else None


async def _session_id(context: Context, telegram_user_id: int) -> int | None:
    session = await context.bot_data.services.sessions.current(telegram_user_id)
    return session.id if session is not None else None


async def audit(update: Update, context: Context) -> None:
    """/audit EMAIL | ACCOUNT_ID | tg:TELEGRAM_USER_ID — that subject's newest events."""
    if not _allowed_chat(update, context):
        await _refuse_chat(update)
        return
    args = context.args or []
    if len(args) != 1:
        await message_of(update).reply_text(texts.AUDIT_USAGE)
        return
    activity = context.bot_data.services.activity
    actor = sender(update)
    try:
        target = await activity.resolve_target(actor, args[0])
    except Refusal as exc:
        await message_of(update).reply_text(f"{texts.render(exc)}\n\n{texts.AUDIT_USAGE}")
        return
    await activity.record_admin_view(actor, target)
    page = await activity.target_page(actor, target)
    message = message_of(update)
    user_id = actor_id(update)
    sheet = page_buttons.new_sheet(
        context.bot_data, user_id, message.chat_id, await _session_id(context, user_id)
    )
    sent = await message.reply_text(
        render(target, page), reply_markup=keyboard(target, page, sheet)
    )
    page_buttons.keep(context.bot_data, CALLBACK_PREFIX, sheet, sent.message_id)


async def turn_page(update: Update, context: Context) -> None:
    """Older/Newer on an /audit page."""
    query = update.callback_query
    assert query is not None
    if not _allowed_chat(update, context):
        await _refuse_chat(update)
        return
    message = query.message
    user_id = actor_id(update)
    if message is None:
        await query.answer(texts.STALE_BUTTON, show_alert=True)
        return
    session_id = await _session_id(context, user_id)
    bot_data = context.bot_data
    try:
        cursor = page_buttons.resolve(
            bot_data,
            CALLBACK_PREFIX,
            query.data or "",
            user_id,
            message.chat.id,
            message.message_id,
            session_id,
        )
    except page_buttons.Refused as exc:
        await query.answer(
            texts.STALE_BUTTON if exc.stale else texts.PICKER_NOT_YOURS, show_alert=True
        )
        return
    kind, subject, direction, event = cursor.split(":")
    subject_id, event_id = int(subject), int(event)
    activity = bot_data.services.activity
    actor = sender(update)
    if kind == "a":
        target = await activity.account_target(actor, subject_id)
    else:
        target = AuditTarget("telegram", subject_id)
    if direction == "o":
        page = await activity.target_page(actor, target, before_id=event_id)
    else:
        page = await activity.target_page(actor, target, after_id=event_id)
    await query.answer()
    sheet = page_buttons.new_sheet(bot_data, user_id, message.chat.id, session_id)
    markup = keyboard(target, page, sheet)
    page_buttons.keep(bot_data, CALLBACK_PREFIX, sheet, message.message_id)
    try:
        await query.edit_message_text(render(target, page), reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in exc.message:
            raise


def register(application: VerzekApplication, admins: AdminOnly) -> None:
    """Wire /alerts, /suspicious, /audit and the /audit page buttons (admin-filtered)."""
    only = admins.filter
    page_buttons.store_of(application.bot_data, CALLBACK_PREFIX)  # pages shown elsewhere too
    application.add_handler(CommandHandler("alerts", alerts, filters=only))
    application.add_handler(CommandHandler("suspicious", suspicious, filters=only))
    application.add_handler(CommandHandler("audit", audit, filters=only))
    application.add_handler(admins.button(turn_page, pattern=f"^{CALLBACK_PREFIX}"))
