"""``verzek backup create|list|verify NAME|restore NAME|drill``, for when the bot is stopped.

The same :class:`core.backups.service.BackupService` the bot uses. Results go to stdout, progress
lines to stderr; a refusal raises a :class:`core.errors.VerzekError`, which ``verzek`` prints
as one ``verzek:`` line with a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import textwrap
from collections.abc import Callable, Coroutine
from typing import Any

from bot.bootstrap import operations
from bot.cli_keycheck import check_key
from bot.wording import count

# The CLI runs on the machine, with the key and the database: it acts as the operator.
from core.authz import OPERATOR
from core.backups.archive_rules import BackupError, UnsealedArchive, human_size
from core.backups.results import BackupInfo
from core.config import Settings, load_settings
from core.errors import StorageError, VerzekError

EXIT_OK, EXIT_FAILED = 0, 1
UNSEALED_HINT = (
    "; it can be checked and restored only with --allow-unsealed, and only if you are sure "
    "nobody edited it"
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
LINE_WIDTH = 80  # `backup list` fits a standard terminal


def _run(work: Coroutine[Any, Any, int]) -> int:
    """Run a command; a refused backup is one ``verzek:`` line with the operator's reason."""
    try:
        return asyncio.run(work)
    except BackupError as exc:
        raise VerzekError(exc.problem) from None


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, os.environ)


def _line(info: BackupInfo, width: int = LINE_WIDTH) -> str:
    """One archive in lines of at most ``width`` columns: name, time, size and schema; whether
    it verifies; its rows per table, wrapped."""
    manifest = info.manifest
    schema = manifest.schema_version if manifest is not None else "?"
    head = (
        f"{info.name}  {info.created_at.strftime(TIME_FORMAT)} UTC  "
        f"{human_size(info.size):>8}  schema {schema}"
    )
    verified = "yes" if info.verified else f"NO ({info.problem})"
    rows = (
        " ".join(f"{table}={rows}" for table, rows in manifest.row_counts.items())
        if manifest is not None
        else "-"
    )
    lines = [head] if len(head) <= width else textwrap.wrap(head, width, subsequent_indent="  ")
    lines += textwrap.wrap(
        f"verified: {verified}", width, initial_indent="  ", subsequent_indent="    "
    )
    lines += textwrap.wrap(
        f"rows: {rows}",
        width,
        initial_indent="  ",
        subsequent_indent="        ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n".join(lines)


def _present(settings: Settings) -> bool:
    """Whether there is a database to back up (PostgreSQL's is on its server)."""
    return settings.database.url is not None or settings.database.path.is_file()


def cmd_create(args: argparse.Namespace) -> int:
    """Back up the database now."""
    settings = _settings(args)
    if not _present(settings):
        raise VerzekError(f"there is no database at {settings.database.path} to back up")

    async def work() -> int:
        ops = operations(settings)
        database = ops.database
        # No migrations: a backup taken before an upgrade must hold the old schema as it is.
        await database.open(apply_migrations=False)
        try:
            await check_key(ops, required=False)
            info = await ops.backups.create(OPERATOR, progress=_progress)
        finally:
            await database.close()
        print(f"{settings.backups.dir / info.name}")
        print(_line(info))
        return EXIT_OK

    return _run(work())


def cmd_list(args: argparse.Namespace) -> int:
    """Every archive, newest first, verified."""
    settings = _settings(args)

    async def work() -> int:
        infos = await operations(settings).backups.list_backups(OPERATOR, progress=_progress)
        if not infos:
            _progress(f"no backups in {settings.backups.dir}")
        for index, info in enumerate(infos):
            print(("\n" if index else "") + _line(info))
        return EXIT_OK

    return _run(work())


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify one archive as a restore would."""
    settings = _settings(args)

    async def work() -> int:
        info = await operations(settings).backups.verify(
            OPERATOR, args.name, progress=_progress, allow_unsealed=args.allow_unsealed
        )
        print(_line(info))
        if not info.verified:
            hint = UNSEALED_HINT if info.unsealed else ""
            raise VerzekError(f"{info.name} does not verify: {info.problem}{hint}")
        if not info.manifest or not info.manifest.sealed:
            _progress("warning: this archive is not sealed (made before sealed backups)")
        return EXIT_OK

    return _run(work())


def _confirmed(args: argparse.Namespace, settings: Settings, ask: Callable[[str], str]) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise VerzekError("restore replaces the whole database: add --yes to confirm")
    _progress(
        f"This replaces ALL data in {settings.database.place()} with {args.name} (a safety "
        "backup is taken first) and ends every session."
    )
    return ask("Type the backup's name to go on: ").strip() == str(args.name)


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the database with an archive (the bot must be stopped)."""
    settings = _settings(args)
    if not _confirmed(args, settings, input):
        raise VerzekError("not confirmed; nothing was changed")
    path = settings.database.path

    async def work() -> int:
        if settings.database.url is None:
            path.parent.mkdir(parents=True, exist_ok=True)
        ops = operations(settings)
        database = ops.database
        if _present(settings):
            try:
                await database.open(apply_migrations=False)
            except (StorageError, sqlite3.Error) as exc:
                # Restoring over a damaged file is what restore is for: go on without it.
                _progress(f"the current database cannot be opened ({exc}); restoring over it")
            else:
                try:
                    await check_key(ops, required=False)
                except BaseException:
                    await database.close()
                    raise
        try:
            result = await ops.backups.restore(
                OPERATOR, args.name, progress=_progress, allow_unsealed=args.allow_unsealed
            )
        except UnsealedArchive as exc:
            raise VerzekError(f"restore refused: {exc.problem}{UNSEALED_HINT}") from None
        except BackupError as exc:
            raise VerzekError(f"restore refused: {exc.problem}") from None
        finally:
            await database.close()
        print(f"restored {result.name} (taken {result.restored.created_at:%Y-%m-%d %H:%M:%S} UTC)")
        print(f"safety backup of the replaced data: {result.safety_backup or 'none (no database)'}")
        print(f"{count(result.sessions_ended, 'session')} ended: everyone logs in again")
        return EXIT_OK

    return _run(work())


def cmd_drill(args: argparse.Namespace) -> int:
    """Restore the newest archive into a temp file with every check; exit 1 if it fails."""
    settings = _settings(args)

    async def work() -> int:
        ops = operations(settings)
        # The outcome is audited in the database next to the archives; a folder drilled on
        # another machine (no database there) is drilled all the same, unaudited.
        present = _present(settings)
        if present:
            await ops.database.open(apply_migrations=False)
        try:
            if present:
                await check_key(ops, required=False)
            result = await ops.backups.drill(OPERATOR, progress=_progress, audit=present)
        except BackupError as exc:
            raise VerzekError(f"restore drill failed: {exc.problem}") from None
        finally:
            if present:
                await ops.database.close()
        print(_line(result.info))
        if not result.passed:
            raise VerzekError(f"restore drill failed: {result.info.name}: {result.info.problem}")
        print(f"restore drill passed: {result.info.name} passes every check of a restore")
        return EXIT_OK

    return _run(work())


def add_backup_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """``verzek backup …``."""
    backup = sub.add_parser("backup", help="back up, list, verify and restore the database")

    def show_help(args: argparse.Namespace) -> int:
        backup.print_help()
        return EXIT_OK

    backup.set_defaults(func=show_help)
    commands = backup.add_subparsers(
        dest="backup_command", metavar="{create,list,verify,restore,drill}"
    )
    unsealed_help = (
        "accept an archive made before sealed backups (nothing proves it was not edited)"
    )
    with_config(commands.add_parser("create", help="back up the database now")).set_defaults(
        func=cmd_create
    )
    with_config(commands.add_parser("list", help="archives, newest first, verified")).set_defaults(
        func=cmd_list
    )
    verify = with_config(commands.add_parser("verify", help="verify one archive"))
    verify.add_argument("name", help="archive name, e.g. verzek-20260101T020000Z.tar.gz")
    verify.add_argument("--allow-unsealed", action="store_true", help=unsealed_help)
    verify.set_defaults(func=cmd_verify)
    restore = with_config(
        commands.add_parser("restore", help="replace the database with an archive (bot stopped)")
    )
    restore.add_argument("name", help="archive name, e.g. verzek-20260101T020000Z.tar.gz")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.add_argument("--allow-unsealed", action="store_true", help=unsealed_help)
    restore.set_defaults(func=cmd_restore)
    with_config(
        commands.add_parser(
            "drill", help="restore the newest archive into a temp file with every check"
        )
    ).set_defaults(func=cmd_drill)
