"""A new flow is protected by what it declares, nothing else to remember.

The trick this guards against: a developer adds a conversation that asks for a code, declares
the step with ``secrets=`` where the flow is built, and forgets some list elsewhere (the gate's,
the guard's). There is no such list: the gate asks the conversation whether the sender is at
one of its code steps, and the guard asks it how to start it again. So guesses at the new
flow's code step fill the auth limit and are then refused unread and deleted, and a code typed
after /cancel is deleted with the flow's own restart hint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from telegram import Update
from telegram.ext import MessageHandler

from bot import texts
from bot.context import Context
from bot.flows import TEXT, Flow, Secret, conversation, message_of, take_secret
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.support.harness import BotHarness

ASK_CODE = 0
VAULT_CODE = "424242"
TOO_MANY = texts.RATE_LIMITED.split("{")[0].strip()


class Vault:
    """A made-up feature: /vault asks for a code, again after a wrong one."""

    def __init__(self) -> None:
        self.codes_read: list[str] = []

    async def start(self, update: Update, context: Context) -> int:
        """Ask for the vault code."""
        await message_of(update).reply_text("Your vault code?")
        return ASK_CODE

    async def check_code(self, update: Update, context: Context) -> int:
        """Read the code (deleting it) and open the vault, or ask again."""
        code, note = await take_secret(update, "code")
        self.codes_read.append(code)
        if code != VAULT_CODE:
            await message_of(update).reply_text(f"Wrong code. Try again.\n\n{note}")
            return ASK_CODE
        await message_of(update).reply_text(f"Vault open.\n\n{note}")
        return Flow.END

    def flow(self) -> Flow:
        built = conversation(
            name="vault",
            entry="vault",
            entry_callback=self.start,
            states={ASK_CODE: [MessageHandler(TEXT, self.check_code)]},
            restart_hint="Send /vault to try again.",
            secrets={ASK_CODE: Secret.CODE},
        )
        assert isinstance(built, Flow)
        return built


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The product's auth limit (5/minute); the tier limit out of the way."""
    limits = replace(settings.rate_limits, auth="5/minute", default="1000/minute", tiers={})
    return replace(settings, rate_limits=limits)


@pytest.fixture
async def vault_bot(
    settings: Settings, services: Services
) -> AsyncIterator[tuple[BotHarness, Vault]]:
    vault = Vault()
    harness = BotHarness(settings, services)
    # First in group 0, before the catch-all hint; declared nowhere but in the flow itself.
    harness.app.handlers[0].insert(0, vault.flow())
    await harness.start()
    yield harness, vault
    await harness.stop()


async def test_guesses_at_a_new_flows_code_step_fill_the_auth_limit(
    vault_bot: tuple[BotHarness, Vault], clock: FakeClock
) -> None:
    bot, vault = vault_bot
    mallory = bot.user(66)
    await bot.send(mallory, "/vault")
    for guess in ("000001", "000002", "000003", "000004", "000005"):
        (reply,) = await bot.send(mallory, guess)
        assert "Wrong code" in reply.plain
        assert bot.last_user_message.deleted
    (refused,) = await bot.send(mallory, VAULT_CODE)  # the right code, too late
    assert TOO_MANY in refused.plain
    assert bot.last_user_message.deleted
    assert len(vault.codes_read) == 5  # the sixth was never read
    clock.advance(seconds=61)
    (opened,) = await bot.send(mallory, VAULT_CODE)
    assert "Vault open" in opened.plain


async def test_a_code_typed_after_cancelling_a_new_flow_is_deleted_with_its_hint(
    vault_bot: tuple[BotHarness, Vault],
) -> None:
    bot, vault = vault_bot
    alice = bot.user(1)
    await bot.send(alice, "/vault")
    await bot.send(alice, "/cancel")
    (note,) = await bot.send(alice, VAULT_CODE)
    assert bot.last_user_message.deleted
    assert "deleted it" in note.plain and "/vault" in note.plain
    assert vault.codes_read == []
