"""Rate limiting of what users send (SPEC §5), keyed by Telegram user id.

Two classes of limits, both moving windows of the ``limits`` library's async API:

- **auth** (``rate_limits.auth``, 5/minute): starts of /register and /login, and every
  WRONG password, code or captcha answer in any flow (:meth:`RateLimitService.charge_failure`,
  called by the step once it has decided). Correct answers do not count, so an honest first
  day never hits the limit while guessing always does. An answer to a password or code step
  is refused unread while the auth window is full (:meth:`RateLimitService.check_guess`).
  Nobody is exempt, admins included.
- **tier**: everything else, by the user's tier (``rate_limits.tiers``; a tier without a rule
  gets ``rate_limits.default``). The tier comes from a :class:`TierResolver`.

The first refusal under a rule sets a mark in the same storage that lives one window length
(the rule's period, e.g. a minute): only that refusal is answered and audited, later ones in
the window are dropped silently. Because the mark lives in the storage, this also holds across
several bot instances sharing Redis. Windows and marks are per rule, so a tier change starts
afresh under the new tier's rule.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from core.adapters.ratelimit_storage import MemoryWindows, clock_of, close_storage
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.config import RateLimitSettings

logger = logging.getLogger(__name__)

# The commands whose every start counts against the auth limit (SPEC §5). Every other step
# counts there only when its answer is wrong (a password, code or captcha guess).
AUTH_COMMANDS: frozenset[str] = frozenset({"register", "login"})


def is_auth_step(command: str | None, in_code_step: bool) -> bool:
    """Whether an update is judged by the auth limit before it runs.

    ``command`` is the update's command name (None for anything else); ``in_code_step`` tells
    whether the sender is at a step of a flow that asks for a password or a code. A command
    counts by its name alone, so /cancel inside a flow is a tier hit.
    """
    if command is not None:
        return command in AUTH_COMMANDS
    return in_code_step


class LimitClass(StrEnum):
    """Which limit an update counted against (named in audit details)."""

    AUTH = "auth"
    TIER = "tier"


class TierResolver(Protocol):
    """Tells a user's tier (``free``, ``basic``, ``pro``); licenses will answer this."""

    async def tier_for(self, telegram_user_id: int) -> str:
        """Return the tier of the Telegram user's active license."""
        ...


class FreeTier:
    """Until licenses exist, everyone is on the free tier."""

    async def tier_for(self, telegram_user_id: int) -> str:
        """Return ``"free"``."""
        return "free"


@dataclass(frozen=True)
class Decision:
    """The verdict on one update."""

    allowed: bool
    limit: LimitClass
    retry_after: int = 0  # whole seconds until the next hit fits (refusals only)
    notify: bool = False  # first refusal of the window: tell the user (already audited)


class RateLimitService:
    """Counts each user's updates and refuses those over their limit."""

    def __init__(
        self,
        settings: RateLimitSettings,
        storage: Storage,
        audit: AuditLog,
        tiers: TierResolver | None = None,
    ) -> None:
        self.tiers: TierResolver = tiers or FreeTier()
        self._storage = storage
        self._audit = audit
        self._limiter = MovingWindowRateLimiter(storage)
        self._now = clock_of(storage)
        self._auth = parse(settings.auth)
        self._default = parse(settings.default)
        self._tiers = {tier: parse(rule) for tier, rule in settings.tiers.items()}

    def rule_for(self, tier: str | None) -> RateLimitItem:
        """The auth rule for ``None``, else the tier's rule (the default one if it has none)."""
        return self._auth if tier is None else self._tiers.get(tier, self._default)

    async def check(
        self, telegram_user_id: int, *, auth: bool, tier: str | None = None
    ) -> Decision:
        """Count one update of the user; say whether it may pass and whether to tell them.

        ``tier`` is the user's tier when the caller has just read it (the gate reads it with
        the session in one transaction); otherwise the :class:`TierResolver` is asked.

        If the storage fails (Redis down), the update passes and a warning is logged: turning
        a cache outage into a bot outage helps nobody, and password guessing stays capped by
        the per-account login throttle.
        """
        limit = LimitClass.AUTH if auth else LimitClass.TIER
        if auth:
            tier = None
        elif tier is None:
            tier = await self.tiers.tier_for(telegram_user_id)
        rule = self.rule_for(tier)
        user = str(telegram_user_id)
        try:
            if await self._limiter.hit(rule, limit, user):
                return Decision(True, limit)
        except StorageError as exc:
            return self._storage_failed(exc, limit)
        return await self._refuse(telegram_user_id, limit, rule, tier)

    async def check_guess(self, telegram_user_id: int, *, tier: str | None = None) -> Decision:
        """An answer to a password or code step: refused while the auth window is full.

        The answer itself is not counted against the auth limit (only a wrong one is, by
        :meth:`charge_failure` once the step has decided); it counts as one update of the
        user's tier like anything else.
        """
        rule, user = self._auth, str(telegram_user_id)
        try:
            room = await self._limiter.test(rule, LimitClass.AUTH, user)
        except StorageError as exc:
            return self._storage_failed(exc, LimitClass.AUTH)
        if not room:
            return await self._refuse(telegram_user_id, LimitClass.AUTH, rule, None)
        return await self.check(telegram_user_id, auth=False, tier=tier)

    async def charge_failure(self, telegram_user_id: int) -> None:
        """Count one wrong password, code or captcha answer against the auth limit.

        A full window stays full (the next guess is refused by :meth:`check_guess`); a storage
        failure is logged and forgotten, like in :meth:`check`.
        """
        try:
            await self._limiter.hit(self._auth, LimitClass.AUTH, str(telegram_user_id))
        except StorageError as exc:
            self._storage_failed(exc, LimitClass.AUTH)

    @staticmethod
    def _storage_failed(exc: StorageError, limit: LimitClass) -> Decision:
        cause = type(getattr(exc, "storage_error", exc)).__name__
        logger.warning("rate limit storage failed, letting the update pass: %s", cause)
        return Decision(True, limit)

    async def _refuse(
        self, telegram_user_id: int, limit: LimitClass, rule: RateLimitItem, tier: str | None
    ) -> Decision:
        """A refusal: tell and audit only the first of the window."""
        user = str(telegram_user_id)
        try:
            stats = await self._limiter.get_window_stats(rule, limit, user)
            mark = rule.key_for("told", limit, user)
            first = await self._storage.incr(mark, rule.get_expiry()) == 1
        except StorageError as exc:
            return self._storage_failed(exc, limit)
        retry_after = max(1, math.ceil(stats.reset_time - self._now()))
        if first:
            details: dict[str, object] = {"limit": str(limit), "rule": str(rule)}
            if tier is not None:
                details["tier"] = tier
            await self._audit.record(
                AuditEvent(
                    EventType.RATE_LIMIT_EXCEEDED,
                    Severity.WARNING,
                    telegram_user_id=telegram_user_id,
                    details={**details, "retry_after_s": retry_after},
                )
            )
        return Decision(False, limit, retry_after, notify=first)

    async def sweep(self) -> int:
        """Forget ended windows (in-memory storage; Redis expires keys itself)."""
        storage = self._storage
        return await storage.sweep() if isinstance(storage, MemoryWindows) else 0

    async def aclose(self) -> None:
        """Close the storage's connections."""
        await close_storage(self._storage)
