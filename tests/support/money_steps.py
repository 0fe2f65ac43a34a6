"""What the money attacks send and read back (issue 17: partial, over- and late payments).

``sent`` puts a confirmed USDT transfer to our address on the fake chain; ``ledger`` lists every
wallet entry (each must verify its signature), ``licenses`` the licenses and the payments that
bought them, ``alerts`` the alert outbox, ``account_id`` an account's id by email. ``PAYER`` pays,
``MALLORY`` claims what is not hers; invoices made at a test's start expire at
``INVOICE_EXPIRES``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.payments.wallet import WalletLedger
from core.services import Services
from tests.support.fake_tronscan import TX_TIME_MS, FakeTronscan, success, tx_hash
from tests.support.harness import BotHarness
from tests.support.steps import db_rows

PAYER, MALLORY = "payer@example.com", "mallory@example.com"
INVOICE_EXPIRES = datetime(2025, 11, 29, 3, 0, tzinfo=UTC)  # invoices made at the test's start


def sent(fake: FakeTronscan, n: int, amount: str, *, at_ms: int = TX_TIME_MS) -> str:
    """A confirmed USDT transfer to our address of ``amount`` (micro-USDT text), made at_ms."""
    return fake.add(success(tx_hash=tx_hash(n), amount_str=amount, timestamp=at_ms))


async def ledger(bot: BotHarness, services: Services) -> list[tuple[int, int, str, int | None]]:
    """Every wallet entry as (account, amount, kind, payment); each must verify its signature."""
    wallet = WalletLedger(services.crypto)
    async with services.uow(read_only=True) as uow:
        accounts = [row[0] for row in await db_rows(bot, "SELECT id FROM users ORDER BY id")]
        entries = [e for a in accounts for e in await uow.wallet.entries(a, 100)]
    assert all(wallet.is_authentic(entry) for entry in entries)
    return sorted((e.account_id, e.amount_micro, e.kind, e.payment_id) for e in entries)


async def alerts(bot: BotHarness) -> list[tuple[str, str]]:
    return [tuple(r) for r in await db_rows(bot, "SELECT rule, subject FROM alerts ORDER BY id")]


async def account_id(bot: BotHarness, email: str) -> int:
    [(found,)] = await db_rows(bot, "SELECT id FROM users WHERE email = ?", email)
    return int(found)


async def licenses(bot: BotHarness) -> list[tuple]:
    return await db_rows(bot, "SELECT account_id, payment_id FROM licenses ORDER BY id")
