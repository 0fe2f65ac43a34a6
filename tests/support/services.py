"""Services for tests, built by the one composition root with a cheap password hasher.

Full argon2id parameters (64 MiB, 3 passes, 4 lanes) cost ~50 ms of CPU per hash; the bot tests
hash and verify thousands of times. The production parameters keep a test of their own
(tests/test_passwords.py) and the tests marked ``production_argon2``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import argon2

from bot.bootstrap import bootstrap
from core.adapters.passwords import PasswordService
from core.clock import Clock
from core.config import Settings
from core.services import Services
from storage.database import Database
from tests.support.fake_trongrid import FakeTrongrid
from tests.support.fake_tronscan import FakeTronscan

# argon2id still, at its smallest cost: 1 pass over 8 KiB, one lane.
CHEAP_HASHER_PARAMETERS: dict[str, int] = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


def cheap_passwords() -> PasswordService:
    """A password service whose argon2id hashes (passwords and backup codes) take
    microseconds: the shipped backup-code parameters cost ~20 ms a hash, ten per set, and
    each backup-code login verifies every unused code."""
    hasher = argon2.PasswordHasher(
        time_cost=CHEAP_HASHER_PARAMETERS["time_cost"],
        memory_cost=CHEAP_HASHER_PARAMETERS["memory_cost"],
        parallelism=CHEAP_HASHER_PARAMETERS["parallelism"],
    )
    return PasswordService(hasher, workers=2, code_hasher=hasher)


_template: Path | None = None


async def _migrated_template() -> Path:
    """An empty database with every migration applied, made once per test run."""
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="verzek-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        database = Database(folder / "verzek.db")
        await database.open()
        await database.close()
        _template = database.path
    return _template


async def build_services(
    settings: Settings, clock: Clock | None = None, **overrides: Any
) -> Services:
    """:func:`bot.bootstrap.bootstrap` with the cheap hasher unless ``passwords`` is given,
    and a TronScan that knows no transaction unless ``chain`` is: no test reaches the network
    (nor pays for a TLS context it would never use, ~30 ms a bot). A database that does not
    exist yet starts as a copy of one migrated once per run (12 migrations cost ~40 ms)."""
    path = settings.database.path
    if not path.exists():  # what bootstrap would make of nothing, copied instead of migrated
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(await _migrated_template(), path)
    overrides.setdefault("passwords", cheap_passwords())
    if "chain" not in overrides:
        overrides["chain"] = FakeTronscan().client(settings.tronscan)
    if settings.payments.second_source and "second_chain" not in overrides:
        overrides["second_chain"] = FakeTrongrid().client()  # knows nothing: all waits
    return await bootstrap(settings, clock, **overrides)
