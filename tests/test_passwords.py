"""The shipped password hasher: argon2id with the RFC 9106 parameters (the other tests run a
cheap one, tests/support/services.py), and the cheap one keeps every path the bot relies on."""

from __future__ import annotations

import argon2

from core.adapters.passwords import PasswordService
from core.services import Services
from tests.support.services import cheap_passwords

PASSWORD = "violet canyon trumpet 42 orbit"


async def test_the_shipped_hasher_uses_the_production_parameters_and_verifies() -> None:
    passwords, cheap = PasswordService(), cheap_passwords()
    try:
        stored = await passwords.hash(PASSWORD)
        params = argon2.extract_parameters(stored)
        assert params.type is argon2.Type.ID
        assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)
        assert await passwords.verify(stored, PASSWORD)
        assert not await passwords.verify(stored, PASSWORD + "!")
        assert not passwords.needs_rehash(stored)
        # A hash from the tests' cheap hasher would be upgraded at the next login.
        assert passwords.needs_rehash(await cheap.hash(PASSWORD))
    finally:
        await passwords.aclose()
        await cheap.aclose()


async def test_the_bot_under_test_hashes_cheaply_but_still_with_argon2id(
    services: Services,
) -> None:
    passwords = services.accounts.passwords
    stored = await passwords.hash(PASSWORD)
    params = argon2.extract_parameters(stored)
    assert params.type is argon2.Type.ID and params.memory_cost == 8
    assert await passwords.verify(stored, PASSWORD)
    # Unknown accounts and locked logins still spend one verification (on the dummy hash).
    await passwords.verify_dummy(PASSWORD)
