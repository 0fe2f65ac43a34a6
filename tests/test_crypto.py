"""Encryption at rest: key handling, round trip, owner/purpose binding, rotation."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import aiosqlite
import pytest

from bot.cli import main
from core.config import EncryptionSettings, Secret
from core.crypto import EncryptionService, generate_master_key
from core.errors import DecryptionError, EncryptionKeyError
from core.keyrotation import rotate_all
from storage.database import Database
from storage.secrets_repository import EncryptedColumnSpec


def service(master: str, *old: str) -> EncryptionService:
    return EncryptionService(EncryptionSettings(Secret(master), tuple(Secret(key) for key in old)))


def test_keygen_makes_44_char_urlsafe_32_byte_keys(capsys) -> None:
    assert main(["keygen"]) == 0
    key = capsys.readouterr().out.strip()
    assert len(key) == 44 and len(base64.urlsafe_b64decode(key)) == 32
    assert key != generate_master_key()


@pytest.mark.parametrize(
    "bad",
    ["", "short", "A" * 44, "not base64 at all !!!!!!!!!!!!!!!!!!!!!!!!!", "QUJD" * 11],
)
def test_missing_or_malformed_key_refuses_with_a_pointer_to_keygen(bad: str) -> None:
    settings = EncryptionSettings(Secret(bad) if bad else None)
    with pytest.raises(EncryptionKeyError) as info:
        EncryptionService(settings)
    assert "verzek keygen" in str(info.value)
    if bad:
        assert bad not in str(info.value)


def test_round_trip_and_ciphertext_is_not_plaintext() -> None:
    crypto = service(generate_master_key())
    token = crypto.encrypt("JBSWY3DPEHPK3PXP", owner=7, purpose="totp")
    assert "JBSWY3DPEHPK3PXP" not in token
    assert crypto.decrypt(token, owner=7, purpose="totp") == "JBSWY3DPEHPK3PXP"


def test_value_copied_to_another_owner_or_purpose_fails() -> None:
    crypto = service(generate_master_key())
    token = crypto.encrypt("secret", owner=7, purpose="totp")
    with pytest.raises(DecryptionError):
        crypto.decrypt(token, owner=8, purpose="totp")
    with pytest.raises(DecryptionError):
        crypto.decrypt(token, owner=7, purpose="apikey.secret")
    with pytest.raises(DecryptionError):
        crypto.decrypt(token[:-4] + "AAAA", owner=7, purpose="totp")


def test_wrong_key_fails_and_old_key_still_reads() -> None:
    old, new = generate_master_key(), generate_master_key()
    token = service(old).encrypt("v", owner=1, purpose="p")
    with pytest.raises(DecryptionError):
        service(new).decrypt(token, owner=1, purpose="p")
    rotated = service(new, old)
    assert rotated.decrypt(token, owner=1, purpose="p") == "v"
    assert not rotated.is_current(token)
    assert rotated.is_current(rotated.rotate(token))


def test_key_never_in_repr_or_errors(caplog) -> None:
    key = generate_master_key()
    crypto = service(key)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DecryptionError) as info:
        crypto.decrypt("garbage", owner=1, purpose="totp")
    assert key not in repr(crypto) and key not in str(info.value)
    assert key not in caplog.text


def test_signatures_detect_tampering() -> None:
    crypto = service(generate_master_key())
    signature = crypto.sign(1, "29000000", "abc")
    assert crypto.verify_signature(signature, 1, "29000000", "abc")
    assert not crypto.verify_signature(signature, 1, "29000001", "abc")


SPEC = EncryptedColumnSpec("vault", "secret", "test.vault", owner_column="owner_id")


async def make_vault(path: Path, crypto: EncryptionService, count: int) -> Database:
    database = Database(path, encrypted_columns=[SPEC])
    await database.open()
    async with aiosqlite.connect(path) as conn:
        await conn.execute(
            "CREATE TABLE vault (id INTEGER PRIMARY KEY, owner_id INTEGER, secret TEXT)"
        )
        for index in range(count):
            token = crypto.encrypt(f"value-{index}", owner=index, purpose="test.vault")
            await conn.execute("INSERT INTO vault VALUES (?, ?, ?)", (index + 1, index, token))
        await conn.execute("INSERT INTO vault VALUES (?, ?, NULL)", (count + 1, 99))
        await conn.commit()
    return database


async def test_rotation_reencrypts_everything_and_reports_counts(tmp_path: Path) -> None:
    old, new = generate_master_key(), generate_master_key()
    database = await make_vault(tmp_path / "v.db", service(old), 25)
    try:
        crypto = service(new, old)
        counts = await rotate_all(database.unit_of_work, crypto)
        assert [(c.column, c.rotated, c.already_current, c.failed) for c in counts] == [
            ("vault.secret", 25, 0, 0)
        ]
        only_new = service(new)
        async with database.unit_of_work(read_only=True) as uow:
            column = uow.secrets.columns()[0]
            values = [v async for v in uow.secrets.iter_values(column)]
        assert len(values) == 25
        for value in values:
            assert isinstance(value.owner, int) and value.row_id == (value.owner + 1,)
            assert only_new.decrypt(value.token, owner=value.owner, purpose="test.vault") == (
                f"value-{value.owner}"
            )
        again = await rotate_all(database.unit_of_work, crypto)
        assert (again[0].rotated, again[0].already_current) == (0, 25)
    finally:
        await database.close()


async def test_rotation_leaves_undecryptable_values_untouched(tmp_path: Path) -> None:
    lost, new = generate_master_key(), generate_master_key()
    database = await make_vault(tmp_path / "v.db", service(lost), 3)
    try:
        counts = await rotate_all(database.unit_of_work, service(new))
        assert (counts[0].rotated, counts[0].failed) == (0, 3)
        values = [v async for v in _values(database)]
        assert (
            service(new, lost).decrypt(values[0].token, owner=0, purpose="test.vault") == "value-0"
        )
    finally:
        await database.close()


async def _values(database: Database):
    async with database.unit_of_work(read_only=True) as uow:
        column = uow.secrets.columns()[0]
        async for value in uow.secrets.iter_values(column):
            yield value


FLOWS = EncryptedColumnSpec(
    "flows", "sealed", "test.flow", owner_column=None, key_columns=("kind", "name", "key")
)


async def test_rotation_pages_through_a_table_keyed_by_several_columns(tmp_path: Path) -> None:
    """A table without an integer id (conversation_state's (kind, name, key)): rows are paged
    by their whole key, so every one of more than a page of rows is rotated exactly once and
    each keeps its own row's binding."""
    old, new = generate_master_key(), generate_master_key()
    path = tmp_path / "f.db"
    database = Database(path, encrypted_columns=[FLOWS])
    await database.open()
    by_old = service(old)
    rows = [("c" if n % 3 else "u", f"n{n % 7}", f"[{n}, {n}]") for n in range(2_345)]
    try:
        async with aiosqlite.connect(path) as conn:
            await conn.execute(
                "CREATE TABLE flows (kind TEXT, name TEXT, key TEXT, sealed TEXT,"
                " PRIMARY KEY (kind, name, key))"
            )
            await conn.executemany(
                "INSERT INTO flows VALUES (?, ?, ?, ?)",
                [
                    (*row, by_old.encrypt("|".join(row), owner=row[2], purpose="test.flow"))
                    for row in rows
                ],
            )
            await conn.commit()
        counts = await rotate_all(database.unit_of_work, service(new, old))
        assert [(c.column, c.rotated, c.already_current, c.failed) for c in counts] == [
            ("flows.sealed", len(rows), 0, 0)
        ]
        values = [v async for v in _values(database)]
        assert sorted(v.row_id for v in values) == sorted(rows)
        only_new = service(new)
        for value in values:
            assert value.owner is None
            kind, name, key = (str(part) for part in value.row_id)
            assert only_new.decrypt(value.token, owner=key, purpose="test.flow") == (
                f"{kind}|{name}|{key}"
            )
    finally:
        await database.close()
