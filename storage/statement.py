"""One statement as aiosqlite hands it out: ``await conn.execute(...)`` or
``async with conn.execute(...) as cursor`` (the cursor closed on leaving the block).

Shared by the SQLite connections of :mod:`storage.sqlite_connection` (one thread trip per
statement) and :mod:`storage.inline_reads` (reads in the event loop): each says only how its
statement runs and makes its cursor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar


class _Closable(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class Statement(Generic[C]):
    """A statement run once, on first await or on entering ``async with``."""

    def __init__(self, run: Callable[[], Awaitable[C]]) -> None:
        self._run = run
        self._cursor: C | None = None

    async def _open(self) -> C:
        self._cursor = await self._run()
        return self._cursor

    def __await__(self) -> Generator[Any, None, C]:
        return self._open().__await__()

    async def __aenter__(self) -> C:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._cursor is not None:
            await self._cursor.close()
