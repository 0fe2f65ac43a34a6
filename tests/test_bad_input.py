"""Bad input, generated: whatever users send or press, the bot answers clearly or ignores it.

Each example is sent to the same running bot (one per test), so the bot must survive all of
them in a row. After every example: no handler failed (nothing logged at ERROR), whatever the
bot sent passed the fake Bot API's checks (valid HTML, at most 4096 characters, non-empty), a
later /start is still answered, and the database keeps its integrity (``PRAGMA
integrity_check``) and its audit chain verifies.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot import texts
from bot.commands import ADMIN_CALLBACK_PREFIX, ADMIN_COMMANDS, ADMIN_ONLY, USER_COMMANDS
from bot.fake_telegram import TelegramUser, html_to_plain
from core.audit.log import EventType
from core.clock import FakeClock
from core.config import Settings, load_settings
from tests.support import raw_db
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.steps import add_key, enable_2fa, login, register

FUZZ = hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=120).filter(
    str.strip
)
HUGE = st.builds(
    lambda seed, size: (seed * (size // len(seed) + 1))[:size], TEXT, st.integers(4096, 4600)
)
TRICKY = st.sampled_from(
    [
        "<b>bold</b>",
        "</i>",
        "<script>alert(1)</script>",
        "a & b < c > d",
        "&lt;&amp;&#0;",
        "\u202eevil\u202c",
        "\x00\x01\x1b[31m",
        "😀" * 2100,
        "/",
        "//",
        "/ start",
        "/start@some_other_bot",
        "/START",
        "/me@verzek_guard_bot extra words",
        "' OR 1=1; DROP TABLE users; --",
        "%s %d {0} {email}",
        "trader@example.com",
        "   padded   ",
    ]
)
COMMAND_NAMES = sorted(
    {c.name for c in USER_COMMANDS + ADMIN_COMMANDS} | ADMIN_ONLY | {"nope", "2fa_", "x" * 40}
)
COMMANDS = st.builds(
    lambda name, args: f"/{name} {args}".rstrip(),
    st.sampled_from(COMMAND_NAMES),
    st.one_of(st.just(""), TEXT, st.integers().map(str), st.just("#1")),
)
ANY_TEXT = st.one_of(TEXT, HUGE, TRICKY, COMMANDS)
# Where the text arrives: each a command that puts the sender in that spot first (or none).
PLACES = {
    "top level": [],
    "register: email step": ["/register"],
    "register: password step": ["/register", "fuzz@example.com"],
    "login: email step": ["/login"],
    "2fa enrolment: password step": ["/2fa_enroll"],
    "api key: label step": ["/apikey_add"],
    "password change: current step": ["/password"],
}
USER_IDS = itertools.count(100_000)


@pytest.fixture
def settings_with_room(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "fuzz.toml"
    # Limits far above what a run sends: the fuzz should reach the handlers, not the limiter
    # (which has its own tests).
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "100000/minute"\n'
        'default = "100000/minute"\n[rate_limits.tiers]\nfree = "100000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\n'
    )
    return load_settings(config, env)


@pytest.fixture
def settings(settings_with_room: Settings) -> Settings:
    return settings_with_room


class Watch:
    """Checks the invariants around one example."""

    def __init__(self, bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
        self.bot = bot
        self.caplog = caplog
        self.member: TelegramUser | None = None

    async def ensure_member(self) -> TelegramUser:
        """Alice: registered, logged in, one API key (made once per test)."""
        if self.member is None:
            alice = self.bot.user(1, "Alice")
            await register(self.bot, alice)
            assert "logged in" in await login(self.bot, alice)
            await add_key(self.bot, alice)
            self.member = alice
        return self.member

    async def around(self, example: Callable[[], Awaitable[None]]) -> None:
        errors_before = self._errors()
        await example()
        assert self._errors() == errors_before, "a handler failed on this input"
        for message in self.bot.api.messages.values():
            if message.from_bot and message.text is not None:
                assert message.plain.strip() and len(message.plain) <= 4096
        await self.still_fine()

    def _errors(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.levelno >= logging.ERROR]

    async def still_fine(self) -> None:
        bot = self.bot
        (welcome,) = await bot.send(bot.user(next(USER_IDS)), "/start")
        assert welcome.plain.startswith(html_to_plain(texts.WELCOME.split("\n", 1)[0]))
        assert await raw_db.integrity(bot.settings) == "ok"
        report = await bot.services.audit.verify()
        assert report.ok, report.reason


@pytest.fixture
def watch(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> Watch:
    caplog.set_level(logging.WARNING)
    return Watch(bot, caplog)


async def put_in_place(bot: BotHarness, user: TelegramUser, place: str) -> None:
    await bot.send(user, "/cancel")
    for text in PLACES[place]:
        await bot.send(user, text)


@FUZZ
@given(text=ANY_TEXT, place=st.sampled_from(sorted(PLACES)), member=st.booleans())
async def test_any_text_in_any_place_gets_a_clear_reply_or_none(
    bot: BotHarness, watch: Watch, text: str, place: str, member: bool
) -> None:
    user = await watch.ensure_member() if member else bot.user(next(USER_IDS))

    async def example() -> None:
        await put_in_place(bot, user, place)
        replies = await bot.send(user, text)
        assert len(replies) <= 3
        assert all(r.plain.strip() for r in replies)

    await watch.around(example)


@FUZZ
@given(
    kind=st.sampled_from(["photo", "sticker", "document"]),
    place=st.sampled_from(sorted(PLACES)),
    member=st.booleans(),
)
async def test_photos_stickers_documents_where_text_is_expected(
    bot: BotHarness, watch: Watch, kind: str, place: str, member: bool
) -> None:
    user = await watch.ensure_member() if member else bot.user(next(USER_IDS))

    async def example() -> None:
        await put_in_place(bot, user, place)
        replies = await bot.send(user, None, **{kind: True})
        assert [r.plain for r in replies] in (
            [texts.TEXT_EXPECTED],
            [html_to_plain(texts.UNKNOWN_INPUT)],
        ), (place, [r.plain for r in replies])

    await watch.around(example)


# Prefixes of real buttons, followed by anything: data that was never issued.
BUTTON_PREFIXES = ["reg:skip", "2fa:", "apikey:add", "apikey:ex:", "apikey:del:", "apikey:keep"]
BUTTON_PREFIXES += ["act:n:", "act:o:", "plan:", "restore:", ""]
CALLBACK_DATA = st.builds(
    lambda prefix, rest: (prefix + rest).encode()[:64].decode(errors="ignore") or "x",
    st.sampled_from(BUTTON_PREFIXES),
    st.one_of(TEXT, st.integers().map(str), st.just("")),
)


@FUZZ
@given(data=CALLBACK_DATA, member=st.booleans(), on_someone_elses=st.booleans())
async def test_buttons_never_issued_or_of_another_user_change_nothing(
    bot: BotHarness, watch: Watch, data: str, member: bool, on_someone_elses: bool
) -> None:
    alice = await watch.ensure_member()
    presser = alice if member else bot.user(next(USER_IDS))
    if on_someone_elses:  # a message of another chat (Alice's confirm button, or a stranger's)
        owner = bot.user(next(USER_IDS)) if member else alice
    else:
        owner = presser
    keys_before = await bot.services.apikeys.keys(1)

    async def example() -> None:
        (listing,) = await bot.send(owner, "/apikeys" if owner is alice else "/start")
        answers = len(bot.api.callback_answers)
        replies = await bot.press_data(presser, listing, data)
        if data.startswith(ADMIN_CALLBACK_PREFIX):
            assert bot.api.callback_answers[-1]["text"] == texts.NOT_ALLOWED
        # Every press is answered (Telegram's spinner stops), with at most a short reply.
        assert len(bot.api.callback_answers) > answers or replies
        assert len(replies) <= 2

    await watch.around(example)
    if not member or on_someone_elses:
        # Nobody but Alice, in her own chat and flow, can touch her keys.
        assert await bot.services.apikeys.keys(1) == keys_before


@FUZZ
@given(rest=st.one_of(TEXT, st.sampled_from(["approve:1", "audit:acct:1:o:5", "restore:go"])))
async def test_forged_admin_buttons_are_refused_and_audited(
    bot: BotHarness, watch: Watch, rest: str
) -> None:
    data = (ADMIN_CALLBACK_PREFIX + rest).encode()[:64].decode(errors="ignore")
    intruder = bot.user(next(USER_IDS), "Mallory")

    async def denied() -> int:
        rows = [row async for row in bot.services.audit.export()]
        return sum(
            row.event_type == EventType.ADMIN_ACTION and row.telegram_user_id == intruder.id
            for row in rows
        )

    async def example() -> None:
        (welcome,) = await bot.send(intruder, "/start")
        replies = await bot.press_data(intruder, welcome, data)
        assert replies == []
        assert bot.api.callback_answers[-1]["text"] == texts.NOT_ALLOWED
        assert await denied() == 1

    await watch.around(example)


@pytest.mark.parametrize("with_2fa", [False, True], ids=["no session", "session with 2FA"])
async def test_the_admin_gets_clear_replies_to_garbage_arguments(
    bot: BotHarness, watch: Watch, clock: FakeClock, with_2fa: bool
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    if with_2fa:  # past "log in first" / "turn on 2FA": the arguments themselves are read
        await enable_2fa(bot, admin, clock)
    garbage = ["", "x y", "-1", "99999999999999999999", "tg:99999999999999999999", "²"]
    garbage.append("../../etc/passwd <b> " + "😀" * 50)

    async def example() -> None:
        for name in sorted(ADMIN_ONLY):
            for args in garbage:
                replies = await bot.send(admin, f"/{name} {args}".rstrip())
                assert 1 <= len(replies) <= 2, (name, args)
            await bot.send(admin, "/cancel")

    await watch.around(example)
