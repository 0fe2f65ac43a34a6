"""Steps of /delete_account and /settings, and the rows a test reads afterwards."""

from __future__ import annotations

from bot.fake_telegram import Message, TelegramUser
from tests.support.harness import BotHarness
from tests.support.steps import PASSWORD, db_rows

DELETE = "Delete my account"


async def up_to_the_confirmation(
    bot: BotHarness, user: TelegramUser, code: str | None, password: str = PASSWORD
) -> Message:
    """/delete_account → password → (code): the confirmation message with its buttons. Each
    secret message is deleted on read."""
    (intro,) = await bot.send(user, "/delete_account")
    assert "send your password" in intro.plain, intro.plain
    replies = await bot.send(user, password)
    assert bot.last_user_message.deleted
    if code is not None:
        assert "current code" in replies[-1].plain, replies[-1].plain
        replies = await bot.send(user, code)
        assert bot.last_user_message.deleted
    confirmation = replies[-1]
    assert any(b.text.endswith(DELETE) for b in confirmation.buttons), confirmation.plain
    return confirmation


def confirm_data(confirmation: Message) -> str:
    """The callback data of the confirmation's "Delete my account" button."""
    return next(str(b.callback_data) for b in confirmation.buttons if b.text.endswith(DELETE))


async def account_state(bot: BotHarness, account_id: int) -> tuple[object, ...]:
    """What deletion changes, in one tuple: the user row's email, hash and closed_at; and
    the counts of live sessions, 2FA rows, backup codes and API keys."""
    [user] = await db_rows(
        bot, "SELECT email, password_hash, closed_at FROM users WHERE id = ?", account_id
    )
    [counts] = await db_rows(
        bot,
        "SELECT (SELECT count(*) FROM sessions WHERE account_id = ? AND ended_at IS NULL),"
        " (SELECT count(*) FROM mfa WHERE account_id = ?),"
        " (SELECT count(*) FROM backup_codes WHERE account_id = ?),"
        " (SELECT count(*) FROM api_keys WHERE account_id = ?)",
        account_id,
        account_id,
        account_id,
        account_id,
    )
    return (*user, *counts)


async def deletion_events(bot: BotHarness) -> list[tuple[object, ...]]:
    """Every ACCOUNT_DELETED audit row: (account, Telegram user)."""
    return await db_rows(
        bot,
        "SELECT account_id, telegram_user_id FROM audit_events"
        " WHERE event_type = 'ACCOUNT_DELETED'",
    )


async def preference_rows(bot: BotHarness) -> list[tuple[object, ...]]:
    """Every stored notice choice: (account, kind, enabled)."""
    return await db_rows(
        bot, "SELECT account_id, kind, enabled FROM notice_preferences ORDER BY 1, 2"
    )
