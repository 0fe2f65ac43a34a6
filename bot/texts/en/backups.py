"""English: Backups and restores (admins)."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.backups.archive_rules import ArchiveOfOtherEngine, BackupFailed

# --- backups (admin) -------------------------------------------------------------------------
BACKUP_STARTED = "⏳ Backing up the database… I'll answer once the archive is written and verified."
BACKUP_DONE = (
    "✅ Backup <code>{name}</code> written and verified.\n"
    "{size} · schema {schema} · {rows} in {tables}."
)
BACKUP_FAILED = "❌ The backup failed: {reason}\nThe admin chat was alerted."
BACKUP_ALERT = (
    "🚨 <b>{what} failed</b>: {reason}\n"
    "Earlier archives are untouched. Fix the cause, then run /backup to make a fresh one."
)
BACKUP_ALERT_NIGHTLY = "Nightly backup"
BACKUP_ALERT_MANUAL = "Backup requested by admin {admin}"
BACKUP_ALERT_PRUNE = "Removing old backups"
# --- off-site copies (SPEC §8a) -----------------------------------------------------------------
OFFSITE_CAPTION = (
    "🗄 Off-site copy of backup <code>{name}</code> ({size}). Keep it: it is what a restore "
    "needs if this server's disk is lost."
)
OFFSITE_FAILED = (
    "🚨 <b>Off-site copy failed</b> ({where}):\n{items}\n"
    "The local archives are untouched; the next nightly run tries again."
)
OFFSITE_TOO_BIG = (
    "⚠️ <b>Not copied off-site</b>: <code>{name}</code> is {size}, over the {limit} a "
    "document sent to this chat may have. It stays only on the server: copy it elsewhere "
    'yourself, or set <code>backups.offsite = "s3://bucket/prefix"</code>.'
)
OFFSITE_RETENTION_FAILED = (
    "⚠️ <b>Removing old off-site copies failed</b> ({where}): {reason}\n"
    "Nothing local was changed; the next nightly run tries again."
)
OFFSITE_ITEM = "• <code>{name}</code>: {reason}"
BACKUPS_EMPTY = "No backups yet. /backup makes one now."
BACKUPS_HEADER = "<b>Backups</b> (newest first, times in UTC)"
BACKUPS_ITEM = "{mark} <code>{name}</code>\n{time} · {size} · schema {schema} · {status}\n{counts}"
BACKUPS_VERIFIES = "verifies"
BACKUPS_FAILS = "does NOT verify: {problem}"
BACKUPS_UNSEALED = (
    "NOT sealed: made before sealed backups, so nothing proves it was not edited; it cannot be "
    "restored from Telegram"
)
BACKUPS_FOOTER = "Restore one with <code>/restore NAME</code>."
RESTORE_USAGE = "Send <code>/restore NAME</code> with the name of an archive from /backups."
RESTORE_PRIVATE_ONLY = (
    "For your safety, restore backups in a private chat with me: it asks for your 2FA code."
)
RESTORE_CONFIRM = (
    "♻️ <b>Restore {name}?</b>\n"
    "Taken {time} UTC · schema {schema} · {rows}.\n\n"
    "This replaces <b>all</b> current data with the backup's: whatever changed since then "
    "(accounts, passwords, 2FA, payments, audit events) leaves the live database and is kept "
    "only in a safety backup I take first. Every session ends, so everyone — you included — "
    "logs in again. The bot pauses while the file is swapped."
)
RESTORE_BUTTON = "Restore"
RESTORE_CANCEL_BUTTON = "Cancel"
RESTORE_ASK_CODE = (
    "Send the 6-digit code from your authenticator app to confirm the restore. (/cancel to stop)"
)
RESTORE_CANCELLED = "Cancelled. Nothing was changed."
RESTORE_RUNNING = (
    "⏳ Verifying the archive, taking a safety backup and swapping the database… this can take "
    "a while for a large database."
)
RESTORE_REFUSED = "❌ Restore refused: {reason}\nThe current database was not changed."
RESTORE_FAILED = "❌ Restore failed: {reason}"
RESTORE_UNSEALED = (
    "❌ Restore refused: <code>{name}</code> is not sealed (it was made before sealed backups), "
    "so nothing proves it was not edited by someone with access to the backup folder. It "
    "cannot be restored from Telegram. If you trust the file, restore it on the server with "
    "<code>verzek backup restore {name} --allow-unsealed</code>.\n"
    "The current database was not changed."
)
DRILL_PASSED = (
    "✅ <b>Restore drill passed</b>: <code>{name}</code> (taken {time} UTC) was restored into a "
    "temp file and passed every check of a real restore (seal, schema, audit chain, integrity): "
    "{rows} in {tables}.\n{counts}"
)
DRILL_FAILED = (
    "🚨 <b>Restore drill failed</b>: <code>{name}</code>, the newest backup, would be refused by "
    "a restore: {reason}\nMake a fresh one with /backup and find out why."
)
DRILL_NOTHING = "🚨 <b>Restore drill failed</b>: {reason}"
RESTORE_DONE = (
    "✅ <b>Restored {name}</b> (taken {time} UTC).\n"
    "Safety backup of the replaced data: {safety}.\n\n"
    "{sessions} ended, yours included: please /login again, with the password and 2FA your "
    "account had when the backup was taken."
)
RESTORE_NO_SAFETY = "none (there was no database file)"
RESTORE_ADMIN_NOTICE = (
    "♻️ <b>Database restored</b> from <code>{name}</code> (taken {time} UTC) by admin {admin}. "
    "Safety backup of the replaced data: {safety}. Every session was ended."
)

RESTORE_LOGGED_OUT = (
    "♻️ An admin restored the Verzek database from a backup taken {time} UTC, so every "
    "session ended, yours included. Please /login again, with the password and 2FA your "
    "account had then. If you registered after that time, your account is not in the backup: "
    "please contact support."
)

# The operator's diagnostic as core words it (core/backups/archive_rules.py: BackupFailed says why).
BACKUP_REFUSALS: Refusals = {
    BackupFailed: "{problem}",
    ArchiveOfOtherEngine: (
        "this backup holds a {archive_engine} database, but this bot runs on "
        "{database_engine}: it can only be restored into a bot set up for {archive_engine}"
    ),
}
