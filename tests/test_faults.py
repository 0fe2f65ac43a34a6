"""Faults: the process killed mid-stream, Telegram failing for a while, a disk filling up.

What must hold each time: nothing the bot acknowledged is lost (a reply the user received
means its event is committed), the audit chain still verifies, and the bot keeps serving.
TronScan outages are covered with the payments (tests/test_payments_flow.py: an outage keeps a
payment pending, then the job approves it; every kind of chain failure leaves it pending).
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sys
from pathlib import Path
from typing import IO, Any

import pytest
from telegram.error import TimedOut

from bot import texts
from bot.fake_telegram import Message, TelegramUser, html_to_plain
from bot.jobs.backups import JOB_NAME
from core.adapters import backup_archive
from core.audit.log import EventType
from core.authz import OPERATOR
from core.backups.archive_rules import BackupError
from core.clock import FakeClock
from core.crypto import generate_master_key
from tests.support import raw_db
from tests.support.bot_process import REPO_ROOT, BotProcess, new_token
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.fakeapi_http import FakeBotAPIServer
from tests.support.harness import BotHarness
from tests.support.steps import EMAIL, PASSWORD, login, register

FAST_CONFIG = (
    "[security]\ncaptcha = false\n"
    '[rate_limits]\nauth = "1000/minute"\ndefault = "10000/minute"\n'
    '[rate_limits.tiers]\nfree = "10000/minute"\n'
)
REFUSED = html_to_plain(texts.NOT_ALLOWED)


async def query(database: raw_db.Target, sql: str, *params: Any) -> list[tuple]:
    return await raw_db.rows(database, sql, *params)


async def integrity(database: raw_db.Target) -> str:
    return await raw_db.integrity(database)


async def audit_verify(workdir: Path, env: dict[str, str]) -> tuple[int, str]:
    """``verzek audit verify`` as an operator runs it; returns (exit code, output)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "audit",
        "verify",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode(errors="replace")


def run_env(workdir: Path, base_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "VERZEK_", "ENCRYPTION_", "TRONSCAN_", "ADMIN_"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "TELEGRAM_BOT_TOKEN": new_token(),
            "TELEGRAM_BASE_URL": base_url,
            "ADMIN_CHAT_ID": str(ADMIN_CHAT_ID),
            "VERZEK_ADMINS": str(ADMIN_ID),
            "VERZEK_DB": str(workdir / "data" / "verzek.db"),
            "ENCRYPTION_MASTER_KEY": generate_master_key(),
        }
    )
    return env


def last_reply(server: FakeBotAPIServer, user: TelegramUser) -> Message | None:
    sent = server.api.sent_to(user.id)
    return sent[-1] if sent else None


async def step(bot: BotProcess, server: FakeBotAPIServer, user: TelegramUser, text: str) -> Message:
    """Send one message and wait for the bot's next reply to that user."""
    before = len(server.api.sent_to(user.id))
    server.api.user_sends(user, text)
    await bot.wait_for("a reply", lambda: len(server.api.sent_to(user.id)) > before)
    return server.api.sent_to(user.id)[-1]


# --- (1) SIGKILL in the middle of a stream of writes ---------------------------------------


@pytest.mark.slow
async def test_sigkill_mid_stream_loses_no_committed_event(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(FAST_CONFIG)
    database = tmp_path / "data" / "verzek.db"
    async with FakeBotAPIServer() as server:
        api = server.api
        env = run_env(tmp_path, server.base_url)
        bot = BotProcess(tmp_path, env)
        await bot.start()
        try:
            await bot.wait_for("the command menus", lambda: len(api.commands) == 3)
            # Three registrations reach their last step (Skip commits the account)...
            newcomers = [TelegramUser(7000 + k, f"New{k}") for k in range(3)]
            prompts: dict[int, Message] = {}
            for user in newcomers:
                await step(bot, server, user, "/register")
                await step(bot, server, user, f"new{user.id}@example.com")
                await step(bot, server, user, PASSWORD)
                prompts[user.id] = await step(bot, server, user, PASSWORD)  # typed twice
                assert prompts[user.id].buttons, prompts[user.id].plain
            # ...then a stream of audited writes: non-admins trying admin commands (each
            # refusal is answered only after its ADMIN_ACTION event is committed).
            stream = [TelegramUser(8000 + k, f"Eve{k}") for k in range(30)]
            commands = ["/stats", "/pending", "/alerts", "/backups", "/killswitch on x"]
            for round_ in range(20):
                for user in stream:
                    api.user_sends(user, commands[round_ % len(commands)])
                if round_ == 2:
                    for user in newcomers:
                        skip = prompts[user.id].buttons[0].callback_data
                        assert skip is not None
                        api.user_presses(user, prompts[user.id], skip)

            def refused() -> int:
                return sum(m.plain == REFUSED for u in stream for m in api.sent_to(u.id))

            await bot.wait_for("the stream to be under way", lambda: refused() >= 120)
            assert bot.process is not None
            bot.process.send_signal(signal.SIGKILL)
            assert await bot.wait(10) == -signal.SIGKILL
        finally:
            await bot.kill()

        # Everything the fake received was sent by the bot before it died.
        answered = {u.id: sum(m.plain == REFUSED for m in api.sent_to(u.id)) for u in stream}
        assert 0 < sum(answered.values()) < len(stream) * 20, "the kill was not mid-stream"
        registered = [
            u.id for u in newcomers if any("is ready" in m.plain for m in api.sent_to(u.id))
        ]

        assert await integrity(database) == "ok"
        rows = dict(
            await query(
                database,
                "SELECT telegram_user_id, COUNT(*) FROM audit_events "
                "WHERE event_type = ? GROUP BY telegram_user_id",
                EventType.ADMIN_ACTION.value,
            )
        )
        for user_id, replies in answered.items():
            assert rows.get(user_id, 0) >= replies, f"user {user_id}: a refusal without its event"
        accounts = dict(await query(database, "SELECT email, id FROM users"))
        events = {
            tg
            for (tg,) in await query(
                database,
                "SELECT telegram_user_id FROM audit_events WHERE event_type = ?",
                EventType.REGISTERED.value,
            )
        }
        for user_id in registered:
            assert f"new{user_id}@example.com" in accounts and user_id in events
        assert len(accounts) == len(events)  # an account and its event commit together

        code, output = await audit_verify(tmp_path, env)
        assert code == 0, output

        # And it starts again on the same files and serves.
        again = BotProcess(tmp_path, env)
        await again.start()
        try:
            reply = await step(again, server, TelegramUser(9999, "Later"), "/start")
            assert reply.plain.startswith(html_to_plain(texts.WELCOME.split("\n", 1)[0]))
        finally:
            await again.kill()


# --- (2) Telegram failing for a while ---------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "times": 3},
        {"status": 502, "times": 3},
        {"exception": TimedOut, "times": 3},
        {"status": 429, "retry_after": 1, "times": 2},
    ],
    ids=["500", "502", "timeout", "429"],
)
async def test_telegram_failing_loses_no_registration(bot: BotHarness, failure: dict) -> None:
    alice = bot.user(31)
    await bot.send(alice, "/register")
    await bot.send(alice, EMAIL)
    await bot.send(alice, PASSWORD)
    (prompt,) = await bot.send(alice, PASSWORD)  # typed twice
    # Telegram fails every call for a while, from the press of the step that commits: the
    # button's answer, the keyboard's removal, the "ready" reply, the error notice.
    bot.api.fail(None, **failure)
    replies = await bot.press(alice, prompt, "Skip")
    if failure.get("status") == 429:
        # The outgoing limiter waits out a flood limit and retries: the reply arrives.
        assert any("is ready" in m.plain for m in replies)
    bot.api.failures.clear()  # Telegram is back

    [(email,)] = await query(bot.settings, "SELECT email FROM users")
    assert email == EMAIL
    kinds = [row.event_type async for row in bot.services.audit.export()]
    assert EventType.REGISTERED in kinds
    assert "logged in" in await login(bot, alice)
    (me,) = await bot.send(alice, "/me")
    assert EMAIL in me.plain
    assert (await bot.services.audit.verify()).ok


async def test_a_lost_login_reply_still_ends_the_flow(bot: BotHarness) -> None:
    alice = bot.user(33)
    await register(bot, alice)
    await bot.send(alice, "/login")
    await bot.send(alice, EMAIL)
    bot.api.fail("sendMessage", times=1, status=502)
    assert await bot.send(alice, PASSWORD) == []  # "You're logged in" was lost
    # The session is committed and the flow is over: commands work, nothing says "busy".
    (me,) = await bot.send(alice, "/me")
    assert EMAIL in me.plain


@pytest.mark.quick_jobs
async def test_an_outage_loses_neither_a_refused_admin_command_nor_its_alert(
    bot: BotHarness, clock: FakeClock
) -> None:
    bot.api.fail(None, times=4, status=503)
    mallory = bot.user(4343, "Mallory")
    await bot.send(mallory, "/stats")  # the refusal itself is lost with the outage
    kinds = [row.event_type async for row in bot.services.audit.export()]
    assert EventType.ADMIN_ACTION in kinds and EventType.SUSPICIOUS_ACTIVITY in kinds
    # The outbox keeps retrying with backoff through the outage, then delivers once.
    for _ in range(40):
        if bot.api.sent_to(ADMIN_CHAT_ID):
            break
        clock.advance(minutes=5)  # past any backoff
        await asyncio.sleep(0.25)
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID), timeout=5)
    assert "Admin command by a non-admin" in alert.plain
    (welcome,) = await bot.send(mallory, "/start")
    assert welcome.plain
    assert (await bot.services.audit.verify()).ok


# --- (3) the disk fills up during a backup ----------------------------------------------------


class _FullDisk:
    """A file that takes ``room`` bytes, then fails like a full disk (ENOSPC)."""

    def __init__(self, handle: IO[bytes], room: int) -> None:
        self._handle, self._room = handle, room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._handle.write(data)

    def flush(self) -> None:
        self._handle.flush()

    def fileno(self) -> int:
        return self._handle.fileno()

    def tell(self) -> int:
        return self._handle.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def test_disk_full_during_a_backup_leaves_no_archive_and_the_bot_working(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = bot.services
    first = await services.backups.create(OPERATOR)
    real_new_file = backup_archive._new_file
    monkeypatch.setattr(
        backup_archive, "_new_file", lambda path: _FullDisk(real_new_file(path), 2048)
    )
    clock.advance(seconds=5)
    with pytest.raises(BackupError) as refused:
        await services.backups.create(OPERATOR)
    assert os.strerror(errno.ENOSPC) in refused.value.problem

    # The nightly job hits the same full disk: the admin chat hears of it.
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
    clock.advance(seconds=5)
    await job.run(bot.app)
    (told,) = bot.api.sent_to(ADMIN_CHAT_ID)
    assert "Nightly backup failed" in told.plain and os.strerror(errno.ENOSPC) in told.plain
    monkeypatch.undo()

    # Nothing half-written lists or lingers; the earlier archive still verifies.
    listed = await services.backups.list_backups(OPERATOR)
    assert [i.name for i in listed] == [first.name] and listed[0].verified
    assert sorted(p.name for p in services.backups.directory.iterdir()) == [first.name]
    kinds = [row.event_type async for row in services.audit.export()]
    assert kinds.count(EventType.BACKUP_CREATED) == 1

    # The database kept working all along, and a backup works again once there is room.
    await register(bot, bot.user(32))
    assert await integrity(bot.settings) == "ok"
    assert (await services.audit.verify()).ok
    clock.advance(seconds=5)
    assert (await services.backups.create(OPERATOR)).verified
