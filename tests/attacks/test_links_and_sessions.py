"""Attacker's notebook: invite links and /sessions buttons that say more than they should.

The class of trick: a deep link's payload and a button's callback data are written by whoever
made the link or the message, and both are easy to forge. A ``t.me/<bot>?start=...`` link can
carry any text (too long, other characters, look-alike letters, extra words, an unknown code,
the opener's own code) to plant a referrer or earn a commission on oneself; an "End" button of
/sessions can be copied to someone else, replayed after the session that showed it ended, or
edited to name another session, to log a stranger out or dodge the owner's logout.
Defence: the payload must be exactly Telegram's (``ref_`` + the code, 64 characters of
``A-Za-z0-9_-``) and the code is checked like a typed one, never the opener's own; a button
carries only an opaque reference (bot/handlers/sessions.py) that core matches against the
presser's own live session (core/accounts/devices.py); otherwise nothing is remembered or
ended, and the user is told politely.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from bot import texts
from bot.fake_telegram import Message, TelegramUser, html_to_plain
from bot.flow_state import INVITATION, Invitation
from bot.state_codec import decode, encode
from core.accounts.devices import session_reference
from core.audit.log import EventType
from tests.support.harness import BotHarness
from tests.support.steps import (
    BOB_EMAIL,
    NEW_PASSWORD,
    PASSWORD,
    db_rows,
    events,
    login,
    register,
)

ALICE_ID, BOB_ID, CAROL_ID = 7_100_000_011, 7_100_000_022, 7_100_000_033
PHONE_ID, LAPTOP_ID, TABLET_ID, MALLORY_ID = 5_512_345_601, 5_512_345_602, 5_512_345_603, 666_777
ALICE_EMAIL, CAROL_EMAIL, MALLORY_EMAIL = "alice@example.com", "carol@example.com", "m@example.com"
BOT = "verzek_guard_bot"  # the fake Bot API's getMe
UNREADABLE = html_to_plain(texts.INVITE_UNREADABLE)


def plain(text: str) -> str:
    return html_to_plain(text)


async def code_of(bot: BotHarness, email: str) -> str:
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users WHERE email = ?", email)
    return str(code)


async def referrer_of(bot: BotHarness, email: str) -> int | None:
    [(referred_by,)] = await db_rows(bot, "SELECT referred_by FROM users WHERE email = ?", email)
    return int(referred_by) if referred_by is not None else None


def invitation(bot: BotHarness, user: TelegramUser) -> object:
    return bot.app.user_data.get(user.id, {}).get(INVITATION)


async def referral_prompt(bot: BotHarness, user: TelegramUser, email: str) -> Message:
    """/register up to its referral step (captcha is off in these tests)."""
    await bot.send(user, "/register")
    await bot.send(user, email)
    await bot.send(user, PASSWORD)
    replies = await bot.send(user, PASSWORD)
    return replies[-1]


@pytest.fixture
async def alice(bot: BotHarness) -> TelegramUser:
    """A referrer with an account (logged in on her own Telegram account)."""
    user = bot.user(ALICE_ID, "Alice")
    await register(bot, user, ALICE_EMAIL)
    return user


# --- invite links -----------------------------------------------------------------------------


async def test_referral_shows_the_invite_link_and_a_share_button(
    bot: BotHarness, alice: TelegramUser
) -> None:
    code = await code_of(bot, ALICE_EMAIL)
    (reply,) = await bot.send(alice, "/referral")
    link = f"https://t.me/{BOT}?start=ref_{code}"
    assert link in reply.plain
    (share,) = reply.buttons
    assert share.callback_data is None
    assert share.url == (
        f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(texts.SHARE_TEXT, safe='')}"
    )


async def test_an_opened_link_prefills_register(bot: BotHarness, alice: TelegramUser) -> None:
    code = await code_of(bot, ALICE_EMAIL)
    bob = bot.user(BOB_ID, "Bob")
    (reply,) = await bot.send(bob, f"/start ref_{code}")
    assert reply.plain == plain(texts.INVITE_REMEMBERED.format(code=code))
    prompt = await referral_prompt(bot, bob, BOB_EMAIL)
    assert code in prompt.plain
    assert [b.text for b in prompt.buttons] == [f"Use {code}", texts.SKIP]
    assert all(code not in (b.callback_data or "") for b in prompt.buttons)  # read when pressed
    (done,) = await bot.press(bob, prompt, f"Use {code}")
    assert "is ready" in done.plain
    [(alice_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", ALICE_EMAIL)
    assert await referrer_of(bot, BOB_EMAIL) == alice_id
    assert invitation(bot, bob) is None  # spent


async def test_the_prefilled_code_can_be_skipped_or_replaced(
    bot: BotHarness, alice: TelegramUser
) -> None:
    code = await code_of(bot, ALICE_EMAIL)
    carol = bot.user(CAROL_ID, "Carol")
    await register(bot, carol, CAROL_EMAIL)
    carol_code = await code_of(bot, CAROL_EMAIL)
    bob = bot.user(BOB_ID, "Bob")
    await bot.send(bob, f"/start ref_{code}")
    prompt = await referral_prompt(bot, bob, BOB_EMAIL)
    (done,) = await bot.send(bob, carol_code.lower())  # typed another one instead
    assert "is ready" in done.plain
    [(carol_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", CAROL_EMAIL)
    assert await referrer_of(bot, BOB_EMAIL) == carol_id
    dave = bot.user(BOB_ID + 1, "Dave")
    await bot.send(dave, f"/start ref_{code}")
    prompt = await referral_prompt(bot, dave, "dave@example.com")
    await bot.press(dave, prompt, texts.SKIP)
    assert await referrer_of(bot, "dave@example.com") is None


async def test_the_same_link_twice_keeps_one_and_a_newer_one_replaces_it(
    bot: BotHarness, alice: TelegramUser
) -> None:
    carol = bot.user(CAROL_ID, "Carol")
    await register(bot, carol, CAROL_EMAIL)
    first, second = await code_of(bot, ALICE_EMAIL), await code_of(bot, CAROL_EMAIL)
    bob = bot.user(BOB_ID, "Bob")
    await bot.send(bob, f"/start ref_{first}")
    await bot.send(bob, f"/start ref_{first}")
    assert invitation(bot, bob) == Invitation(first)
    await bot.send(bob, f"/start ref_{second.lower()}")  # same rule as typed: any case
    assert invitation(bot, bob) == Invitation(second)
    (refused,) = await bot.send(bob, "/start ref_ZZZZZZZZ")  # a bad one changes nothing
    assert "I don't know that referral code" in refused.plain
    assert invitation(bot, bob) == Invitation(second)
    assert decode(encode(Invitation(second))) == Invitation(second)  # persisted, typed


async def test_the_use_button_gives_the_code_it_showed(
    bot: BotHarness, alice: TelegramUser
) -> None:
    carol = bot.user(CAROL_ID, "Carol")
    await register(bot, carol, CAROL_EMAIL)
    first, second = await code_of(bot, ALICE_EMAIL), await code_of(bot, CAROL_EMAIL)
    bob = bot.user(BOB_ID, "Bob")
    await bot.send(bob, f"/start ref_{first}")
    prompt = await referral_prompt(bot, bob, BOB_EMAIL)
    await bot.send(bob, f"/start ref_{second}")  # another link, opened mid-way
    await bot.press(bob, prompt, f"Use {first}")
    [(alice_id,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", ALICE_EMAIL)
    assert await referrer_of(bot, BOB_EMAIL) == alice_id


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


FORGED = {
    "too long": lambda code: f"/start ref_{code}{'A' * (65 - 4 - len(code))}",
    "other characters": lambda code: f"/start ref_{code}!",
    "a dot": lambda code: f"/start ref_{code[:4]}.{code[4:]}",
    "fullwidth look-alikes": lambda code: f"/start ref_{_fullwidth(code)}",
    "cyrillic look-alike": lambda code: f"/start ref_\u0410{code[1:]}",  # А
    "zero-width space": lambda code: f"/start ref_\u200b{code}",
    "a second argument": lambda code: f"/start ref_{code} ref_{code}",
    "two spaces": lambda code: f"/start  ref_{code}",
    "a newline": lambda code: f"/start\nref_{code}",
    "not a referral": lambda code: f"/start promo_{code}",
    "an empty code": lambda code: "/start ref_",
}


@pytest.mark.parametrize("forge", FORGED.values(), ids=FORGED.keys())
async def test_forged_payloads_are_no_payload(bot: BotHarness, alice: TelegramUser, forge) -> None:
    code = await code_of(bot, ALICE_EMAIL)
    bob = bot.user(BOB_ID, "Bob")
    (reply,) = await bot.send(bob, forge(code))
    assert UNREADABLE in reply.plain
    assert "Welcome to Verzek Guard" in reply.plain
    assert invitation(bot, bob) is None
    prompt = await referral_prompt(bot, bob, BOB_EMAIL)
    assert [b.text for b in prompt.buttons] == [texts.SKIP]  # nothing pre-filled


async def test_an_unknown_code_is_refused_and_not_remembered(bot: BotHarness) -> None:
    bob = bot.user(BOB_ID, "Bob")
    (reply,) = await bot.send(bob, "/start ref_ZZZZZZZZ")
    assert reply.plain.startswith("I don't know that referral code.")
    assert "Nothing was remembered" in reply.plain
    assert invitation(bot, bob) is None


async def test_ones_own_link_is_refused_and_not_remembered(
    bot: BotHarness, alice: TelegramUser
) -> None:
    code = await code_of(bot, ALICE_EMAIL)
    (reply,) = await bot.send(alice, f"/start ref_{code}")
    assert reply.plain.startswith("That is your own referral code")
    assert invitation(bot, alice) is None


async def test_a_plain_start_still_welcomes(bot: BotHarness) -> None:
    (reply,) = await bot.send(bot.user(BOB_ID, "Bob"), "/start")
    assert reply.plain == plain(texts.WELCOME.format(next_step=texts.WELCOME_NEXT_STEP))


# --- /sessions --------------------------------------------------------------------------------

ENDED_ELSEWHERE = plain(texts.SESSION_ENDED_ELSEWHERE)


@pytest.fixture
async def devices(bot: BotHarness) -> tuple[TelegramUser, TelegramUser, TelegramUser]:
    """One account logged in on a phone, a laptop and a tablet."""
    phone = bot.user(PHONE_ID, "Phone")
    laptop, tablet = bot.user(LAPTOP_ID, "Laptop"), bot.user(TABLET_ID, "Tablet")
    await register(bot, phone)
    for device in (laptop, tablet):
        assert "You're logged in" in await login(bot, device)
    return phone, laptop, tablet


async def sessions_rows(bot: BotHarness) -> list[tuple]:
    return await db_rows(
        bot, "SELECT id, telegram_user_id, ended_at, end_reason FROM sessions ORDER BY id"
    )


async def logouts(bot: BotHarness) -> list:
    return [e for e in await events(bot) if e.event_type == EventType.LOGOUT]


def last_alert(bot: BotHarness) -> dict:
    answer = bot.api.callback_answers[-1]
    assert answer.get("show_alert") in (True, "true", "True")
    return answer


async def test_sessions_lists_live_sessions_masked_with_this_device(
    bot: BotHarness, devices
) -> None:
    phone = devices[0]
    (listing,) = await bot.send(phone, "/sessions")
    text = listing.plain
    assert "Your live sessions (3)" in text
    assert "5…01 — this device" in text and "5…02" in text and "5…03" in text
    for device in devices:
        assert str(device.id) not in text
    assert [b.text for b in listing.buttons] == ["End 2 (5…03)", "End 3 (5…02)", "End all others"]
    for button in listing.buttons:
        data = button.callback_data or ""
        assert data[:8] in ("ses:end:", "ses:all:") and len(data) == 20
        assert not any(str(d.id) in data for d in devices)


async def test_end_ends_that_session_audited_and_its_device_is_told(
    bot: BotHarness, devices
) -> None:
    phone, laptop = devices[0], devices[1]
    await bot.send(laptop, "/email")  # a flow pending on the device about to be ended
    (listing,) = await bot.send(phone, "/sessions")
    replies = await bot.press(phone, listing, "End 3 (5…02)")
    assert replies[0].plain == plain(texts.SESSION_ENDED.format(account="5…02"))
    assert bot.texts(LAPTOP_ID)[-1] == ENDED_ELSEWHERE
    rows = {row[1]: row for row in await sessions_rows(bot) if row[2] is None}
    assert set(rows) == {PHONE_ID, TABLET_ID}
    ended = [r for r in await sessions_rows(bot) if r[1] == LAPTOP_ID]
    assert ended[-1][3] == "ended_elsewhere"
    (event,) = await logouts(bot)
    assert event.telegram_user_id == PHONE_ID
    assert event.details == {
        "how": "ended_from_sessions",
        "sessions_ended": 1,
        "devices": ["5…02"],
    }
    (told,) = await bot.send(laptop, PASSWORD)  # the pending /email step
    assert "This step ended because this session was ended from another" in told.plain
    for _ in range(2):  # every message until it logs in again says why it has no session
        (me,) = await bot.send(laptop, "/me")
        assert me.plain == ENDED_ELSEWHERE
    assert "You're logged in" in await login(bot, laptop)
    await bot.send(laptop, "/logout")
    (me,) = await bot.send(laptop, "/me")
    assert me.plain == plain(texts.LOGIN_FIRST)  # a later session ended otherwise
    refreshed = next(m for m in bot.api.sent_to(PHONE_ID) if m.message_id == listing.message_id)
    assert "Your live sessions (2)" in refreshed.plain  # the list shows what is left
    assert [b.text for b in refreshed.buttons] == ["End 2 (5…03)", "End all others"]


async def test_end_all_others_keeps_only_this_device(bot: BotHarness, devices) -> None:
    phone = devices[0]
    (listing,) = await bot.send(phone, "/sessions")
    replies = await bot.press(phone, listing, "End all others")
    assert "2 other sessions ended" in replies[0].plain
    live = [r[1] for r in await sessions_rows(bot) if r[2] is None]
    assert live == [PHONE_ID]
    assert bot.texts(LAPTOP_ID)[-1] == ENDED_ELSEWHERE == bot.texts(TABLET_ID)[-1]
    (event,) = await logouts(bot)
    assert event.details["sessions_ended"] == 2
    (again,) = await bot.send(phone, "/sessions")
    assert "only live session" in again.plain and again.buttons == []


async def _nothing_ended(bot: BotHarness, before: list[tuple], logouts_before: int) -> None:
    assert await sessions_rows(bot) == before
    assert len(await logouts(bot)) == logouts_before


async def test_someone_elses_end_button_ends_nothing(bot: BotHarness, devices) -> None:
    phone = devices[0]
    (listing,) = await bot.send(phone, "/sessions")
    mallory = bot.user(MALLORY_ID, "Mallory")
    before, count = await sessions_rows(bot), len(await logouts(bot))
    for button in listing.buttons:  # no session at all
        assert button.callback_data is not None
        assert await bot.press_data(mallory, listing, button.callback_data) == []
        assert last_alert(bot)["text"] == texts.SESSION_BUTTON_REFUSED
    await _nothing_ended(bot, before, count)
    await register(bot, mallory, MALLORY_EMAIL, NEW_PASSWORD)  # her own live session now
    before, count = await sessions_rows(bot), len(await logouts(bot))
    for button in listing.buttons:
        assert button.callback_data is not None
        assert await bot.press_data(mallory, listing, button.callback_data) == []
        assert "out of date or not yours" in last_alert(bot)["text"]
    await _nothing_ended(bot, before, count)
    assert "only live session" in (await bot.send(mallory, "/sessions"))[0].plain


async def test_a_button_replayed_after_the_session_ended_ends_nothing(
    bot: BotHarness, devices
) -> None:
    phone = devices[0]
    (listing,) = await bot.send(phone, "/sessions")
    data = {b.text: b.callback_data or "" for b in listing.buttons}  # as first shown
    await bot.press(phone, listing, "End 3 (5…02)")
    before, count = await sessions_rows(bot), len(await logouts(bot))
    assert await bot.press_data(phone, listing, data["End 3 (5…02)"]) == []  # already gone
    assert "out of date or not yours" in last_alert(bot)["text"]
    await _nothing_ended(bot, before, count)
    await bot.send(phone, "/logout")
    before, count = await sessions_rows(bot), len(await logouts(bot))
    assert await bot.press_data(phone, listing, data["End 2 (5…03)"]) == []  # no session
    assert last_alert(bot)["text"] == texts.SESSION_BUTTON_REFUSED
    await _nothing_ended(bot, before, count)
    assert "You're logged in" in await login(bot, phone)
    before, count = await sessions_rows(bot), len(await logouts(bot))
    for button in (data["End 2 (5…03)"], data["End all others"]):  # a new session: stale
        assert await bot.press_data(phone, listing, button) == []
        assert "out of date or not yours" in last_alert(bot)["text"]
    assert [r[1] for r in await sessions_rows(bot) if r[2] is None] == [TABLET_ID, PHONE_ID]


async def test_callback_data_edited_to_another_reference_ends_nothing(
    bot: BotHarness, devices
) -> None:
    phone = devices[0]
    (listing,) = await bot.send(phone, "/sessions")
    mallory = bot.user(MALLORY_ID, "Mallory")
    await register(bot, mallory, MALLORY_EMAIL, NEW_PASSWORD)
    own = await bot.services.sessions.current(PHONE_ID)
    hers = await bot.services.sessions.current(MALLORY_ID)
    target = await bot.services.sessions.current(LAPTOP_ID)
    assert own is not None and hers is not None and target is not None
    good = next(b.callback_data for b in listing.buttons if b.text == "End 3 (5…02)")
    assert good is not None
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    forged = [
        flipped,
        "ses:end:000000000000",
        "ses:end:" + "f" * 12,
        "ses:end:" + str(target.id),
        # this very device: /logout ends it, never a button
        "ses:end:" + session_reference(own.stamp, own.id, own.started_at, own.id),
    ]
    before, count = await sessions_rows(bot), len(await logouts(bot))
    for data in forged:
        assert await bot.press_data(phone, listing, data) == []
        assert "out of date or not yours" in last_alert(bot)["text"]
    # Mallory computing a reference for her own session that names the victim's laptop
    reference = session_reference(hers.stamp, hers.id, hers.started_at, target.id)
    assert await bot.press_data(mallory, listing, "ses:end:" + reference) == []
    assert "out of date or not yours" in last_alert(bot)["text"]
    others = next(b.callback_data for b in listing.buttons if b.text == "End all others")
    assert others is not None
    for data in [others.replace("ses:all:", "ses:end:"), good.replace("ses:end:", "ses:all:")]:
        assert await bot.press_data(phone, listing, data) == []
        assert "out of date or not yours" in last_alert(bot)["text"]
    for data in ["ses:end:", "ses:end:XYZ", "ses:end:" + good[8:] + "00", "ses:others"]:
        await bot.press_data(phone, listing, data)
    await _nothing_ended(bot, before, count)
