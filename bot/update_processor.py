"""Concurrency across users, order within a user (SPEC §1).

PTB's default processor either runs everything in sequence (one slow password hash delays every
user) or everything concurrently (a user's second message can overtake the first). This one runs
updates of different users concurrently and each user's updates one after another, in arrival
order (asyncio locks are FIFO). Locks exist only while a user has updates in flight, so memory
stays bounded however many users write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def _user_key(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Serialises updates per Telegram user, parallel across users."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self.completed = 0  # updates fully processed (tests wait on this)

    @property
    def active_users(self) -> int:
        """Users with updates in flight (also the number of locks held in memory)."""
        return len(self._locks)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` once every earlier update of the same user is done."""
        key = _user_key(update)
        if key is None:
            try:
                await coroutine
            finally:
                self.completed += 1
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
            self.completed += 1

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""
