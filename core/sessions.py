"""Login sessions bound to a Telegram user: absolute and idle expiry (SPEC §4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.audit import AuditEvent, AuditLog, EventType
from core.clock import Clock, from_iso, to_iso
from core.ports import SessionRecord, UnitOfWork

# Activity is written at most this often, so reading commands do not all become writes.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Session:
    """A live session as handlers see it."""

    id: int
    account_id: int
    telegram_user_id: int
    started_at: datetime
    expires_at: datetime  # the earlier of the absolute and the idle deadline
    # The absolute deadline alone (activity never moves it); None only for hand-made sessions
    # in tests, which then end at ``expires_at``.
    absolute_expires_at: datetime | None = None

    @property
    def ends_at_latest(self) -> datetime:
        """The absolute end: activity keeps a session alive until then, never longer."""
        return self.absolute_expires_at or self.expires_at


class SessionService:
    """Starts, finds and ends sessions."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        audit: AuditLog,
        clock: Clock,
        *,
        session_hours: int,
        idle_minutes: int,
    ) -> None:
        self._uow = uow_factory
        self._audit = audit
        self._clock = clock
        self._absolute = timedelta(hours=session_hours)
        self._idle = timedelta(minutes=idle_minutes)

    def _view(self, record: SessionRecord, last_seen: datetime) -> Session:
        return Session(
            record.id,
            record.account_id,
            record.telegram_user_id,
            from_iso(record.created_at),
            min(from_iso(record.expires_at), last_seen + self._idle),
            from_iso(record.expires_at),
        )

    async def start(self, uow: UnitOfWork, account_id: int, telegram_user_id: int) -> Session:
        """Open a session inside the caller's unit of work (replacing this user's old one)."""
        now = self._clock.now()
        old = await uow.sessions.live_for_telegram_user(telegram_user_id)
        if old is not None:
            await uow.sessions.end(old.id, to_iso(now), "replaced")
        session_id = await uow.sessions.add(
            account_id=account_id,
            telegram_user_id=telegram_user_id,
            created_at=to_iso(now),
            expires_at=to_iso(now + self._absolute),
        )
        return Session(
            session_id, account_id, telegram_user_id, now, now + self._idle, now + self._absolute
        )

    async def current(self, telegram_user_id: int) -> Session | None:
        """The live session of this Telegram user, or None (expired ones are ended here)."""
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.sessions.live_for_telegram_user(telegram_user_id)
            if record is None:
                return None
            last_seen = from_iso(record.last_seen_at)
            if now >= from_iso(record.expires_at):
                await uow.sessions.end(record.id, to_iso(now), "expired")
                await uow.commit()
                return None
            if now >= last_seen + self._idle:
                await uow.sessions.end(record.id, to_iso(now), "idle")
                await uow.commit()
                return None
            if now - last_seen >= _TOUCH_EVERY:
                await uow.sessions.touch(record.id, to_iso(now))
                await uow.commit()
                last_seen = now
            return self._view(record, last_seen)

    async def logout(self, telegram_user_id: int) -> bool:
        """End this Telegram user's session; False when there was none."""
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.sessions.live_for_telegram_user(telegram_user_id)
            if record is None:
                return False
            await uow.sessions.end(record.id, to_iso(now), "logout")
            await self._audit.append(
                uow,
                AuditEvent(
                    EventType.LOGOUT,
                    account_id=record.account_id,
                    telegram_user_id=telegram_user_id,
                ),
            )
            await uow.commit()
        return True
