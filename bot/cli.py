"""The ``verzek`` command line: run the bot and operate its data with the bot stopped.

Expected failures (bad config, missing key, unreachable Telegram) end with one clear line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bot import texts
from bot.bootstrap import Operations, encryption, operations
from bot.cli_backups import add_backup_commands
from bot.cli_keycheck import check_key, open_checked
from bot.wording import count
from core.audit.ports import Anchor
from core.backups.archive_rules import BackupError
from core.clock import to_iso
from core.config import Settings, load_settings
from core.crypto import generate_master_key
from core.errors import ConfigError, Refusal, VerzekError
from core.keycheck import store_key_check
from core.keyrotation import resign_all, rotate_all

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


_TAG = re.compile(r"<[^>]+>")


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"verzek: {message}", file=sys.stderr)
    return code


def refusal_line(refusal: Refusal) -> str:
    """A core refusal in the words the bot would use, as plain text for a terminal (the
    reason's repr is for logs, not for the operator). A backup's diagnostic is already
    plain text, kept as it is."""
    if isinstance(refusal, BackupError):
        return refusal.problem
    return " ".join(html.unescape(_TAG.sub("", texts.render(refusal))).split())


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, os.environ)


async def _with_database(
    settings: Settings, work: Callable[[Operations], Awaitable[int]], *, key: bool = False
) -> int:
    # Without ``key`` these commands need none; a configured one must still fit (a wrong one is
    # a mistake the operator wants to hear about before the bot starts with it).
    ops = await open_checked(settings, required=key)
    try:
        return await work(ops)
    finally:
        await ops.database.close()


def cmd_keygen(args: argparse.Namespace) -> int:
    """Print a new master key."""
    print(generate_master_key())
    _progress(
        "Store it as ENCRYPTION_MASTER_KEY in the bot's environment (never in git). "
        "When replacing a key, move the old one to ENCRYPTION_OLD_KEYS and run "
        "`verzek rotate-key`."
    )
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations."""
    settings = _settings(args)

    async def work() -> int:
        ops = operations(settings)
        database = ops.database
        applied = await database.open()
        try:
            await check_key(ops, required=False)
            for migration in applied:
                _progress(f"applied {migration.version:04d}_{migration.name}")
            if settings.encryption.master_key is not None:
                keyed = await ops.audit.ensure_keyed()
                if keyed is not None:
                    _progress(f"audit chain: {keyed.event_type} chained as row {keyed.id}")
            version = await database.schema_version()
        finally:
            await database.close()
        print(f"{settings.database.place()}: schema version {version}")
        return EXIT_OK

    return asyncio.run(work())


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check the keyed audit chain, its head and every recorded anchor; print the last anchor
    (to compare with the one pinned in the admin chat); exit 1 naming the first bad row."""
    settings = _settings(args)

    async def work(ops: Operations) -> int:
        report = await ops.audit.verify(
            progress=lambda n: _progress(f"… {count(n, 'row')} verified")
        )
        if report.ok:
            sealed = (
                f"; the first {count(report.legacy_rows, 'row')} kept their SHA-256 links "
                f"from before keying, sealed by row {report.legacy_rows + 1}"
                if report.legacy_rows
                else ""
            )
            print(f"audit chain OK: {count(report.checked, 'row')} verified{sealed}")
            if report.anchors_checked:
                verb = "matches" if report.anchors_checked == 1 else "match"
                print(f"anchors OK: {count(report.anchors_checked, 'recorded anchor')} {verb}")
        else:
            print(
                f"audit chain BROKEN at row {report.bad_row_id}: {report.reason} "
                f"({count(report.checked, 'row')} before it verified)"
            )
        print(describe_last_anchor(await ops.anchors.last()))
        return EXIT_OK if report.ok else EXIT_FAILED

    return asyncio.run(_with_database(settings, work, key=True))


def describe_last_anchor(anchor: Anchor | None) -> str:
    """The line a person compares with the anchor pinned in the admin chat."""
    if anchor is None:
        return "last anchor: none recorded yet (the bot posts one within an hour of starting)"
    where = (
        f"posted {anchor.posted_at:%Y-%m-%d %H:%M:%S} UTC as message {anchor.message_id}"
        if anchor.posted_at is not None
        else f"recorded {anchor.recorded_at:%Y-%m-%d %H:%M:%S} UTC, not posted yet"
    )
    return (
        f"last anchor: #{anchor.id}, row {anchor.last_audit_id}, link {anchor.link[:16]}…, "
        f"{where}\ncompare it with the anchor pinned in the admin chat: a newer one there "
        "means this database was rolled back or cut"
    )


def _parse_since(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError([f"--since {text!r} is not a date (use YYYY-MM-DD)"]) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_audit_export(args: argparse.Namespace) -> int:
    """Write the audit log as JSON Lines to stdout."""
    settings = _settings(args)
    since = _parse_since(args.since) if args.since else None

    async def work(ops: Operations) -> int:
        exported = 0
        async for row in ops.audit.export(since=since):
            line = {**asdict(row), "ts": to_iso(row.ts)}  # the stored text, as before
            sys.stdout.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            exported += 1
        _progress(f"exported {count(exported, 'event')}")
        return EXIT_OK

    return asyncio.run(_with_database(settings, work))


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """Re-encrypt every secret and re-sign every signed row under the newest key; print counts.

    Rows whose signature no configured key made are refused (left as they are, still
    untrusted): the exit code is then non-zero, as for undecryptable secrets."""
    settings = _settings(args)
    crypto = encryption(settings)

    async def work() -> int:
        # The newest key or an old one must fit: rotating is how an old one stops being needed.
        ops = await open_checked(settings, write=True, accept_old=True)
        try:
            return await rotate(ops)
        finally:
            await ops.database.close()

    async def rotate(ops: Operations) -> int:
        database = ops.database
        # The rotation is itself chained: the first row under the new key names the old one.
        rotated = await ops.audit.ensure_keyed()
        if rotated is not None:
            print(f"audit chain: {rotated.event_type} chained as row {rotated.id}")
        else:
            print("audit chain: already under the newest key")
        counts = await rotate_all(
            database.unit_of_work,
            crypto,
            progress=lambda column, n: _progress(f"… {column}: {n:,} re-encrypted"),
        )
        failed = 0
        for column in counts:
            print(
                f"{column.column}: {column.rotated} re-encrypted, "
                f"{column.already_current} already current, {column.failed} undecryptable"
            )
            failed += column.failed
        total = sum(column.rotated for column in counts)
        print(f"total: {total} re-encrypted across {len(counts)} encrypted columns")
        signed = await resign_all(
            database.unit_of_work,
            crypto,
            progress=lambda table, n: _progress(f"… {table}: {n:,} re-signed"),
        )
        refused = 0
        for table in signed:
            print(
                f"{table.table}: {table.resigned} re-signed, "
                f"{table.already_current} already current, {table.refused} refused (bad signature)"
            )
            refused += table.refused
        total = sum(table.resigned for table in signed)
        print(f"total: {total} re-signed across {len(signed)} signed tables")
        await store_key_check(database.unit_of_work, crypto, ops.clock)
        problems = []
        if failed:
            problems.append(
                f"{count(failed, 'value')} could not be decrypted with any configured key "
                "(left as stored); add the missing key to ENCRYPTION_OLD_KEYS and run again"
            )
        if refused:
            problems.append(
                f"{count(refused, 'signed row')} "
                f"{'fails its' if refused == 1 else 'fail their'} signature under every "
                "configured key (tampered, or signed by a key missing from ENCRYPTION_OLD_KEYS), "
                "left as stored and still untrusted; investigate before dropping any old key"
            )
        if problems:
            return _fail("; ".join(problems))
        return EXIT_OK

    return asyncio.run(work())


class _OneLineFor(logging.Filter):
    """Logs records about the given exceptions from python-telegram-bot without a traceback.

    PTB logs a failed start-up (Telegram unreachable, token refused) with a full traceback
    before raising it; ``cmd_run`` reports those in one ``verzek:`` line, so the traceback is
    only noise (and not the "no tracebacks" promised for expected failures).
    """

    def __init__(self, kinds: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self._kinds = kinds

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name.startswith("telegram") and isinstance(error, self._kinds):
            record.msg, record.args = f"{record.getMessage()} ({type(error).__name__})", None
            record.exc_info, record.exc_text = None, None
        return True


def cmd_run(args: argparse.Namespace) -> int:
    """Start the bot (polling, or a webhook with ``telegram.mode = "webhook"``) until
    interrupted."""
    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application
    from bot.logging_setup import configure_logging
    from bot.startup import log_started, parse_log_level, preflight
    from bot.webhook import run_webhook
    from core.webhook_config import WEBHOOK

    settings = _settings(args)
    settings.require_for_run()
    encryption(settings)  # refuse a missing/malformed key before anything
    level = parse_log_level(os.environ.get("VERZEK_LOG_LEVEL"))
    secrets = [
        s.get()
        for s in (
            settings.telegram.token,
            settings.telegram.webhook_secret,
            settings.tronscan.api_key,
            settings.encryption.master_key,
            *settings.encryption.old_keys,
        )
        if s is not None
    ]
    secrets += [p for p in [settings.rate_limits.storage.password()] if p]
    database_url = settings.database.url
    secrets += [p for p in [database_url.password() if database_url else None] if p]
    # Off-site S3 credentials live in boto3's standard environment, never in our config.
    secrets += [
        os.environ[n] for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if n in os.environ
    ]
    configure_logging(level, secrets)
    one_line = _OneLineFor((NetworkError, InvalidToken))
    for handler in logging.getLogger().handlers:
        handler.addFilter(one_line)
    # Key, Bot API and TronScan are checked before PTB starts: each failure is one line.
    identity = asyncio.run(preflight(settings))
    log_started(settings, identity)
    application = build_application(settings)
    try:
        if settings.telegram.mode == WEBHOOK:
            run_webhook(application, settings)
        else:
            application.run_polling(drop_pending_updates=False)
    except InvalidToken:
        return _fail("Telegram refused the bot token: check TELEGRAM_BOT_TOKEN")
    except NetworkError as exc:
        return _fail(
            f"cannot reach the Telegram Bot API at {settings.telegram.base_url} "
            f"({type(exc).__name__}); check the network or telegram.base_url"
        )
    except OSError as exc:  # the webhook's port is taken, or the address is not this host's
        where = f"{settings.telegram.webhook_listen}:{settings.telegram.webhook_port}"
        return _fail(
            f"cannot listen for the webhook on {where} ({exc.strerror or type(exc).__name__}); "
            "check telegram.webhook_listen and telegram.webhook_port"
        )
    return EXIT_OK


def cmd_shell(args: argparse.Namespace) -> int:
    """Talk to the real bot from this terminal: a fake Telegram, no network, no token."""
    from bot.shell import run_shell

    return run_shell(
        _settings(args),
        user_id=args.as_user,
        admin=args.admin,
        db=args.db,
        real_tronscan=args.real_tronscan,
    )


def _help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command without its subcommand prints its help (``verzek audit``)."""

    def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_OK

    return show


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and --help)."""
    parser = argparse.ArgumentParser(prog="verzek", description="Verzek Guard")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, default=None, help="TOML config (config.toml)")
        return p

    with_config(sub.add_parser("run", help="start the bot")).set_defaults(func=cmd_run)
    shell = with_config(sub.add_parser("shell", help="use the bot from this terminal"))
    shell.add_argument("--as", dest="as_user", type=int, metavar="USER_ID", help="Telegram user id")
    shell.add_argument("--admin", action="store_true", help="start as the configured admin")
    shell.add_argument("--db", type=Path, help="keep the database in this file")
    shell.add_argument(
        "--real-tronscan",
        action="store_true",
        help="ask the real TronScan (network) instead of the simulated one",
    )
    shell.set_defaults(func=cmd_shell)
    sub.add_parser("keygen", help="print a new master key").set_defaults(func=cmd_keygen)
    with_config(sub.add_parser("migrate", help="apply database migrations")).set_defaults(
        func=cmd_migrate
    )
    with_config(
        sub.add_parser(
            "rotate-key", help="re-encrypt secrets and re-sign signed rows under the newest key"
        )
    ).set_defaults(func=cmd_rotate_key)
    audit_parser = sub.add_parser("audit", help="audit log tools")
    audit_parser.set_defaults(func=_help_of(audit_parser))
    audit = audit_parser.add_subparsers(dest="audit_command", metavar="{verify,export}")
    with_config(audit.add_parser("verify", help="check the hash chain")).set_defaults(
        func=cmd_audit_verify
    )
    export = with_config(audit.add_parser("export", help="JSON Lines to stdout"))
    export.add_argument("--since", help="only events from this date (YYYY-MM-DD)")
    export.set_defaults(func=cmd_audit_export)
    add_backup_commands(sub, with_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``verzek`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"verzek: config: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except Refusal as exc:
        return _fail(refusal_line(exc))
    except VerzekError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
