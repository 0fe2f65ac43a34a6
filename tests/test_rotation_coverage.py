"""``verzek rotate-key`` leaves no token of the old key anywhere in the database (SPEC §10).

The bug this closes: conversation_state and button_sheets held tokens of the master key but
were not in ENCRYPTED_COLUMNS, so a rotation left them under the old key. Listing columns by
hand is how they were forgotten; so this test lists nothing. It exercises the bot until every
kind of sealed row exists (2FA, exchange keys with a passphrase, a picker's and a page's
buttons on shared instances, a flow half done), rotates, and then searches every column of
every table for a token the old key made (:func:`tests.support.rotation_steps.tokens_of`).
A sealed column added later and forgotten in storage/secrets_repository.py fails here.
"""

from __future__ import annotations

import json

import pytest

from core.clock import FakeClock
from core.config import EncryptionSettings, Secret, Settings
from core.crypto import EncryptionService, generate_master_key
from core.keycheck import KeyCheckResult, KeyMismatch, KeyMismatchError, ensure_key_fits
from core.keyrotation import rotate_all
from core.services import Services
from storage.secrets_repository import ENCRYPTED_COLUMNS
from tests.support import raw_db
from tests.support.instances import two_instances
from tests.support.rotation_steps import only, rotate_key, tokens_of
from tests.support.steps import PASSPHRASE, PASSWORD, add_key, enable_2fa

ALICE = 7_700_000_101

# Made by the rotation itself (the retired audit chain key, sealed under the new key).
_ONLY_AFTER_A_ROTATION = {("audit_chain_keys", "key_enc")}


async def test_no_token_of_the_old_key_is_left_anywhere_after_a_rotation(
    settings: Settings,
    services: Services,
    clock: FakeClock,
    master_key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with two_instances(settings, services, clock) as fleet:
        alice = fleet.user(ALICE, "Alice")
        totp, _ = await enable_2fa(fleet.use(0), alice, clock)
        clock.advance(seconds=30)
        added = await add_key(
            fleet, alice, exchange="OKX", passphrase=PASSPHRASE, confirm=totp.at(clock.now())
        )
        assert "saved" in added[-1].plain.lower(), added[-1].plain
        await fleet.send(alice, "/apikey_delete")  # a picker's sheet
        await fleet.send(alice, "/activity")  # a page's buttons
        await fleet.send(alice, "/password")
        await fleet.send(alice, PASSWORD)  # half-way through a flow
    await services.aclose()  # `verzek rotate-key` runs with the bot stopped

    registered = {(spec.table, spec.column) for spec in ENCRYPTED_COLUMNS}
    before = await tokens_of(settings, master_key)
    assert set(before) <= registered, (
        f"{sorted(set(before) - registered)} hold sealed tokens but are not in "
        "ENCRYPTED_COLUMNS (storage/secrets_repository.py): `verzek rotate-key` would leave "
        "them under the old key"
    )
    assert set(before) == registered - _ONLY_AFTER_A_ROTATION, "the exercise missed a column"

    new = generate_master_key()
    code, out = await rotate_key(settings, monkeypatch, capsys, new, master_key)
    assert code == 0, out
    assert "conversation_state.sealed:" in out and "button_sheets.sealed:" in out
    assert await tokens_of(settings, master_key) == {}
    after = await tokens_of(settings, new)
    assert set(after) == registered
    for column, count in before.items():
        assert after[column] == count, column


def test_every_registered_column_is_keyed_by_columns_of_its_table() -> None:
    """The registry itself: one line per column, each with a row key (tables without an
    integer id name their own key columns)."""
    lines = [(spec.table, spec.column) for spec in ENCRYPTED_COLUMNS]
    assert len(set(lines)) == len(lines)
    for spec in ENCRYPTED_COLUMNS:
        assert spec.key_columns and spec.column not in spec.key_columns


async def test_a_database_without_a_key_check_is_judged_by_its_flows_and_sheets_too(
    settings: Settings, services: Services, clock: FakeClock, master_key: str
) -> None:
    """core/keycheck.py samples every registered column of a database without a stored check:
    where users' flows and button sheets are all it holds, they decide. An unrelated key is
    refused (before, nothing was sampled and it was adopted); the old key names a rotation."""
    crypto = only(master_key)
    flow_owner = json.dumps(["user_data", "", str(ALICE)], separators=(",", ":"))
    await raw_db.execute(
        settings,
        "INSERT INTO conversation_state (kind, name, key, sealed, updated_at, user_id)"
        " VALUES ('user_data', '', ?, ?, 'x', ?)",
        str(ALICE),
        crypto.encrypt("{}", owner=flow_owner, purpose="conversation-state"),
        ALICE,
    )
    await raw_db.execute(
        settings,
        "INSERT INTO button_sheets (token_hash, store, sheet_id, telegram_user_id, created,"
        " expires_at, sealed) VALUES ('t', 'pk:', 's', ?, 0, '9999', ?)",
        ALICE,
        crypto.encrypt("{}", owner="pk:s", purpose="button-sheet"),
    )
    await raw_db.execute(settings, "DELETE FROM key_check")
    other = generate_master_key()
    with pytest.raises(KeyMismatchError) as wrong:
        await ensure_key_fits(services.uow, only(other), clock, write=False)
    assert wrong.value.reason is KeyMismatch.WRONG_KEY
    rotating = EncryptionService(EncryptionSettings(Secret(other), (Secret(master_key),)))
    with pytest.raises(KeyMismatchError) as pending:
        await ensure_key_fits(services.uow, rotating, clock, write=False)
    assert (pending.value.reason, pending.value.old_key) == (KeyMismatch.OLD_KEY, 1)
    assert await ensure_key_fits(services.uow, crypto, clock) is KeyCheckResult.WRITTEN


async def test_more_than_a_page_of_flows_and_sheets_is_rotated_row_by_row(
    settings: Settings, services: Services, master_key: str
) -> None:
    """Tables keyed by text (conversation_state's (kind, name, key), button_sheets' token hash)
    are paged by their whole key on either engine: each of more than a page of rows is
    re-sealed exactly once."""
    token = only(master_key).encrypt("{}", owner="x", purpose="conversation-state")
    count = 1_234
    postgres = isinstance(raw_db.where(settings), str)
    numbers = (
        f"generate_series(1, {count}) AS n"
        if postgres
        else f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count})"
        " SELECT n FROM s)"
    )
    text = "CAST(n AS TEXT)"
    await raw_db.execute(
        settings,
        "INSERT INTO conversation_state (kind, name, key, sealed, updated_at, user_id)"
        f" SELECT CASE WHEN n % 2 = 0 THEN 'user_data' ELSE 'conversation' END,"
        f" 'n' || CAST(n % 5 AS TEXT), '[' || {text} || ']', ?, 'x', n FROM {numbers}",
        token,
    )
    await raw_db.execute(
        settings,
        "INSERT INTO button_sheets (token_hash, store, sheet_id, telegram_user_id, created,"
        f" expires_at, sealed) SELECT 'h' || {text}, 'pk:', 's', n, n, '9999', ? FROM {numbers}",
        token,
    )
    new = generate_master_key()
    rotating = EncryptionService(EncryptionSettings(Secret(new), (Secret(master_key),)))
    counts = {c.column: c for c in await rotate_all(services.uow, rotating)}
    for table in ("conversation_state", "button_sheets"):
        assert (counts[f"{table}.sealed"].rotated, counts[f"{table}.sealed"].failed) == (count, 0)
        stored = [str(v) for (v,) in await raw_db.rows(settings, f"SELECT sealed FROM {table}")]
        assert len(stored) == len(set(stored)) == count
        assert all(only(new).encrypted_by(value) == 0 for value in stored)
