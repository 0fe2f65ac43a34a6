"""Licenses: paid periods of a plan, and the tier they give (SPEC §7, §5).

A license is one row per approved payment, signed like the payment itself; a row whose
signature fails is never counted. Buying a plan while a license of the same or a higher tier
runs extends it: the new period starts where the last such period ends. A higher tier starts
at once (the user paid for more now).

:class:`LicenseTierResolver` answers the rate limiter's ``TierResolver`` port: the tier of the
best active license of the account the Telegram user is logged in to, else ``free``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.accounts.ports import SessionRecord
from core.audit.suspicion import SuspicionReporter
from core.clock import Clock
from core.config import TIERS, Plan
from core.crypto import EncryptionService
from core.payments.ports import LicenseRecord
from core.ports import UnitOfWork
from core.signing import LICENSE_SIGNATURE, sign_record, verify_record

logger = logging.getLogger(__name__)

FREE = "free"
_RANK = {tier: rank for rank, tier in enumerate(TIERS)}


def tier_rank(tier: str) -> int:
    """Order of tiers (free < basic < pro); an unknown tier ranks like free."""
    return _RANK.get(tier, 0)


@dataclass(frozen=True)
class LicenseStatus:
    """What /me shows: the tier now, until when, and until when anything is paid."""

    tier: str
    plan: str
    tier_ends_at: datetime
    paid_until: datetime


class LicenseService:
    """Grants, signs and reads licenses."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        clock: Clock,
        crypto: EncryptionService,
        suspicion: SuspicionReporter,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._crypto = crypto
        self._suspicion = suspicion

    def is_authentic(self, record: LicenseRecord) -> bool:
        """True when the row carries a valid signature over its key fields (the fields are
        ``LICENSE_SIGNATURE`` in core/signing.py; any configured key)."""
        return verify_record(self._crypto, LICENSE_SIGNATURE, record)

    def split(
        self, records: Sequence[LicenseRecord]
    ) -> tuple[list[LicenseRecord], list[LicenseRecord]]:
        """(authentic, tampered) rows."""
        good: list[LicenseRecord] = []
        bad: list[LicenseRecord] = []
        for record in records:
            (good if self.is_authentic(record) else bad).append(record)
        return good, bad

    async def grant(
        self,
        uow: UnitOfWork,
        *,
        account_id: int,
        payment_id: int | None,
        plan: Plan,
        stars_payment_id: int | None = None,
    ) -> tuple[LicenseRecord, bool]:
        """Add the license a payment buys (a USDT ``payment_id`` or a ``stars_payment_id``),
        inside ``uow``; return it and whether it extends an existing one."""
        now = self._clock.now()
        current, _ = self.split(await uow.licenses.ending_after(account_id, now))
        rank = tier_rank(plan.tier)
        ends = [r.ends_at for r in current if tier_rank(r.tier) >= rank]
        starts = max([now, *ends])
        record = LicenseRecord(
            id=0,
            account_id=account_id,
            payment_id=payment_id,
            plan=plan.name,
            tier=plan.tier,
            starts_at=starts,
            ends_at=starts + timedelta(days=plan.days),
            created_at=now,
            signature=None,
            stars_payment_id=stars_payment_id,
        )
        license_id = await uow.licenses.add(
            account_id=account_id,
            payment_id=payment_id,
            plan=record.plan,
            tier=record.tier,
            starts_at=record.starts_at,
            ends_at=record.ends_at,
            created_at=record.created_at,
            stars_payment_id=stars_payment_id,
        )
        record = LicenseRecord(**{**record.__dict__, "id": license_id})
        signature = sign_record(self._crypto, LICENSE_SIGNATURE, record)
        await uow.licenses.sign(license_id, signature)
        return LicenseRecord(**{**record.__dict__, "signature": signature}), starts > now

    def status_of(self, records: Sequence[LicenseRecord], now: datetime) -> LicenseStatus | None:
        """The status given by authentic ``records`` at ``now`` (None: free)."""
        spans = sorted((r.starts_at, r.ends_at, r) for r in records if self.is_authentic(r))
        active = [(start, end, r) for start, end, r in spans if start <= now < end]
        if not active:
            return None
        best = max(active, key=lambda span: (tier_rank(span[2].tier), span[1]))[2]
        return LicenseStatus(
            tier=best.tier,
            plan=best.plan,
            tier_ends_at=_covered_until([(s, e) for s, e, r in spans if r.tier == best.tier], now),
            paid_until=_covered_until([(s, e) for s, e, _ in spans], now),
        )

    async def status(self, account_id: int) -> LicenseStatus | None:
        """The account's license now (None: free). Rows failing their signature are left out
        and reported as suspicious."""
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            records = await uow.licenses.ending_after(account_id, now)
        return await self.status_from(account_id, records, now)

    async def status_from(
        self, account_id: int, records: Sequence[LicenseRecord], now: datetime
    ) -> LicenseStatus | None:
        """:meth:`status` on the account's rows ending after ``now``, read by the caller:
        every row's signature is verified here, and failing rows are left out and reported
        as suspicious."""
        good, bad = self.split(records)
        if bad:
            async with self._uow() as uow:
                for record in bad:
                    await self._suspicion.report_tampered(uow, "license", record.id, account_id)
                await uow.commit()
        return self.status_of(good, now)


def _covered_until(spans: list[tuple[datetime, datetime]], now: datetime) -> datetime:
    """End of the uninterrupted coverage from ``now`` by ``spans`` (sorted by start)."""
    until = now
    for start, end in spans:
        if start <= until < end:
            until = end
    return until


@dataclass(frozen=True)
class Presence:
    """What one update needs to know about its sender, read in one transaction.

    ``session`` is the sender's open session row as read (None: none; it may be past its
    end, which :meth:`core.accounts.sessions.SessionService.current_from` decides and
    writes), ``stamp`` its account's security stamp then, ``tier`` the rate limiter's tier.
    Valid for the one update it was read for, never cached across updates.
    """

    telegram_user_id: int
    session: SessionRecord | None
    stamp: str
    tier: str


class LicenseTierResolver:
    """The rate limiter's tier for a Telegram user: their logged-in account's best license."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        clock: Clock,
        licenses: LicenseService,
        *,
        idle_minutes: int,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._licenses = licenses
        self._idle = timedelta(minutes=idle_minutes)

    async def tier_for(self, telegram_user_id: int) -> str:
        """``basic``/``pro`` while the user's session's account has such a license, else
        ``free`` (no session, an expired one, or only tampered rows)."""
        return (await self.presence(telegram_user_id)).tier

    async def presence(self, telegram_user_id: int) -> Presence:
        """The sender's live session row, its account's stamp and the tier, in ONE read
        transaction: what the gate and an ordinary command's session check both need."""
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            session = await uow.sessions.live_for_telegram_user(telegram_user_id)
            if session is None:
                return Presence(telegram_user_id, None, "", FREE)
            stamp = (await uow.security.get(session.account_id)).stamp
            if now >= session.expires_at or now >= session.last_seen_at + self._idle:
                return Presence(telegram_user_id, session, stamp, FREE)
            records = await uow.licenses.ending_after(session.account_id, now)
        status = self._licenses.status_of(records, now)
        if status is None:
            if any(not self._licenses.is_authentic(r) for r in records):
                logger.warning("ignored a license row whose signature does not verify")
            return Presence(telegram_user_id, session, stamp, FREE)
        return Presence(telegram_user_id, session, stamp, status.tier)
