"""``:chain`` in ``verzek shell``: pay an invoice on the simulated TronScan and confirm it.

``:chain pay INVOICE [AMOUNT]`` sends the invoice's exact amount (or ``AMOUNT`` USDT, to try a
wrong one) to its receiving address in a new block and prints the transaction hash to give
``/pay``. ``:chain confirm [N]`` builds N blocks on top (by default the configured
``payments.min_confirmations``) and runs a round of the address watcher and the payment
re-check at once instead of within the minute, so the outcome arrives right away (a transfer
nobody sent ``/pay`` for is found by the watcher, as in production).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import InvalidOperation

from bot.context import VerzekApplication
from bot.wording import count
from core.adapters.tronscan_simulator import SimulatedTronscan
from core.digits import parse_int
from core.ids import parse_id
from core.money import format_usdt, to_micro

CHAIN_HELP = """\
  :chain pay INVOICE [AMOUNT]  send USDT to invoice INVOICE on the simulated chain
  :chain confirm [N]           add N blocks (default: enough to confirm) and re-check payments"""
RECHECK_JOB = "payments-recheck"
WATCH_JOB = "payments-watch"


async def chain_command(
    arg: str,
    app: VerzekApplication,
    chain: SimulatedTronscan | None,
    say: Callable[[str], None],
) -> None:
    """Act on ``:chain …``; every outcome is told with ``say``."""
    if chain is None:
        say("[:chain works on the simulated TronScan; this shell uses the real one]")
        return
    action, _, rest = arg.strip().partition(" ")
    if action == "pay":
        await _pay(rest.split(), app, chain, say)
    elif action == "confirm":
        await _confirm(rest.strip(), app, chain, say)
    else:
        say("[usage]\n" + CHAIN_HELP)


async def _pay(
    words: list[str], app: VerzekApplication, chain: SimulatedTronscan, say: Callable[[str], None]
) -> None:
    invoice_id = parse_id(words[0]) if words else None
    if invoice_id is None or len(words) > 2:
        say("[usage: :chain pay INVOICE [AMOUNT], e.g. :chain pay 1]")
        return
    services = app.bot_data.services
    async with services.uow(read_only=True) as uow:
        invoice = await uow.payments.invoice(invoice_id)
    if invoice is None:
        say(f"[there is no invoice #{invoice_id}: /subscribe makes one]")
        return
    amount = invoice.amount_micro
    if len(words) == 2:
        try:
            amount = to_micro(words[1])
        except (ValueError, InvalidOperation):
            say(f"[{words[1]!r} is not an amount in USDT, e.g. 29.00]")
            return
        if amount <= 0:
            say("[an amount is more than 0.00 USDT]")
            return
    transfer = chain.pay(invoice.receive_address, amount)
    needed = services.settings.payments.min_confirmations
    say(
        f"[chain] {format_usdt(amount)} USDT sent to {invoice.receive_address} for invoice "
        f"#{invoice.id} in block {transfer.block}, 0 of {needed} confirmations.\n"
        f"[chain] Transaction hash: {transfer.hash}\n"
        f"[chain] Now send: /pay {invoice.id} {transfer.hash}  (then :chain confirm)\n"
        "[chain] Or send nothing: the bot watches the address and finds the transfer itself"
        " (:chain confirm looks at once)."
    )


async def _confirm(
    text: str, app: VerzekApplication, chain: SimulatedTronscan, say: Callable[[str], None]
) -> None:
    needed = app.bot_data.services.settings.payments.min_confirmations
    blocks = parse_int(text) if text else needed
    if blocks is None or not 0 < blocks <= 10_000:
        say("[usage: :chain confirm [N], N blocks from 1 to 10000]")
        return
    height = chain.confirm(blocks)
    say(f"[chain] {count(blocks, 'block')} added (height {height}); re-checking payments now")
    if app.job_queue is not None:
        for name in (WATCH_JOB, RECHECK_JOB):
            for job in app.job_queue.get_jobs_by_name(name):
                await job.run(app)
