"""Where rate-limit windows live: in this process, or in Redis for several bot instances.

``memory://`` uses :class:`MemoryWindows`, a storage for the ``limits`` library's async
strategies. We do not use ``limits.aio.storage.MemoryStorage``: it reads ``time.time()``
(so tests cannot move time) and expires keys in a background task, started after every hit,
that hops to a worker thread for every key. Measured (``bench/ratelimit_memory.py
--compare``): 8,000-9,000 keys expired a second while using 80-90 % of a CPU core, for as long
as there are live keys, so with a crowd of users its memory trails far behind.
:class:`MemoryWindows` keeps only the newest ``limit`` timestamps per key, runs on the
injected clock, and :meth:`MemoryWindows.sweep` (a job, every minute) forgets every ended
window in one batched pass.

``redis://`` (``rediss://``, ``redis+sentinel://``) uses limits' own async Redis storage through
the redis-py client (the ``redis`` extra); entries expire by Redis TTLs and carry the client's
wall-clock time, so every instance must keep its clock in sync (NTP).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable
from typing import TypeVar

from limits.aio.storage import MovingWindowSupport, Storage
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from core.clock import Clock
from core.errors import ConfigError

KEY_PREFIX = "verzek"
_SWEEP_BATCH = 10_000
_REDIS_TIMEOUT = 3.0  # seconds


class _Window:
    """Timestamps of the accepted hits of one key (oldest first, at most ``limit``)."""

    __slots__ = ("stamps", "until")

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.until = 0.0  # when the newest stamp leaves the window: then the key can go


class _Counter:
    """A plain counter with an end (``incr``/``get``), used for the once-per-window marks."""

    __slots__ = ("until", "value")

    def __init__(self, until: float) -> None:
        self.value = 0
        self.until = until


class MemoryWindows(Storage, MovingWindowSupport):
    """In-process moving windows for ``limits.aio.strategies.MovingWindowRateLimiter``.

    Every method finishes without awaiting anything, so each one is atomic on the event loop.
    """

    STORAGE_SCHEME = None  # not registered under a URL scheme: built by :func:`open_storage`

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.now = now
        self._windows: dict[str, _Window] = {}
        self._counters: dict[str, _Counter] = {}

    def __len__(self) -> int:
        """Keys held (windows and counters): what :meth:`sweep` keeps bounded."""
        return len(self._windows) + len(self._counters)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """Nothing here talks to a server; limits wants the attribute all the same."""
        return ValueError

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Record ``amount`` hits unless that would put more than ``limit`` in the window."""
        if amount > limit:
            return False
        now = self.now()
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        stamps = window.stamps
        # The hit fits when the (limit - amount + 1)-th newest hit has left the window.
        index = len(stamps) - (limit - amount + 1)
        if index >= 0 and stamps[index] > now - expiry:
            return False
        stamps.extend([now] * amount)
        if len(stamps) > limit:
            del stamps[: len(stamps) - limit]
        window.until = now + expiry
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(time of the oldest hit still in the window, hits in the window)."""
        now = self.now()
        window = self._windows.get(key)
        if window is None:
            return now, 0
        first = bisect.bisect_right(window.stamps, now - expiry)
        count = len(window.stamps) - first
        return (window.stamps[first], count) if count else (now, 0)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to a counter that ends ``expiry`` seconds after it was created."""
        now = self.now()
        counter = self._counters.get(key)
        if counter is None or counter.until <= now:
            counter = self._counters[key] = _Counter(now + expiry)
        counter.value += amount
        return counter.value

    async def get(self, key: str) -> int:
        """The counter's value, 0 once it has ended."""
        counter = self._counters.get(key)
        return counter.value if counter is not None and counter.until > self.now() else 0

    async def get_expiry(self, key: str) -> float:
        """When the counter ends (now if there is none)."""
        counter = self._counters.get(key)
        now = self.now()
        return counter.until if counter is not None and counter.until > now else now

    async def clear(self, key: str) -> None:
        """Forget one key."""
        self._windows.pop(key, None)
        self._counters.pop(key, None)

    async def check(self) -> bool:
        """Always healthy."""
        return True

    async def reset(self) -> int | None:
        """Forget everything; return how many keys there were."""
        count = len(self)
        self._windows.clear()
        self._counters.clear()
        return count

    async def sweep(self) -> int:
        """Forget every window and counter that has ended; return how many went.

        Works in batches and yields to the event loop between them, so a million keys never
        stall other users' updates.
        """
        self._windows, windows_gone = await _sweep(self._windows, self.now)
        self._counters, counters_gone = await _sweep(self._counters, self.now)
        return windows_gone + counters_gone


_Entry = TypeVar("_Entry", _Window, _Counter)


async def _sweep(
    table: dict[str, _Entry], now: Callable[[], float]
) -> tuple[dict[str, _Entry], int]:
    """Delete the ended entries of ``table``; return the table to keep and how many went."""
    keys = list(table)
    removed = 0
    for start in range(0, len(keys), _SWEEP_BATCH):
        moment = now()
        for key in keys[start : start + _SWEEP_BATCH]:
            entry = table.get(key)
            if entry is not None and entry.until <= moment:
                del table[key]
                removed += 1
        await asyncio.sleep(0)
    # A dict keeps its table at its largest size: once most of it is gone, a copy gives the
    # memory back (no await in between, so no hit can land in the old one).
    return (dict(table) if removed > len(table) else table), removed


async def open_storage(url: str, clock: Clock) -> Storage:
    """The storage for ``rate_limits.storage``; a Redis server must answer right away."""
    if url.startswith("memory://"):
        return MemoryWindows(lambda: clock.now().timestamp())
    try:
        storage = storage_from_string(
            f"async+{url}",
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            wrap_exceptions=True,
            # A hung server must not hang every update: fail fast and let the caller decide.
            socket_connect_timeout=_REDIS_TIMEOUT,
            socket_timeout=_REDIS_TIMEOUT,
        )
    except ConfigurationError:
        raise ConfigError(
            ["rate_limits.storage: Redis needs the redis client: pip install '.[redis]'"]
        ) from None
    assert isinstance(storage, Storage)
    if not await storage.check():
        await close_storage(storage)
        # The URL may carry a password: never echo it.
        raise ConfigError(["rate_limits.storage: the Redis server does not answer"])
    return storage


async def close_storage(storage: Storage) -> None:
    """Close the Redis client behind ``storage`` (limits has no close method of its own)."""
    bridge = getattr(storage, "bridge", None)
    for name in ("storage", "storage_replica"):
        client = getattr(bridge, name, None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()


def clock_of(storage: Storage) -> Callable[[], float]:
    """The clock a storage's windows run on: the injected one in memory, else wall time."""
    return storage.now if isinstance(storage, MemoryWindows) else time.time
