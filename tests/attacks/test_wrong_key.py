"""Starting on a database with a master key that did not make it.

The trick (by mistake or on purpose): a well-formed but different ``ENCRYPTION_MASTER_KEY``.
A README snippet that regenerates the key at every paste, ``verzek shell --db`` without a
key, a typo'd secret, or someone who deletes the stored key check hoping the bot adopts
their key. Before, the bot started normally and then every 2FA login failed, signed rows
raised tampering alerts and wallets froze. Now every door that opens the database (``run``,
``shell --db``, the CLI) refuses with one ``verzek:`` line, and nothing is written: no key
check adopted, no row changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.crypto import generate_master_key
from tests.support.fakeapi_http import FakeBotAPIThread
from tests.support.first_day import (
    add_signed_invoice,
    add_totp_secret,
    assert_one_line_failure,
    clean_env,
    crypto_for,
    key_check_rows,
    make_pre_check,
    sql,
    table_counts,
    verzek,
)

pytestmark = pytest.mark.slow  # every test here starts a subprocess

WRONG = "this key did not encrypt this database"


def first_start(tmp_path: Path, key: str) -> Path:
    """The operator's first start (``verzek shell --db``: no network needed); a TOTP secret
    stored under ``key`` afterwards, as a trader's enrolment would."""
    db = tmp_path / "data" / "verzek.db"
    done = verzek(
        "shell",
        "--db",
        str(db),
        env=clean_env(ENCRYPTION_MASTER_KEY=key),
        cwd=tmp_path,
        stdin=":quit\n",
    )
    assert done.returncode == 0, done.stderr
    assert len(key_check_rows(db)) == 1
    add_totp_secret(db, key)
    return db


@pytest.fixture
def key() -> str:
    return generate_master_key()


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["audit", "verify"],
        ["audit", "export"],
        ["backup", "create"],
        ["rotate-key"],
        ["shell", "--db", "DB"],
    ],
    ids=lambda c: " ".join(c),
)
def test_a_freshly_generated_key_is_refused_by_every_command(
    tmp_path: Path, key: str, command: list[str]
) -> None:
    """The README-paste trap: a new key generated at the next start, same database."""
    db = first_start(tmp_path, key)
    before, check = table_counts(db), key_check_rows(db)
    env = clean_env(ENCRYPTION_MASTER_KEY=generate_master_key(), VERZEK_DB=str(db))
    argv = [str(db) if part == "DB" else part for part in command]
    done = verzek(*argv, env=env, cwd=tmp_path, stdin=":quit\n")
    line = assert_one_line_failure(done, WRONG, str(db.resolve()))
    assert "ENCRYPTION_MASTER_KEY" in line
    assert "Verzek Guard shell" not in done.stdout  # refused before the session began
    assert table_counts(db) == before and key_check_rows(db) == check
    assert not list(tmp_path.glob("backups/verzek-*")), "no backup made with the wrong key"


def test_verzek_run_with_a_new_key_stops_before_it_talks_to_telegram(
    tmp_path: Path, key: str
) -> None:
    """The original trap: ``export ENCRYPTION_MASTER_KEY=$(verzek keygen)`` pasted again, then
    ``verzek run``. It used to start, answer users and fail every 2FA login."""
    db = first_start(tmp_path, key)
    before, check = table_counts(db), key_check_rows(db)
    with FakeBotAPIThread() as served:
        env = clean_env(
            TELEGRAM_BOT_TOKEN="123456789:AA" + "x" * 33,
            TELEGRAM_BASE_URL=served.base_url,
            ADMIN_CHAT_ID="-100500",
            VERZEK_DB=str(db),
            ENCRYPTION_MASTER_KEY=generate_master_key(),
            VERZEK_LOG_LEVEL="DEBUG",
        )
        done = verzek("run", env=env, cwd=tmp_path)
        assert served.server.requests_served == 0, "refused before any Bot API call"
    assert_one_line_failure(done, WRONG)
    assert env["ENCRYPTION_MASTER_KEY"] not in done.stderr
    assert table_counts(db) == before and key_check_rows(db) == check


def test_shell_db_without_a_key_does_not_invent_one(tmp_path: Path, key: str) -> None:
    """``verzek shell --db PATH`` with no key at all used to generate a throwaway one and
    start on the kept database with it."""
    db = first_start(tmp_path, key)
    before = table_counts(db)
    done = verzek("shell", "--db", str(db), env=clean_env(), cwd=tmp_path, stdin="/start\n")
    assert_one_line_failure(done, WRONG)
    assert table_counts(db) == before


def test_an_old_key_that_fits_asks_for_the_rotation(tmp_path: Path, key: str) -> None:
    """Half a rotation: the new key set, the old one kept in ENCRYPTION_OLD_KEYS, but
    ``verzek rotate-key`` not run yet. Starting would write new rows under one key while old
    ones stay under the other; the line says what to do instead."""
    db = first_start(tmp_path, key)
    new = generate_master_key()
    env = clean_env(ENCRYPTION_MASTER_KEY=new, ENCRYPTION_OLD_KEYS=key, VERZEK_DB=str(db))
    before = table_counts(db)
    for command in (["migrate"], ["shell", "--db", str(db)]):
        done = verzek(*command, env=env, cwd=tmp_path, stdin=":quit\n")
        assert_one_line_failure(done, WRONG, "ENCRYPTION_OLD_KEYS entry 1", "verzek rotate-key")
    assert table_counts(db) == before

    rotated = verzek("rotate-key", env=env, cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    [(_, mac, _)] = key_check_rows(db)
    assert crypto_for(new).key_check_made_by(str(mac)) == 0  # the check moved with the data
    [(token,)] = sql(db, "SELECT secret_enc FROM mfa")
    assert crypto_for(new).encrypted_by(str(token)) == 0

    alone = clean_env(ENCRYPTION_MASTER_KEY=new, VERZEK_DB=str(db))
    assert verzek("migrate", env=alone, cwd=tmp_path).returncode == 0
    old_alone = clean_env(ENCRYPTION_MASTER_KEY=key, VERZEK_DB=str(db))
    assert_one_line_failure(verzek("migrate", env=old_alone, cwd=tmp_path), WRONG)


def test_a_wrong_key_cannot_rotate_itself_in(tmp_path: Path, key: str) -> None:
    """``rotate-key`` with an unrelated key (and no fitting old key) would re-encrypt
    nothing and adopt the new key's check: refused instead."""
    db = first_start(tmp_path, key)
    before, check = table_counts(db), key_check_rows(db)
    env = clean_env(
        ENCRYPTION_MASTER_KEY=generate_master_key(),
        ENCRYPTION_OLD_KEYS=generate_master_key(),
        VERZEK_DB=str(db),
    )
    assert_one_line_failure(verzek("rotate-key", env=env, cwd=tmp_path), WRONG)
    assert table_counts(db) == before and key_check_rows(db) == check


def test_deleting_the_key_check_does_not_let_another_key_in(tmp_path: Path, key: str) -> None:
    """Delete the stored check and hope the next start adopts whatever key it has: the
    stored secrets decide, and they were not made by that key."""
    db = first_start(tmp_path, key)
    sql(db, "DELETE FROM key_check")
    before = table_counts(db)
    intruder = clean_env(ENCRYPTION_MASTER_KEY=generate_master_key())
    done = verzek("shell", "--db", str(db), env=intruder, cwd=tmp_path, stdin=":quit\n")
    assert_one_line_failure(done, WRONG)
    assert key_check_rows(db) == [] and table_counts(db) == before

    owner = clean_env(ENCRYPTION_MASTER_KEY=key)
    done = verzek("shell", "--db", str(db), env=owner, cwd=tmp_path, stdin=":quit\n")
    assert done.returncode == 0, done.stderr
    [(_, mac, _)] = key_check_rows(db)
    assert crypto_for(key).key_check_made_by(str(mac)) == 0


def test_a_forged_key_check_is_refused(tmp_path: Path, key: str) -> None:
    """Overwrite the stored check with one no configured key made: refused, even for the
    owner's key (the operator hears of the damage at start-up, not at a failed login)."""
    db = first_start(tmp_path, key)
    sql(db, "UPDATE key_check SET mac = ?", "0" * 64)
    owner = clean_env(ENCRYPTION_MASTER_KEY=key, VERZEK_DB=str(db))
    assert_one_line_failure(verzek("migrate", env=owner, cwd=tmp_path), WRONG)


def test_a_database_from_before_the_check_gets_one_only_from_its_own_key(
    tmp_path: Path, key: str
) -> None:
    """An upgrade: a database made before the key check existed (older schema, no table)
    holding a secret. The wrong key is refused and adopts nothing; the right one writes it."""
    db = first_start(tmp_path, key)
    make_pre_check(db)
    intruder = clean_env(ENCRYPTION_MASTER_KEY=generate_master_key())
    done = verzek("shell", "--db", str(db), env=intruder, cwd=tmp_path, stdin=":quit\n")
    assert_one_line_failure(done, WRONG)
    assert key_check_rows(db) == []
    [(secret,)] = sql(db, "SELECT secret_enc FROM mfa")
    assert crypto_for(key).encrypted_by(str(secret)) == 0  # untouched

    owner = clean_env(ENCRYPTION_MASTER_KEY=key)
    done = verzek("shell", "--db", str(db), env=owner, cwd=tmp_path, stdin=":quit\n")
    assert done.returncode == 0, done.stderr
    assert len(key_check_rows(db)) == 1


def test_an_empty_old_database_takes_the_key_it_is_started_with(tmp_path: Path) -> None:
    """No secret and no signature yet: nothing to prove, any key may become its key."""
    key = generate_master_key()
    db = tmp_path / "data" / "verzek.db"
    done = verzek("migrate", env=clean_env(VERZEK_DB=str(db)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    make_pre_check(db)
    done = verzek(
        "shell",
        "--db",
        str(db),
        env=clean_env(ENCRYPTION_MASTER_KEY=key),
        cwd=tmp_path,
        stdin=":quit\n",
    )
    assert done.returncode == 0, done.stderr
    [(_, mac, _)] = key_check_rows(db)
    assert crypto_for(key).key_check_made_by(str(mac)) == 0


def test_signed_rows_alone_also_tell_the_key(tmp_path: Path) -> None:
    """A database from before the check with payments but no 2FA secret: the signatures of
    its invoices decide, as secrets would."""
    key = generate_master_key()
    db = tmp_path / "data" / "verzek.db"
    assert verzek("migrate", env=clean_env(VERZEK_DB=str(db)), cwd=tmp_path).returncode == 0
    add_signed_invoice(db, key)
    make_pre_check(db)
    intruder = clean_env(ENCRYPTION_MASTER_KEY=generate_master_key())
    done = verzek("shell", "--db", str(db), env=intruder, cwd=tmp_path, stdin=":quit\n")
    assert_one_line_failure(done, WRONG)
    assert key_check_rows(db) == []
    owner = clean_env(ENCRYPTION_MASTER_KEY=key)
    done = verzek("shell", "--db", str(db), env=owner, cwd=tmp_path, stdin=":quit\n")
    assert done.returncode == 0, done.stderr
    assert len(key_check_rows(db)) == 1
