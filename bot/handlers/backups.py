"""/backup, /backups and /restore NAME (admins only: the gate refuses everyone else, each
handler carries its own admin filter, and core checks the actor again).

/backup and /restore change data, so they also need the admin's own session with 2FA on;
/restore then asks for a confirmation press and a fresh 2FA code, and runs in a private chat
only (the code must not be typed where others read along).
"""

from __future__ import annotations

import contextlib
import logging
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import CommandHandler, MessageHandler

from bot import texts
from bot.admin_chat import tell_admin_chat
from bot.commands import ADMIN_CALLBACK_PREFIX, AdminOnly, sender
from bot.context import Context, VerzekApplication
from bot.flow_state import RestoreDraft
from bot.flows import (
    END,
    TEXT,
    Secret,
    conversation,
    end_flow,
    flow_state,
    message_of,
    require_admin_session,
    take_secret,
)
from bot.pickers import Choice, Picker, offer, picked
from bot.wording import count
from core.accounts.sessions import Session
from core.audit.routing_rules import BACKUP_FAILED, RESTORE_DONE
from core.authz import Actor
from core.backups.archive_rules import BackupError, Manifest, UnsealedArchive, human_size
from core.backups.results import BackupInfo, DrillResult, RestoreIncomplete
from core.backups.service import MANUAL
from core.errors import Refusal
from core.twofactor.service import CodeBlocked

logger = logging.getLogger(__name__)

RESTORE = "restore"
CONFIRM, CODE = range(2)
# "adm:" makes the gate refuse these buttons to non-admins, even with forged callback data.
GO = f"{ADMIN_CALLBACK_PREFIX}restore:go"
STOP = f"{ADMIN_CALLBACK_PREFIX}restore:cancel"
MESSAGE_LIMIT = 4096
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


async def tell_admins(context: Context, text: str, rule: str = BACKUP_FAILED) -> None:
    """Send ``text`` to the admin chat as ``alerts.routing``/``topics`` route ``rule``
    (bot/admin_chat.py); a failure is logged, never raised."""
    await tell_admin_chat(context.bot, context.bot_data.services.settings, text, rule)


def _rows(manifest: Manifest | None) -> str:
    return count(sum(manifest.row_counts.values()), "row") if manifest is not None else "? rows"


def _tables(manifest: Manifest | None) -> str:
    return count(len(manifest.row_counts), "table") if manifest is not None else "? tables"


def _item(info: BackupInfo) -> str:
    """One archive in the /backups list."""
    manifest = info.manifest
    counts = (
        ", ".join(f"{escape(table)} {rows}" for table, rows in manifest.row_counts.items())
        if manifest is not None
        else "no readable manifest"
    )
    status = (
        texts.BACKUPS_VERIFIES
        if info.verified
        else texts.BACKUPS_UNSEALED
        if info.unsealed
        else texts.BACKUPS_FAILS.format(problem=escape(info.problem or "unknown"))
    )
    return texts.BACKUPS_ITEM.format(
        mark="✅" if info.verified else "❌",
        name=escape(info.name),
        time=info.created_at.strftime(TIME_FORMAT),
        size=human_size(info.size),
        schema=manifest.schema_version if manifest is not None else "?",
        status=status,
        counts=counts,
    )


def drill_report(result: DrillResult) -> str:
    """The admin chat's message about a restore drill."""
    info = result.info
    if not result.passed:
        return texts.DRILL_FAILED.format(
            name=escape(info.name), reason=escape(info.problem or "unknown")
        )
    manifest = info.manifest
    counts = (
        ", ".join(f"{escape(table)} {rows}" for table, rows in manifest.row_counts.items())
        if manifest is not None
        else ""
    )
    return texts.DRILL_PASSED.format(
        name=escape(info.name),
        time=info.created_at.strftime(TIME_FORMAT),
        rows=_rows(manifest),
        tables=_tables(manifest),
        counts=counts,
    )


def _messages(blocks: list[str]) -> list[str]:
    """Blocks joined by blank lines into as few messages as Telegram's length limit allows."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        block = block[:MESSAGE_LIMIT]
        if current and len(current) + 2 + len(block) > MESSAGE_LIMIT:
            messages.append(current)
            current = ""
        current = f"{current}\n\n{block}" if current else block
    if current:
        messages.append(current)
    return messages


async def backup_now(update: Update, context: Context) -> None:
    """Make a backup now and say how it went."""
    session = await require_admin_session(update, context)
    if session is None:
        return
    message = message_of(update)
    await message.reply_text(texts.BACKUP_STARTED)
    try:
        info = await context.bot_data.services.backups.create(
            Actor.of_session(session), reason=MANUAL
        )
    except BackupError as exc:
        logger.error("a backup requested by an admin failed: %s", exc.problem)
        reason = escape(exc.problem)
        await message.reply_text(texts.BACKUP_FAILED.format(reason=reason))
        what = texts.BACKUP_ALERT_MANUAL.format(admin=session.telegram_user_id)
        await tell_admins(context, texts.BACKUP_ALERT.format(what=what, reason=reason))
        return
    manifest = info.manifest
    await message.reply_text(
        texts.BACKUP_DONE.format(
            name=escape(info.name),
            size=human_size(info.size),
            schema=manifest.schema_version if manifest is not None else "?",
            rows=_rows(manifest),
            tables=_tables(manifest),
        )
    )


async def list_backups(update: Update, context: Context) -> None:
    """Every archive with its time, size, row counts and whether it verifies."""
    message = message_of(update)
    infos = await context.bot_data.services.backups.list_backups(sender(update))
    if not infos:
        await message.reply_text(texts.BACKUPS_EMPTY)
        return
    blocks = [texts.BACKUPS_HEADER, *(_item(info) for info in infos), texts.BACKUPS_FOOTER]
    for text in _messages(blocks):
        await message.reply_text(text)


# --- restore -------------------------------------------------------------------------------


async def _archive_choices(context: Context, session: Session) -> list[Choice]:
    """Every archive, newest first as /backups lists them: ``time · size · ✅/❌``."""
    infos = await context.bot_data.services.backups.list_backups(Actor.of_session(session))
    return [
        Choice(
            i.name,
            f"{i.created_at:%Y-%m-%d %H:%M} · {human_size(i.size)} · "
            + ("✅" if i.verified else "❌"),
        )
        for i in infos
    ]


ARCHIVES = Picker(RESTORE, texts.PICK_RESTORE, texts.PICK_RESTORE_NONE, _archive_choices, True)


async def start_restore(update: Update, context: Context) -> int:
    """Check the name, show what the archive holds and ask for a confirmation press."""
    await end_flow(context, RESTORE)
    message = message_of(update)
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        await message.reply_text(texts.RESTORE_PRIVATE_ONLY)
        return END
    session = await require_admin_session(update, context)
    if session is None:
        return END
    args = context.args or []
    if not args:  # bare: buttons of the backups (bot/pickers.py)
        return await offer(update, context, ARCHIVES, session)
    if len(args) != 1:
        await message.reply_text(texts.RESTORE_USAGE)
        return END
    name = args[0]
    try:
        manifest = await context.bot_data.services.backups.peek(Actor.of_session(session), name)
    except UnsealedArchive:
        # Never from Telegram: only the operator on the server may vouch for such a file.
        await message.reply_text(texts.RESTORE_UNSEALED.format(name=escape(name)))
        return END
    except BackupError as exc:
        await message.reply_text(texts.RESTORE_REFUSED.format(reason=escape(exc.problem)))
        return END
    draft = flow_state(context, RESTORE, RestoreDraft)
    draft.session, draft.name = session, name
    buttons = [
        InlineKeyboardButton(texts.RESTORE_BUTTON, callback_data=GO),
        InlineKeyboardButton(texts.RESTORE_CANCEL_BUTTON, callback_data=STOP),
    ]
    await message.reply_text(
        texts.RESTORE_CONFIRM.format(
            name=escape(name),
            time=manifest.created_at.strftime(TIME_FORMAT),
            schema=manifest.schema_version,
            rows=_rows(manifest),
        ),
        reply_markup=InlineKeyboardMarkup([buttons]),
    )
    return CONFIRM


async def _answer_and_disarm(update: Update) -> None:
    """Acknowledge a press and take the buttons away, so they cannot be pressed twice."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    with contextlib.suppress(TelegramError):
        await query.edit_message_reply_markup(None)


async def confirmed(update: Update, context: Context) -> int:
    """Restore pressed: ask for a fresh 2FA code."""
    await _answer_and_disarm(update)
    await message_of(update).reply_text(texts.RESTORE_ASK_CODE)
    return CODE


async def cancelled(update: Update, context: Context) -> int:
    """Cancel pressed."""
    await _answer_and_disarm(update)
    await end_flow(context, RESTORE)
    await message_of(update).reply_text(texts.RESTORE_CANCELLED)
    return END


async def got_code(update: Update, context: Context) -> int:
    """Check the code, restore, and tell the admin and the admin chat."""
    code, note = await take_secret(update, "code")
    message = message_of(update)
    data = flow_state(context, RESTORE, RestoreDraft)
    session, name = data.started_session(), data.name
    services = context.bot_data.services
    current = await services.sessions.current(session.telegram_user_id)
    if current is None or current.id != session.id:
        await end_flow(context, RESTORE)
        await message.reply_text(f"{note}\n\n{texts.LOGIN_FIRST}")
        return END
    try:
        proof = await services.twofactor.proof_for_action(session, code, "restore")
    except CodeBlocked as exc:
        await end_flow(context, RESTORE)
        await message.reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    except Refusal as exc:
        await message.reply_text(f"{note}\n\n{texts.render(exc)}")
        return CODE
    await end_flow(context, RESTORE)
    await message.reply_text(f"{note}\n\n{texts.RESTORE_RUNNING}")
    try:
        result = await services.backups.restore(
            Actor.of_session(session),
            name,
            # Re-checked with every other unit of work held off, just before the swap.
            guard=lambda uow: services.sessions.require_live(uow, session, proof),
        )
    except RestoreIncomplete as exc:
        logger.critical("restore of %s incomplete: %s", name, exc.problem)
        reason = escape(exc.problem)
        await message.reply_text(texts.RESTORE_FAILED.format(reason=reason))
        what = f"Restore of {escape(name)}"
        await tell_admins(context, texts.BACKUP_ALERT.format(what=what, reason=reason))
        return END
    except UnsealedArchive:  # replaced by an unsealed file since the confirmation
        logger.warning("restore of %s refused: not sealed", name)
        await message.reply_text(texts.RESTORE_UNSEALED.format(name=escape(name)))
        return END
    except BackupError as exc:
        logger.warning("restore of %s refused: %s", name, exc.problem)
        await message.reply_text(texts.RESTORE_REFUSED.format(reason=escape(exc.problem)))
        return END
    taken = result.restored.created_at.strftime(TIME_FORMAT)
    safety = (
        f"<code>{escape(result.safety_backup)}</code>"
        if result.safety_backup
        else texts.RESTORE_NO_SAFETY
    )
    await message.reply_text(
        texts.RESTORE_DONE.format(
            name=escape(name),
            time=taken,
            safety=safety,
            sessions=count(result.sessions_ended, "session"),
        )
    )
    await tell_admins(
        context,
        texts.RESTORE_ADMIN_NOTICE.format(
            name=escape(name), time=taken, admin=session.telegram_user_id, safety=safety
        ),
        RESTORE_DONE,
    )
    # Everyone else the restore logged out learns why from the outbox (core queued it).
    return END


def register(application: VerzekApplication, admins: AdminOnly) -> None:
    """Wire /backup, /backups and the /restore flow (each with its own admin filter)."""
    only = admins.filter
    application.add_handler(CommandHandler("backup", backup_now, filters=only))
    application.add_handler(CommandHandler("backups", list_backups, filters=only))
    application.add_handler(
        conversation(
            name=RESTORE,
            entry="restore",
            entry_callback=start_restore,
            entry_filter=only,
            extra_entries=[picked(application, ARCHIVES, start_restore, admins.ids)],
            states={
                CONFIRM: [
                    admins.button(confirmed, pattern=f"^{GO}$"),
                    admins.button(cancelled, pattern=f"^{STOP}$"),
                ],
                CODE: [MessageHandler(TEXT & only, got_code)],
            },
            restart_hint="Start again with /restore NAME.",
            secrets={CODE: Secret.CODE},
            private_only=False,  # start_restore says so itself
        )
    )
