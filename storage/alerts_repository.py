"""SQL for the admin alert outbox (``alerts``) and its dedupe state (``alert_dedupe``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.audit.ports import AlertRecord, AlertStatus, DedupeState, RuleCount, Severity
from storage.columns import read_time, read_time_or_none, stored_time
from storage.sql import SqlConnection, inserted_id

_COLUMNS = (
    "id, created_at, rule, severity, subject, account_id, telegram_user_id, audit_event_id,"
    " evidence, folded, hits, status, attempts, next_attempt_at, last_error, sent_at"
)


def _alert(raw: Any) -> AlertRecord:
    return AlertRecord(
        id=int(raw[0]),
        created_at=read_time(raw[1]),
        rule=str(raw[2]),
        severity=Severity(raw[3]),
        subject=str(raw[4]),
        account_id=raw[5],
        telegram_user_id=raw[6],
        audit_event_id=int(raw[7]),
        evidence=json.loads(raw[8]),
        folded=int(raw[9]),
        hits=int(raw[10]),
        status=AlertStatus(raw[11]),
        attempts=int(raw[12]),
        next_attempt_at=read_time(raw[13]),
        last_error=raw[14],
        sent_at=read_time_or_none(raw[15]),
    )


class SqliteAlertsRepository:
    """Alerts in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def dedupe_state(self, rule: str, subject: str) -> DedupeState | None:
        """The newest alert time and folded count for ``rule`` + ``subject``."""
        async with self._conn.execute(
            "SELECT last_alert_at, folded FROM alert_dedupe WHERE rule = ? AND subject = ?",
            (rule, subject),
        ) as cur:
            row = await cur.fetchone()
        return DedupeState(read_time(row[0]), int(row[1])) if row else None

    async def fold(self, rule: str, subject: str) -> int:
        """One more hit folded into the current window (and counted on its alert)."""
        async with self._conn.execute(
            "UPDATE alert_dedupe SET folded = folded + 1 WHERE rule = ? AND subject = ?"
            " RETURNING folded, last_alert_id",
            (rule, subject),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise LookupError(f"no dedupe window open for {rule} / {subject}")
        await self._conn.execute("UPDATE alerts SET hits = hits + 1 WHERE id = ?", (row[1],))
        return int(row[0])

    async def add(
        self,
        *,
        created_at: datetime,
        rule: str,
        severity: Severity,
        subject: str,
        account_id: int | None,
        telegram_user_id: int | None,
        audit_event_id: int,
        evidence: dict[str, Any],
        folded: int,
    ) -> int:
        """Queue an alert due at once; open a new dedupe window for its rule and subject."""
        new_id = await inserted_id(
            self._conn,
            "INSERT INTO alerts (created_at, rule, severity, subject, account_id,"
            " telegram_user_id, audit_event_id, evidence, folded, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                stored_time(created_at),
                rule,
                str(severity),
                subject,
                account_id,
                telegram_user_id,
                audit_event_id,
                json.dumps(evidence, sort_keys=True, separators=(",", ":")),
                folded,
                stored_time(created_at),
            ),
        )
        await self._conn.execute(
            "INSERT INTO alert_dedupe (rule, subject, last_alert_id, last_alert_at, folded)"
            " VALUES (?, ?, ?, ?, 0) ON CONFLICT (rule, subject) DO UPDATE SET"
            " last_alert_id = excluded.last_alert_id, last_alert_at = excluded.last_alert_at,"
            " folded = 0",
            (rule, subject, new_id, stored_time(created_at)),
        )
        return new_id

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[AlertRecord]:
        """Due pending alerts, oldest first, each with one more attempt and a lease."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE status = 'pending' AND next_attempt_at <= ?"  # noqa: S608
            " ORDER BY next_attempt_at, id LIMIT ?",
            (stored_time(now), limit),
        ) as cur:
            due = [_alert(raw) for raw in await cur.fetchall()]
        claimed = []
        for alert in due:
            # Compare-and-set on the attempt count (each claim raises it): a row another
            # instance claimed since the SELECT is left to it, whatever the isolation level.
            cursor = await self._conn.execute(
                "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?"
                " AND status = 'pending' AND attempts = ?",
                (stored_time(lease_until), alert.id, alert.attempts),
            )
            if cursor.rowcount != 1:
                continue
            claimed.append(
                AlertRecord(
                    **{**alert.__dict__, "attempts": alert.attempts + 1},
                )
            )
        return claimed

    async def mark_sent(self, alert_id: int, *, at: datetime, message_id: int | None) -> None:
        """Done for good."""
        await self._conn.execute(
            "UPDATE alerts SET status = 'sent', sent_at = ?, telegram_message_id = ?,"
            " last_error = NULL WHERE id = ? AND status = 'pending'",
            (stored_time(at), message_id, alert_id),
        )

    async def reschedule(self, alert_id: int, *, next_attempt_at: datetime, error: str) -> None:
        """Try again at ``next_attempt_at``."""
        await self._conn.execute(
            "UPDATE alerts SET next_attempt_at = ?, last_error = ? WHERE id = ?"
            " AND status = 'pending'",
            (stored_time(next_attempt_at), error[:200], alert_id),
        )

    async def recent(self, limit: int) -> list[AlertRecord]:
        """The newest alerts first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM alerts ORDER BY id DESC LIMIT ?",  # noqa: S608
            (limit,),
        ) as cur:
            return [_alert(raw) for raw in await cur.fetchall()]

    async def summary_since(self, since: datetime) -> list[RuleCount]:
        """Per rule, over alerts created after ``since``: hits, subjects, sent, pending."""
        async with self._conn.execute(
            "SELECT rule, SUM(hits), COUNT(DISTINCT subject),"
            " SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) FROM alerts WHERE created_at > ?"
            " GROUP BY rule ORDER BY 2 DESC, rule",
            (stored_time(since),),
        ) as cur:
            rows = await cur.fetchall()
        return [RuleCount(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]
