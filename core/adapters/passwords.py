"""argon2id hashing off the event loop (passwords and the 2FA backup codes), and the password
policy check run there too (the policy itself, pure: core/accounts/password_rules.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, TypeVarTuple

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.accounts.password_rules import MAX_LENGTH, PasswordTooLong, policy_problem
from core.errors import Refusal

T = TypeVar("T")
Args = TypeVarTuple("Args")

# CPU priority (nice) of the hashing threads. argon2 runs 4 lanes per hash, so a burst of
# logins keeps every core busy; at the same priority the event loop and the SQLite thread
# then wait for the scheduler on each hop, and every other user's command stalls for
# hundreds of milliseconds (bench/updates.py). Lower priority lets them cut in.
HASHING_NICE = 19


def _lower_thread_priority() -> None:
    """Thread-pool initializer: run this worker (and the lanes it starts) at a lower
    priority. Linux only, where the nice value belongs to the thread."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICE)


class PasswordService:
    """Checks, hashes and verifies passwords; the CPU-heavy parts run in a thread pool."""

    def __init__(
        self,
        hasher: argon2.PasswordHasher | None = None,
        workers: int = 0,
        code_hasher: argon2.PasswordHasher | None = None,
    ) -> None:
        self._hasher = hasher or argon2.PasswordHasher()  # argon2id, RFC 9106 parameters
        # A bounded pool: each argon2 hash holds 64 MiB while it runs.
        self._pool = ThreadPoolExecutor(
            max_workers=workers or max(2, os.cpu_count() or 2),
            thread_name_prefix="argon2",
            initializer=_lower_thread_priority,
        )
        self._dummy_hash: str | None = None
        self.backup_codes = BackupCodeHasher(self._pool, code_hasher)

    async def _run(self, func: Callable[[*Args], T], *args: *Args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def check_policy(self, password: str, email: str) -> None:
        """Raise a :class:`Refusal` saying why when ``password`` is not acceptable."""
        if len(password) > MAX_LENGTH:  # never feed huge input to zxcvbn
            raise Refusal(PasswordTooLong(MAX_LENGTH))
        problem = await self._run(policy_problem, password, email)
        if problem:
            raise Refusal(problem)

    async def hash(self, password: str) -> str:
        """argon2id hash of ``password``."""
        return str(await self._run(self._hasher.hash, password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False on mismatch or a damaged hash."""

        def check() -> bool:
            try:
                return bool(self._hasher.verify(password_hash, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return bool(await self._run(check))

    async def verify_dummy(self, password: str) -> None:
        """Spend the same time as a real verification (unknown accounts, locked logins)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than today's."""
        try:
            return bool(self._hasher.check_needs_rehash(password_hash))
        except InvalidHashError:
            return True

    async def aclose(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def backup_code_hasher() -> argon2.PasswordHasher:
    """The shipped backup-code parameters: argon2id, 2 passes over 16 MiB, one lane. Cheaper
    than a password's: a code is 50 random bits, not something a person chose."""
    return argon2.PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)


class BackupCodeHasher:
    """Salted argon2id hashes of the 2FA backup codes, made and checked in the password
    service's thread pool (``hasher`` defaults to :func:`backup_code_hasher`)."""

    def __init__(
        self, pool: ThreadPoolExecutor, hasher: argon2.PasswordHasher | None = None
    ) -> None:
        self._pool = pool
        self._hasher = hasher or backup_code_hasher()

    async def hash_all(self, codes: list[str]) -> list[str]:
        """One hash per code, in order."""

        def hash_each() -> list[str]:
            return [str(self._hasher.hash(code)) for code in codes]

        return await asyncio.get_running_loop().run_in_executor(self._pool, hash_each)

    async def matching(self, candidates: list[tuple[int, str]], code: str) -> int | None:
        """The id of the candidate ``(id, hash)`` whose hash ``code`` matches, or None. Every
        candidate is checked (no early exit), so the time does not tell which one matched."""

        def check_each() -> int | None:
            found = None
            for code_id, code_hash in candidates:
                try:
                    if self._hasher.verify(code_hash, code):
                        found = code_id
                except (VerifyMismatchError, VerificationError, InvalidHashError):
                    continue
            return found

        return await asyncio.get_running_loop().run_in_executor(self._pool, check_each)
