"""One read per update: the gate's tier lookup and the handler's session check share it.

The gate needs the sender's tier (the rate limiter's rule); nearly every command then needs
the sender's live session. Both come from the same rows (the open session, the account's
stamp, its licenses), so :func:`presence_of` reads them once, in one read transaction
(:meth:`core.payments.licenses.LicenseTierResolver.presence`), and keeps the answer on this
update's :class:`bot.context.Context`. :func:`current_session` decides on it without
reading again, and uses it up: a second session check in the same update (after something
may have logged in or out) reads afresh. Nothing is cached across updates, so a login,
logout, approval, expiry or restore is seen by the very next update, with no invalidation
to forget.
"""

from __future__ import annotations

from telegram import Update

from bot.context import Context, UpdateContext
from core.accounts.sessions import Session
from core.payments.licenses import LicenseTierResolver, Presence


async def presence_of(update: Update, context: Context) -> Presence | None:
    """This update's reading of its sender (made on first use); None when the tier resolver
    is not the license one (benchmarks' and some tests' free-for-all limiter)."""
    user = update.effective_user
    if user is None:
        return None
    if not isinstance(context, UpdateContext):
        return None  # a hand-made context (tests): nothing to share the reading with
    seen = context.presence
    if seen is not None and seen.telegram_user_id == user.id:
        return seen
    tiers = context.bot_data.services.ratelimit.tiers
    if not isinstance(tiers, LicenseTierResolver):
        return None
    seen = await tiers.presence(user.id)
    context.presence = seen
    return seen


async def current_session(update: Update, context: Context) -> Session | None:
    """The sender's live session, as :meth:`SessionService.current` would say, from this
    update's reading when there is one (used up here), else read now."""
    user = update.effective_user
    if user is None:
        return None
    sessions = context.bot_data.services.sessions
    seen = None
    if isinstance(context, UpdateContext):
        seen, context.presence = context.presence, None
    if seen is None or seen.telegram_user_id != user.id:
        return await sessions.current(user.id)
    return await sessions.current_from(user.id, seen.session, seen.stamp)
