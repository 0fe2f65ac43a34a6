"""Drive the real Application against the in-process fake Bot API, like a user would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyotp

from bot.app import build_application
from bot.context import VerzekApplication
from bot.fake_telegram import FakeBotAPI, FakeRequest, Message, TelegramUser
from bot.jobs import anchors
from bot.outgoing import LaneRateLimiter
from bot.update_processor import PerUserUpdateProcessor
from core.accounts.sessions import Session
from core.config import Settings
from core.services import Services
from tests.support import raw_db


def uncapped_rate_limiter() -> LaneRateLimiter:
    """The shipped outgoing limiter (429 answers retried up to 5 times) without its pacing
    (30 messages/s over all chats, 20 a minute per group): a fuzz test's replies went out at
    30 a second, ~25 ms of idle wall time per message, and a test's alerts to the admin chat
    one per 3 s. The fake Telegram has no flood limit to respect; its scheduled 429s still
    meet the same retries."""
    return LaneRateLimiter(0, group_per_minute=0, max_retries=5)


# Jobs whose first run and interval the tests shorten (see BotHarness._quicken_jobs).
QUICK_JOBS = ("outbox", "codes-sweep")
ANCHOR_JOB = anchors.JOB_NAME
WAIT_FLOOR = 30.0  # seconds: the least wait_for waits before it fails
QUICK_TICK = 0.05  # seconds


class BotHarness:
    """A running bot plus the users talking to it."""

    def __init__(
        self,
        settings: Settings,
        services: Services,
        api: FakeBotAPI | None = None,
        *,
        quick_jobs: bool = False,
        patience: float = 1.0,
    ) -> None:
        self.settings = settings
        self.patience = patience  # settle()'s timeout is multiplied by it
        self.services = services
        self.api = api if api is not None else FakeBotAPI()  # given: the same Telegram, restarted
        self.quick_jobs = quick_jobs
        self._queued_before = self.api.updates_queued
        self.app: VerzekApplication = build_application(
            settings,
            services,
            request=FakeRequest(self.api),
            get_updates_request=FakeRequest(self.api),
            rate_limiter=uncapped_rate_limiter(),
        )

    async def start(self) -> None:
        await self.app.initialize()
        if self.app.post_init is not None:  # run_polling would call it; we start by hand
            await self.app.post_init(self.app)
        await self.app.start()
        if self.quick_jobs:
            self._quicken_jobs()
        self._hold_timed_jobs()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0.0, timeout=1)

    def _quicken_jobs(self) -> None:
        """The outbox and the codes sweep tick every :data:`QUICK_TICK` seconds instead of
        every second or more, for a test that waits for what a run does (marker ``quick_jobs``),
        not for the schedule. They still run through the real JobQueue, one at a time. Not
        the default: a test that expects exactly the replies to its own message would also
        catch a notice the quicker outbox delivers meanwhile."""
        assert self.app.job_queue is not None
        for name in QUICK_JOBS:
            for job in self.app.job_queue.get_jobs_by_name(name):
                job.job.reschedule("interval", seconds=QUICK_TICK)

    def _hold_timed_jobs(self) -> None:
        """The audit anchor job never runs on its schedule in tests: its first run (the
        start-up check) comes :data:`bot.jobs.anchors.FIRST` seconds of real time after the
        start, which a slow test on a loaded machine passes, and its anchor would then land
        in the middle of a "nothing was written" check. Tests run it by hand, as the JobQueue
        would (``job.run(app)``), where they want one."""
        assert self.app.job_queue is not None
        for job in self.app.job_queue.get_jobs_by_name(ANCHOR_JOB):
            job.enabled = False

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    @property
    def processor(self) -> PerUserUpdateProcessor:
        processor = self.app.update_processor
        assert isinstance(processor, PerUserUpdateProcessor)
        return processor

    def user(self, user_id: int = 1001, first_name: str = "Trader") -> TelegramUser:
        return TelegramUser(user_id, first_name)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every queued update has been fully processed."""
        timeout *= self.patience
        if self.settings.database.url is not None:
            timeout *= 6  # a PostgreSQL restore runs pg_dump/pg_restore a dozen times
        deadline = time.monotonic() + timeout
        while self.processor.completed < self.api.updates_queued - self._queued_before:
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not finish processing in time")
            await asyncio.sleep(0.005)
        if self.app.persistence is not None and self.app.running:
            # What the flows keep reaches the database now, not at the next interval, so a
            # test's "nothing was written" compares the database after each step.
            await self.app.update_persistence()
            await self.app.persistence.flush()

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Poll until ``condition()`` is truthy; return it. Every wait here is for something
        that must happen, so a wait that passes returns at once and a long limit costs only
        a failing run: never less than WAIT_FLOOR s, which a machine loaded by the other
        workers (a start-up sweep, a job's first run) needs."""
        deadline = time.monotonic() + max(timeout, WAIT_FLOOR) * self.patience
        while not (result := condition()):
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.01)
        return result

    def _snapshot(self, chat_id: int) -> int:
        return len(self.api.sent_to(chat_id))

    async def send(
        self,
        user: TelegramUser,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        **kinds: Any,
    ) -> list[Message]:
        """The user sends a message; returns what the bot sent to that chat in response.

        ``kinds`` are :meth:`FakeBotAPI.user_sends` options (photo, caption, forwarded, ...)."""
        chat = chat_id if chat_id is not None else user.id
        before = self._snapshot(chat)
        self.last_user_message = self.api.user_sends(user, text, chat_id=chat, **kinds)
        await self.settle()
        return self.api.sent_to(chat)[before:]

    async def edit(self, user: TelegramUser, message: Message, text: str) -> list[Message]:
        """The user edits ``message`` to ``text``; returns what the bot sent in response."""
        before = self._snapshot(message.chat_id)
        self.api.user_edits(user, message, text)
        await self.settle()
        return self.api.sent_to(message.chat_id)[before:]

    async def press(self, user: TelegramUser, message: Message, button: str) -> list[Message]:
        """Press the button labelled ``button`` (or with that callback data) on ``message``."""
        data = next(
            (b.callback_data for b in message.buttons if button in (b.text, b.callback_data)),
            None,
        )
        if data is None:
            raise AssertionError(f"no button {button!r} on message: {message.buttons}")
        return await self.press_data(user, message, data)

    async def press_data(self, user: TelegramUser, message: Message, data: str) -> list[Message]:
        """Send any callback data (including forged data) as if pressed on ``message``."""
        before = self._snapshot(message.chat_id)
        self.api.user_presses(user, message, data)
        await self.settle()
        return self.api.sent_to(message.chat_id)[before:]

    def texts(self, chat_id: int) -> list[str]:
        return [m.plain for m in self.api.sent_to(chat_id)]


async def enrol_2fa_through_core(
    services: Services, session: Session, password: str, now: datetime
) -> tuple[pyotp.TOTP, list[str]]:
    """Turn 2FA on for the session's account through core, as the authenticator app would
    confirm it at ``now`` (the bot's enrolment steps are tested in tests/test_twofactor.py);
    return the authenticator and the backup codes."""
    proof = await services.accounts.reauthenticate(session, password)
    enrollment = await services.twofactor.start_enrollment(session, proof)
    totp = pyotp.TOTP(enrollment.secret)
    codes = await services.twofactor.confirm_enrollment(session, proof, totp.at(now))
    return totp, codes


# Which instance runs the scheduled jobs (core/leadership.py): renewed on a timer by every
# running bot, never by what a user does, so no "nothing was written" check looks at it.
# button_sheets: the server's memory of what button tokens stand for, shared by instances
# (bot/button_sheets.py); a stale press forgets its sheet there as it did in memory.
NOT_USER_DATA = frozenset({"job_leases", "button_sheets"})


async def table_rows(database: Settings | Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the bot's database (its settings: either engine) or of a
    SQLite file (small databases only): what was really written, for "nothing changed"
    checks (except :data:`NOT_USER_DATA`)."""
    return await raw_db.tables(database, NOT_USER_DATA)
