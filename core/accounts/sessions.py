"""Login sessions bound to a Telegram user: absolute and idle expiry (SPEC §4), and the
one check every flow's final step makes inside its committing transaction (SPEC §10).

Nothing outlives the session it began in. A flow keeps the :class:`Session` it started with
(which carries the account's *security stamp* of that moment) and, for sensitive changes, a
:class:`ReauthProof` (a password or 2FA check, with the stamp it was made under). Its final
step calls :meth:`SessionService.require_live` with the unit of work that writes the change,
so the change commits only if, at that very moment:

- the session is the same row, still open, not past its absolute or idle end;
- the account's stamp is the one the flow began under (a password, email or 2FA change, a
  logout or a restore replaces it with a fresh random value);
- the proof belongs to this session, was made under the same stamp and is at most
  :data:`REAUTH_VALIDITY` old.

Otherwise :class:`FlowEnded` says why, and nothing is written.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.accounts.devices import (
    DeviceSession,
    mask_telegram_id,
    same_reference,
    session_reference,
)
from core.accounts.ports import EndReason as EndReason  # re-exported: its long-standing home
from core.accounts.ports import SessionRecord
from core.accounts.refusals import SessionButtonStale
from core.audit.log import AuditEvent, AuditLog, EventType
from core.clock import Clock
from core.errors import Refusal, VerzekError
from core.ports import UnitOfWork

# Activity is written at most this often, so reading commands do not all become writes.
_TOUCH_EVERY = timedelta(seconds=60)
# How long a password or 2FA check counts as fresh: the flow timeout (SPEC §3).
REAUTH_VALIDITY = timedelta(minutes=5)


class FlowEnded(VerzekError):
    """A pending flow or login attempt may not finish; nothing was written.

    Deliberately not a Refusal: handlers that catch Refusal to ask again must not swallow
    it (asking again cannot help). The bot ends the flow and tells the user ``reason``.
    """

    def __init__(self, reason: EndReason, *, session_ended: bool = False) -> None:
        super().__init__(f"flow ended: {reason}")
        self.reason = reason
        self.session_ended = session_ended  # True: the user must log in again


@dataclass(frozen=True)
class Session:
    """A live session as handlers see it."""

    id: int
    account_id: int
    telegram_user_id: int
    started_at: datetime
    expires_at: datetime  # the earlier of the absolute and the idle deadline
    stamp: str = ""  # the account's security stamp when this view was read
    # The absolute deadline alone (activity never moves it); None only for hand-made sessions
    # in tests, which then end at ``expires_at``.
    absolute_expires_at: datetime | None = None

    @property
    def ends_at_latest(self) -> datetime:
        """The absolute end: activity keeps a session alive until then, never longer."""
        return self.absolute_expires_at or self.expires_at


@dataclass(frozen=True)
class ReauthProof:
    """Evidence of a fresh password (or 2FA) check, demanded by sensitive operations."""

    session_id: int
    at: datetime
    stamp: str = ""  # the account's security stamp the check was made under


class SessionService:
    """Starts, finds, checks and ends sessions; replaces security stamps."""

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

    def _view(self, record: SessionRecord, last_seen: datetime, stamp: str) -> Session:
        return Session(
            record.id,
            record.account_id,
            record.telegram_user_id,
            record.created_at,
            min(record.expires_at, last_seen + self._idle),
            stamp,
            absolute_expires_at=record.expires_at,
        )

    async def start(self, uow: UnitOfWork, account_id: int, telegram_user_id: int) -> Session:
        """Open a session inside the caller's unit of work (replacing this user's old one)."""
        now = self._clock.now()
        old = await uow.sessions.live_for_telegram_user(telegram_user_id)
        if old is not None:
            await uow.sessions.end(old.id, now, EndReason.REPLACED)
        session_id = await uow.sessions.add(
            account_id=account_id,
            telegram_user_id=telegram_user_id,
            created_at=now,
            expires_at=now + self._absolute,
        )
        stamp = (await uow.security.get(account_id)).stamp
        return Session(
            session_id,
            account_id,
            telegram_user_id,
            now,
            now + self._idle,
            stamp,
            absolute_expires_at=now + self._absolute,
        )

    async def current(self, telegram_user_id: int) -> Session | None:
        """The live session of this Telegram user, or None (expired ones are ended here).

        Read first in a read-only unit: most calls have nothing to write, and a write unit
        waits for every other writer (of the whole fleet, on PostgreSQL). When there is an
        end or a touch to write, :meth:`_current_writing` reads again under the write and
        decides on that reading, as :meth:`current_from` does."""
        async with self._uow(read_only=True) as uow:
            record = await uow.sessions.live_for_telegram_user(telegram_user_id)
            stamp = "" if record is None else (await uow.security.get(record.account_id)).stamp
        if record is None:
            return None
        if self._needs_write(record, self._clock.now()):
            return await self._current_writing(telegram_user_id)
        return self._view(record, record.last_seen_at, stamp)

    def _needs_write(self, record: SessionRecord, now: datetime) -> bool:
        """Whether a live-looking session row is due an end (expired, idle) or a touch."""
        last_seen = record.last_seen_at
        return (
            now >= record.expires_at
            or now >= last_seen + self._idle
            or now - last_seen >= _TOUCH_EVERY
        )

    async def _current_writing(self, telegram_user_id: int) -> Session | None:
        """:meth:`current` in a write unit: ends an expired session, writes activity."""
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.sessions.live_for_telegram_user(telegram_user_id)
            if record is None:
                return None
            last_seen = record.last_seen_at
            if now >= record.expires_at:
                await uow.sessions.end(record.id, now, EndReason.EXPIRED)
                await uow.commit()
                return None
            if now >= last_seen + self._idle:
                await uow.sessions.end(record.id, now, EndReason.IDLE)
                await uow.commit()
                return None
            stamp = (await uow.security.get(record.account_id)).stamp
            if now - last_seen >= _TOUCH_EVERY:
                await uow.sessions.touch(record.id, now)
                await uow.commit()
                last_seen = now
            return self._view(record, last_seen, stamp)

    async def current_from(
        self, telegram_user_id: int, record: SessionRecord | None, stamp: str
    ) -> Session | None:
        """:meth:`current` decided on a session row and stamp the caller read moments ago in
        this update's one read transaction (``Presence``): no further read while the session
        is live and its activity was written less than a minute ago. Anything to write (an
        end, a touch) goes through :meth:`_current_writing`, which reads again under its
        write."""
        if record is None:
            return None
        if record.telegram_user_id != telegram_user_id:
            return await self.current(telegram_user_id)
        if self._needs_write(record, self._clock.now()):
            return await self._current_writing(telegram_user_id)
        return self._view(record, record.last_seen_at, stamp)

    async def logout(self, telegram_user_id: int) -> bool:
        """End this Telegram user's session; False when there was none.

        The account's stamp is replaced too, so no flow or login attempt begun before the
        logout (on this or another Telegram account) can finish.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.sessions.live_for_telegram_user(telegram_user_id)
            if record is None:
                return False
            await uow.sessions.end(record.id, now, EndReason.LOGGED_OUT)
            await self.replace_stamp(uow, record.account_id, EndReason.LOGGED_OUT)
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

    # --- the check every final step makes ------------------------------------------------

    async def replace_stamp(self, uow: UnitOfWork, account_id: int, reason: EndReason) -> None:
        """Inside the caller's change: give the account a fresh random security stamp, so
        every flow, proof and login attempt begun before it ends (told ``reason``)."""
        await uow.security.replace_stamp(
            account_id, secrets.token_hex(16), str(reason), self._clock.now()
        )

    async def stamp(self, uow: UnitOfWork, account_id: int) -> str:
        """The account's current security stamp."""
        return (await uow.security.get(account_id)).stamp

    def _proof_problem(self, proof: ReauthProof, session: Session) -> EndReason | None:
        if proof.session_id != session.id:
            return EndReason.ENDED
        if self._clock.now() - proof.at > REAUTH_VALIDITY:
            return EndReason.PROOF_EXPIRED
        return None

    async def require_live(
        self, uow: UnitOfWork, session: Session, proof: ReauthProof | None = None
    ) -> None:
        """Raise :class:`FlowEnded` unless ``session`` is still live under the stamp it was
        read with and ``proof`` (when given) is fresh, for this session and that stamp.

        Call it in the unit of work that writes the change, before writing: the answer then
        holds for the commit (writers are serialised).
        """
        now = self._clock.now()
        record = await uow.sessions.get(session.id)
        if (
            record is None
            or record.account_id != session.account_id
            or record.telegram_user_id != session.telegram_user_id
            or record.created_at != session.started_at
        ):
            raise FlowEnded(EndReason.ENDED, session_ended=True)
        if record.ended_at is not None:
            raise FlowEnded(record.end_reason or EndReason.ENDED, session_ended=True)
        if now >= record.expires_at:
            raise FlowEnded(EndReason.EXPIRED, session_ended=True)
        if now >= record.last_seen_at + self._idle:
            raise FlowEnded(EndReason.IDLE, session_ended=True)
        state = await uow.security.get(session.account_id)
        if state.stamp != session.stamp:
            raise FlowEnded(EndReason.of(state.stamp_reason))
        if proof is not None:
            if proof.stamp != state.stamp:
                raise FlowEnded(EndReason.of(state.stamp_reason))
            problem = self._proof_problem(proof, session)
            if problem is not None:
                raise FlowEnded(problem)

    async def check_live(self, session: Session, proof: ReauthProof | None = None) -> None:
        """:meth:`require_live` on its own (a flow's intermediate step); counts as activity."""
        now = self._clock.now()
        async with self._uow() as uow:
            await self.require_live(uow, session, proof)
            record = await uow.sessions.get(session.id)
            if record is not None and now - record.last_seen_at >= _TOUCH_EVERY:
                await uow.sessions.touch(record.id, now)
                await uow.commit()

    async def proof(self, session: Session) -> ReauthProof:
        """A re-auth proof for ``session`` made now, under the account's current stamp (the
        caller has just checked a password or code)."""
        async with self._uow(read_only=True) as uow:
            stamp = await self.stamp(uow, session.account_id)
        return ReauthProof(session.id, self._clock.now(), stamp)

    # --- /sessions: the account's devices (SPEC §11) ---------------------------------------
    # Ending sessions needs a live session but no fresh password or code: it only ever takes
    # access away, so the worst a borrowed phone can do with it is log the owner's other
    # devices out, which a password change would do anyway. No stamp is replaced either: the
    # ended session's own row says why it ended (``require_live`` tells its pending flows),
    # and the presser's own flows have no reason to end.

    def _alive(self, record: SessionRecord, now: datetime) -> bool:
        return (
            record.ended_at is None
            and now < record.expires_at
            and now < record.last_seen_at + self._idle
        )

    async def devices(self, session: Session) -> list[DeviceSession]:
        """The account's live sessions as ``session`` sees them: this device first, then the
        newest; each named by an opaque reference only ``session`` can use (raises
        :class:`FlowEnded` when ``session`` is no longer live)."""
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            await self.require_live(uow, session)
            records = await uow.sessions.live_for_account(session.account_id)
            stamp = await self.stamp(uow, session.account_id)
        alive = [r for r in records if self._alive(r, now)]
        alive.sort(key=lambda r: (r.id != session.id, -r.created_at.timestamp(), -r.id))
        return [
            DeviceSession(
                reference=session_reference(stamp, session.id, session.started_at, r.id),
                telegram_account=mask_telegram_id(r.telegram_user_id),
                started_at=r.created_at,
                last_seen_at=r.last_seen_at,
                this_device=r.id == session.id,
            )
            for r in alive
        ]

    async def ended_elsewhere(self, telegram_user_id: int) -> bool:
        """True when this Telegram user's last session was ended from another device and it
        has not logged in since (so its next message can be told why it has no session)."""
        async with self._uow(read_only=True) as uow:
            record = await uow.sessions.latest_for_telegram_user(telegram_user_id)
        return record is not None and record.end_reason is EndReason.ENDED_ELSEWHERE

    async def end_device(self, session: Session, reference: str) -> int:
        """End the other live session that ``reference`` names for ``session``; return its
        Telegram user id (to tell that device). Audited as a LOGOUT.

        Raises ``Refusal(SessionButtonStale())`` when ``reference`` names none of them (someone
        else's button, one from before a logout or restore, an edited one) and
        :class:`FlowEnded` when ``session`` is no longer live; nothing is written then.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            await self.require_live(uow, session)
            stamp = await self.stamp(uow, session.account_id)
            target = next(
                (
                    r
                    for r in await uow.sessions.live_for_account(session.account_id)
                    if r.id != session.id
                    and self._alive(r, now)
                    and same_reference(
                        session_reference(stamp, session.id, session.started_at, r.id), reference
                    )
                ),
                None,
            )
            if target is None:
                raise Refusal(SessionButtonStale())
            await uow.sessions.end(target.id, now, EndReason.ENDED_ELSEWHERE)
            await self._audit_ended(uow, session, [target.telegram_user_id])
            await uow.commit()
        return target.telegram_user_id

    async def end_other_devices(self, session: Session, reference: str) -> list[int]:
        """End every other live session of ``session``'s account; return their Telegram user
        ids. Audited as a LOGOUT (even when there was none to end, the owner asked).

        ``reference`` is the one :meth:`devices` gave ``session``'s own entry: a button shown
        to another session (or before a logout or restore) raises
        ``Refusal(SessionButtonStale())`` and ends nothing.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            await self.require_live(uow, session)
            stamp = await self.stamp(uow, session.account_id)
            own = session_reference(stamp, session.id, session.started_at, session.id)
            if not same_reference(own, reference):
                raise Refusal(SessionButtonStale())
            ended = await uow.sessions.end_for_account(
                session.account_id, now, EndReason.ENDED_ELSEWHERE, keep_session_id=session.id
            )
            await self._audit_ended(uow, session, ended)
            await uow.commit()
        return ended

    async def _audit_ended(self, uow: UnitOfWork, session: Session, ended: list[int]) -> None:
        await self._audit.append(
            uow,
            AuditEvent(
                EventType.LOGOUT,
                account_id=session.account_id,
                telegram_user_id=session.telegram_user_id,
                details={
                    "how": "ended_from_sessions",
                    "sessions_ended": len(ended),
                    "devices": [mask_telegram_id(t) for t in ended],
                },
            ),
        )
