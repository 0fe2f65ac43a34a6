"""Attacker's notebook: /settings as a way to hide what one does with a borrowed account.

The trick: before turning 2FA off, requesting a withdrawal or logging in from their own
Telegram account, the attacker silences the notices that would tell the owner. Variants: a
forged button naming a critical notice (``set:off:mfa_disabled``), a kind in other letters
or with extra text, a press from a Telegram account with no session or from another
account's, and, with write access to the disk, a stored "off" for every kind and every topic.

Defence (core/accounts/preferences.py): a button names a kind, never a topic; core refuses
anything else and writes nothing; a critical topic is delivered before anything stored is
read, so no row can silence it; a button carries no account, so a press changes only the
presser's own choices. Each test checks the replies and the database.
"""

from __future__ import annotations

import pytest

from bot import texts
from bot.fake_telegram import html_to_plain
from core.accounts.preferences import TOPICS, NoticeKind
from core.accounts.refusals import NoticeKindUnknown
from core.clock import FakeClock
from tests.support.care_steps import preference_rows
from tests.support.harness import BotHarness
from tests.support.sessions_steps import ATTACKER, Victim, make_victim, texts_to
from tests.support.steps import PASSWORD, db_rows, register

REFUSED = texts.render(NoticeKindUnknown())
MFA_OFF = html_to_plain(texts.NOTICE_MFA_DISABLED)[:60]
NEW_CODES = html_to_plain(texts.NOTICE_BACKUP_CODES)[:60]


def last_alert(bot: BotHarness) -> str:
    return str(bot.api.callback_answers[-1].get("text", ""))


async def turn_2fa_off_from_the_laptop(bot: BotHarness, victim: Victim, clock: FakeClock) -> None:
    """What the attacker came to do: new backup codes (optional notice), then 2FA off
    (critical notice), both from the laptop."""
    await bot.send(victim.laptop, "/backup_codes")
    (codes,) = await bot.send(victim.laptop, victim.code(clock))
    assert "backup codes" in codes.plain.lower()
    await bot.send(victim.laptop, "/2fa_disable")
    await bot.send(victim.laptop, PASSWORD)
    (off,) = await bot.send(victim.laptop, victim.code(clock))
    assert "is now off" in off.plain, off.plain


@pytest.mark.parametrize(
    "forged",
    [
        "set:off:mfa_disabled",
        "set:off:withdrawal",
        "set:off:new_telegram_login",
        "set:off:password_changed",
        "set:off:account_deleted",
        "set:off:everything",
        "set:off:FACTORS",
        "set:off:factors ",
        "set:off:factors:1",
        "set:maybe:factors",
        "set:off:",
    ],
)
async def test_a_forged_button_cannot_turn_off_a_critical_notice(
    bot: BotHarness, clock: FakeClock, forged: str
) -> None:
    victim = await make_victim(bot, clock, mfa=False)
    (screen,) = await bot.send(victim.phone, "/settings")
    assert "🔒 two-factor authentication turned off" in screen.plain
    await bot.press_data(victim.phone, screen, forged)
    assert last_alert(bot) in (REFUSED, html_to_plain(texts.STALE_BUTTON))
    assert await preference_rows(bot) == []


@pytest.mark.quick_jobs
async def test_critical_notices_arrive_whatever_is_stored(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The attacker turns "Security changes" off with the real button, then (disk access)
    stores "off" for every kind and every topic key. New backup codes (optional) are no
    longer told; 2FA turned off (critical) still reaches the phone."""
    victim = await make_victim(bot, clock)
    (screen,) = await bot.send(victim.laptop, "/settings")
    await bot.press(victim.laptop, screen, "Security changes: ✅ on")
    assert await preference_rows(bot) == [(victim.account_id, "factors", 0)]
    async with bot.services.uow() as uow:
        for key in [k.value for k in NoticeKind] + [t.key for t in TOPICS]:
            await uow.preferences.choose(victim.account_id, key, False, clock.now())
        await uow.commit()

    await turn_2fa_off_from_the_laptop(bot, victim, clock)
    await bot.wait_for(lambda: any(MFA_OFF in t for t in texts_to(bot, victim.phone.id)))
    assert not any(NEW_CODES in t for t in texts_to(bot, victim.phone.id))
    queued = await db_rows(bot, "SELECT event_type FROM user_notices ORDER BY id")
    assert queued == [("MFA_DISABLED",)]


async def test_presses_by_other_telegram_accounts_change_only_their_own_choices(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock, mfa=False)
    (screen,) = await bot.send(victim.phone, "/settings")
    data = next(str(b.callback_data) for b in screen.buttons if b.text.startswith("Payments"))

    stranger = bot.user(424_242, "Stranger")  # no session at all
    await bot.press_data(stranger, screen, data)
    assert last_alert(bot) == html_to_plain(texts.LOGIN_FIRST)
    assert await preference_rows(bot) == []

    attacker = bot.user(ATTACKER, "Attacker")
    await register(bot, attacker, "attacker@example.com")
    [(attacker_account,)] = await db_rows(
        bot, "SELECT id FROM users WHERE email = 'attacker@example.com'"
    )
    await bot.press_data(attacker, screen, data)
    assert await preference_rows(bot) == [(attacker_account, "payments", 0)]
    # The victim's own screen and choices are as they were.
    (again,) = await bot.send(victim.phone, "/settings")
    assert "✅ Payments: on" in again.plain
