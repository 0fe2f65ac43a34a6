"""The SQL that prepares a restore candidate in its scratch database, and that loads a dump's
rows into the live one (used by :mod:`storage.postgres.dump_files`)."""

from __future__ import annotations

import io

import asyncpg

from storage.postgres import dump_tools as tools

END_SESSIONS = (
    "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL",
    "INSERT INTO account_security (account_id, stamp, stamp_reason, stamp_at)"
    " SELECT id, $1, $2, $3 FROM users ON CONFLICT (account_id) DO UPDATE"
    " SET stamp = excluded.stamp, stamp_reason = excluded.stamp_reason,"
    " stamp_at = excluded.stamp_at",
)
# The flows of the backup's day, and notices of an earlier restore: old news after this one.
FORGOTTEN = ("conversation_state", "restore_notices")
# As storage/snapshot.py's _CARRY, with the live rows copied into temp tables first.
CARRY = (
    (
        "alerts",
        "UPDATE alerts SET status = l.status, sent_at = l.sent_at,"
        " attempts = l.attempts, last_error = l.last_error,"
        " telegram_message_id = l.telegram_message_id FROM live_alerts AS l"
        " WHERE alerts.id = l.id AND alerts.created_at = l.created_at AND alerts.rule = l.rule"
        " AND alerts.subject = l.subject AND alerts.status = 'pending' AND l.status <> 'pending'",
    ),
    (
        "user_notices",
        "UPDATE user_notices SET status = l.status, sent_at = l.sent_at,"
        " attempts = l.attempts, last_error = l.last_error FROM live_user_notices AS l"
        " WHERE user_notices.id = l.id AND user_notices.created_at = l.created_at"
        " AND user_notices.telegram_user_id = l.telegram_user_id"
        " AND user_notices.event_type = l.event_type"
        " AND user_notices.status = 'pending' AND l.status <> 'pending'",
    ),
    (
        "offsite_copies",
        "INSERT INTO offsite_copies (archive, target, status, size, attempts,"
        " created_at, last_error, sent_at, remote_ref) SELECT archive, target, status, size,"
        " attempts, created_at, last_error, sent_at, remote_ref FROM live_offsite_copies"
        " ON CONFLICT (archive, target) DO UPDATE SET status = excluded.status,"
        " size = excluded.size, attempts = excluded.attempts, last_error = excluded.last_error,"
        " sent_at = excluded.sent_at, remote_ref = excluded.remote_ref",
    ),
    (
        # The flows pending at the restore: every instance reads a user's state from the
        # database at each turn, so dropping them would forget those flows silently, where
        # one SQLite bot keeps them in memory. Kept, their next step is refused with the
        # reason (the restore ended every session and replaced every stamp).
        "conversation_state",
        "INSERT INTO conversation_state SELECT * FROM live_conversation_state"
        " ON CONFLICT (kind, name, key) DO NOTHING",
    ),
)


async def load(conn: asyncpg.Connection, script: str) -> None:
    """Run a pg_restore data script: its COPY blocks through the driver's COPY, the rest
    (session settings, sequence positions) as statements."""
    lines = iter(script.splitlines())
    for line in lines:
        target = tools.copy_target(line)
        if target is not None:
            schema, table, columns = target
            rows = tools.data_rows(lines, table)
            if rows:
                payload = ("\n".join(rows) + "\n").encode()
                await conn.copy_to_table(
                    table,
                    schema_name=schema,
                    columns=columns,
                    source=io.BytesIO(payload),
                    format="text",
                )
        elif line and not line.startswith(("--", "\\")):
            await conn.execute(line)


async def has_table(conn: asyncpg.Connection, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{table}"))


def quote(name: object) -> str:
    return '"' + str(name).replace('"', '""') + '"'


# Everything in the live schema ``public`` goes before a candidate's SQL rebuilds it; the
# schema itself stays (its owner, grants and comment are the server's defaults, which a
# dropped and recreated schema would not have, and which the reference dump expects).
CLEAR_PUBLIC = """
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT format('%I.%I', n.nspname, c.relname) AS name,
                    CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                   WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE'
                                   ELSE 'TABLE' END AS kind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
             ORDER BY c.relkind = 'S'  -- a table's identity sequence goes with the table
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
    END LOOP;
    FOR r IN SELECT format('%I.%I(%s)', n.nspname, p.proname,
                           pg_get_function_identity_arguments(p.oid)) AS name,
                    CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                                   ELSE 'FUNCTION' END AS kind
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public'
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
    END LOOP;
    FOR r IN SELECT format('%I.%I', n.nspname, t.typname) AS name
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm')
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', r.name);
    END LOOP;
END
$$
"""
