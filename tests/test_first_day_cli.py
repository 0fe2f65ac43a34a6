"""The CLI's words, read as an operator reads them: help for a bare command, ``backup list``
within 80 columns, "1 row" and "2 rows" (never "row(s)")."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.crypto import generate_master_key
from tests.support.first_day import clean_env, verzek


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        VERZEK_DB=str(tmp_path / "data" / "verzek.db"),
        ENCRYPTION_MASTER_KEY=generate_master_key(),
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "subcommands"),
    [("audit", ["verify", "export"]), ("backup", ["create", "list", "verify", "restore"])],
)
def test_a_bare_command_prints_its_help(
    tmp_path: Path, env: dict[str, str], command: str, subcommands: list[str]
) -> None:
    done = verzek(command, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: verzek {command}")
    for name in subcommands:
        assert name in done.stdout
    assert "error" not in done.stderr


@pytest.mark.slow
def test_backup_list_fits_80_columns_and_counts_in_words(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert verzek("migrate", env=env, cwd=tmp_path).returncode == 0
    created = verzek("backup", "create", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    backups = tmp_path / "backups"
    # A damaged archive: its problem is shown, wrapped, not run off the edge.
    (backups / "verzek-20260101T020000Z.tar.gz").write_bytes(b"not a tar archive at all" * 10)
    listed = verzek("backup", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines, listed.stderr
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert "verified: yes" in listed.stdout and "verified: NO" in listed.stdout
    assert "audit_events=" in listed.stdout

    verified = verzek("audit", "verify", env=env, cwd=tmp_path)
    assert verified.stdout.splitlines()[:2] == [
        "audit chain OK: 1 row verified",
        "anchors OK: 1 recorded anchor matches",  # the one the backup recorded
    ]
    exported = verzek("audit", "export", env=env, cwd=tmp_path)
    assert exported.stderr.strip() == "exported 1 event"

    name = created.stdout.splitlines()[0].rsplit("/", 1)[1]
    restored = verzek("backup", "restore", name, "--yes", env=env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "0 sessions ended: everyone logs in again" in restored.stdout
    for output in (listed, verified, exported, restored):
        assert "(s)" not in output.stdout + output.stderr


def test_relative_paths_follow_the_config_file_not_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.config import load_settings

    conf = tmp_path / "etc" / "verzek"
    conf.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    given = conf / "given.toml"
    given.write_text('[database]\npath = "db/v.db"\n[backups]\ndir = "../archives"\n')
    settings = load_settings(given, {})
    assert settings.database.path == conf / "db" / "v.db"
    assert settings.backups.dir == conf / ".." / "archives"
    # Left out of the file: the defaults live beside the file too.
    empty = conf / "empty.toml"
    empty.write_text("")
    defaults = load_settings(empty, {})
    assert defaults.database.path == conf / "data" / "verzek.db"
    assert defaults.backups.dir == conf / "backups"
    # Absolute paths stay; a relative VERZEK_DB was typed in a shell: the current folder's.
    absolute = conf / "absolute.toml"
    absolute.write_text(f'[database]\npath = "{tmp_path / "abs.db"}"\n')
    assert load_settings(absolute, {}).database.path == tmp_path / "abs.db"
    assert load_settings(given, {"VERZEK_DB": "here.db"}).database.path == Path("here.db")
    # Without a config file nothing changes: relative to the current folder, as before.
    assert load_settings(None, {}).database.path == Path("data/verzek.db")
