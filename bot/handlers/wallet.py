"""/wallet, /referral and /withdraw AMOUNT ADDRESS (confirmed with a fresh 2FA code).

``/withdraw`` checks the amount, the address, the kill switch, 2FA and the balance before it
asks for anything, so a refusal comes at once and costs no code. The code is asked in a short
flow, deleted from the chat as soon as it is read and counted against the auth rate limit;
the money is held only then, in one transaction with the balance check (core does that).
"""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import CommandHandler, MessageHandler

from bot import texts
from bot.context import Context, VerzekApplication
from bot.flow_state import WithdrawalFlow
from bot.flows import (
    END,
    TEXT,
    Secret,
    conversation,
    end_flow,
    flow_state,
    message_of,
    require_session,
    take_secret,
)
from bot.invite_links import invite_link, share_keyboard
from bot.pickers import Choice, Picker, offer, picked
from core.accounts.cooldown import CoolingDown
from core.accounts.sessions import Session
from core.errors import Refusal
from core.money import format_usdt
from core.safety.service import Halted
from core.twofactor.service import CodeBlocked
from core.withdrawals.ports import WithdrawalRecord
from core.withdrawals.rules import (
    MIN_WITHDRAWAL_MICRO,
    WithdrawalRefused,
    mask_address,
    parse_address,
    parse_amount,
)

FLOW = "withdraw"
CODE, AMOUNT, ADDRESS = range(3)

# Errors after which sending another code cannot help: the flow ends.
_FINAL = (CodeBlocked, Halted, WithdrawalRefused)


def cooldown_text(context: Context, refusal: CoolingDown) -> str:
    """Withdrawals wait after a security change: until when, and why."""
    return texts.WITHDRAW_COOLDOWN.format(
        until=f"{refusal.until:%Y-%m-%d %H:%M}",
        what=texts.WITHDRAW_COOLDOWN_CHANGES.get(refusal.kind, "a security setting changed"),
        hours=context.bot_data.services.settings.security.withdrawal_cooldown_hours,
    )


def withdrawal_line(withdrawal: WithdrawalRecord) -> str:
    """One of the user's withdrawals: amount, masked address, state (and tx or reason)."""
    line = texts.WITHDRAWAL_LINE.format(
        id=withdrawal.id,
        amount=format_usdt(withdrawal.amount_micro),
        address=escape(mask_address(withdrawal.address)),
        status=texts.WITHDRAWAL_STATES.get(withdrawal.status, escape(withdrawal.status)),
    )
    if withdrawal.tx_hash:
        line += texts.WITHDRAWAL_LINE_TX.format(tx=withdrawal.tx_hash)
    if withdrawal.reason:
        line += texts.WITHDRAWAL_LINE_REASON.format(reason=escape(withdrawal.reason))
    return line


async def show_wallet(update: Update, context: Context) -> None:
    """Available balance, amounts held and withdrawn, referral earnings, recent withdrawals."""
    session = await require_session(update, context)
    if session is None:
        return
    summary = await context.bot_data.services.withdrawals.summary(session.account_id)
    position = summary.position
    lines = [
        texts.WALLET.format(
            available=format_usdt(position.available_micro),
            held=format_usdt(position.held_micro),
            withdrawn=format_usdt(position.withdrawn_micro),
            referral=format_usdt(position.referral_micro),
        )
    ]
    if not position.sound:
        lines += ["", texts.WALLET_UNDER_REVIEW]
    if summary.recent:
        lines += ["", texts.WALLET_RECENT, *(withdrawal_line(w) for w in summary.recent)]
    lines += ["", texts.WALLET_FOOTER.format(minimum=format_usdt(MIN_WITHDRAWAL_MICRO))]
    await message_of(update).reply_text("\n".join(lines))


async def show_referral(update: Update, context: Context) -> None:
    """The caller's referral code, how many accounts used it, and the commission earned."""
    session = await require_session(update, context)
    if session is None:
        return
    services = context.bot_data.services
    referral = await services.withdrawals.referral(session.account_id)
    text = texts.REFERRAL.format(
        code=escape(referral.code),
        referred=referral.referred,
        earnings=format_usdt(referral.earnings_micro),
        percent=format(services.settings.referrals.commission_percent.normalize(), "f"),
    )
    if not context.bot.username:  # getMe always names a bot; without it, no link to make
        await message_of(update).reply_text(text)
        return
    link = invite_link(context.bot.username, referral.code)
    await message_of(update).reply_text(
        text + texts.REFERRAL_LINK.format(link=escape(link)), reply_markup=share_keyboard(link)
    )


async def _last_address(context: Context, session: Session) -> list[Choice]:
    """The address of the caller's newest withdrawal, offered as a button when sent bare."""
    summary = await context.bot_data.services.withdrawals.summary(session.account_id)
    recent = [w.address for w in summary.recent[:1]]
    label = texts.WITHDRAW_LAST_ADDRESS_BUTTON
    return [Choice(address, label.format(address=mask_address(address))) for address in recent]


LAST_ADDRESS = Picker("withdraw_address", texts.WITHDRAW_ASK_ADDRESS_LAST, "", _last_address)


async def start_withdraw(update: Update, context: Context) -> int:
    """/withdraw AMOUNT ADDRESS: check everything, then ask for a fresh 2FA code. Sent bare,
    it asks for the amount, then the address."""
    await end_flow(context, FLOW)
    args = context.args or []
    if not args:
        session = await require_session(update, context)
        if session is None:
            return END
        flow_state(context, FLOW, WithdrawalFlow).session = session
        minimum = format_usdt(MIN_WITHDRAWAL_MICRO)
        await message_of(update).reply_text(texts.WITHDRAW_ASK_AMOUNT.format(minimum=minimum))
        return AMOUNT
    if len(args) != 2:
        await message_of(update).reply_text(
            texts.WITHDRAW_USAGE.format(minimum=format_usdt(MIN_WITHDRAWAL_MICRO))
        )
        return END
    session = await require_session(update, context)
    if session is None:
        return END
    return await _prepare(update, context, session, args[0], args[1])


async def got_amount(update: Update, context: Context) -> int:
    """The amount (checked by the same rule as a typed one); ask for the address."""
    text = (message_of(update).text or "").strip()
    try:
        amount = parse_amount(text)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return AMOUNT
    data = flow_state(context, FLOW, WithdrawalFlow)
    data.amount = text
    ask = texts.WITHDRAW_ASK_ADDRESS.format(amount=format_usdt(amount))
    if not await _last_address(context, data.started_session()):
        await message_of(update).reply_text(ask)
        return ADDRESS
    ask = f"{ask}\n\n{texts.WITHDRAW_ASK_ADDRESS_LAST}"
    await offer(update, context, LAST_ADDRESS, data.started_session(), text=ask)
    return ADDRESS


async def got_address(update: Update, context: Context) -> int:
    """The address, typed (TRON rules) or the last one's button; then as /withdraw A B."""
    picked_one = update.callback_query is not None and bool(context.args)
    text = (context.args or [""])[0] if picked_one else (message_of(update).text or "")
    try:
        address = parse_address(text)
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return ADDRESS
    data = flow_state(context, FLOW, WithdrawalFlow)
    return await _prepare(update, context, data.started_session(), data.amount, address)


async def _prepare(
    update: Update, context: Context, session: Session, amount: str, address: str
) -> int:
    try:
        draft = await context.bot_data.services.withdrawals.prepare(session, amount, address)
    except CoolingDown as refusal:
        await message_of(update).reply_text(cooldown_text(context, refusal))
        return END
    except Refusal as exc:
        await message_of(update).reply_text(texts.render(exc))
        return END
    data = flow_state(context, FLOW, WithdrawalFlow)
    data.session, data.draft = session, draft
    await message_of(update).reply_text(
        texts.WITHDRAW_ASK_CODE.format(
            amount=format_usdt(draft.amount_micro), address=escape(draft.address)
        )
    )
    return CODE


async def got_code(update: Update, context: Context) -> int:
    """Read (and delete) the code; hold the amount and record the request."""
    code, note = await take_secret(update, "code")
    data = flow_state(context, FLOW, WithdrawalFlow)
    # The session the flow began in: core re-checks it (and its stamp) in the holding
    # transaction; a logout, expiry or security change meanwhile raises FlowEnded.
    started, draft = data.started_session(), data.draft
    if draft is None:
        raise LookupError("the withdraw flow kept no draft")
    try:
        withdrawal = await context.bot_data.services.withdrawals.request(started, draft, code)
    except CoolingDown as refusal:
        await end_flow(context, FLOW)
        await message_of(update).reply_text(f"{note}\n\n{cooldown_text(context, refusal)}")
        return END
    except _FINAL as exc:
        await end_flow(context, FLOW)
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    except Refusal as exc:  # a wrong or reused code: another one may work
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return CODE
    await end_flow(context, FLOW)
    await message_of(update).reply_text(
        f"{note}\n\n"
        + texts.WITHDRAW_REQUESTED.format(
            id=withdrawal.id,
            amount=format_usdt(withdrawal.amount_micro),
            address=escape(withdrawal.address),
        )
    )
    return END


def register(application: VerzekApplication) -> None:
    """Wire /wallet, /referral and /withdraw."""
    application.add_handler(CommandHandler("wallet", show_wallet))
    application.add_handler(CommandHandler("referral", show_referral))
    application.add_handler(
        conversation(
            name=FLOW,
            entry="withdraw",
            entry_callback=start_withdraw,
            states={
                CODE: [MessageHandler(TEXT, got_code)],
                AMOUNT: [MessageHandler(TEXT, got_amount)],
                ADDRESS: [
                    MessageHandler(TEXT, got_address),
                    picked(application, LAST_ADDRESS, got_address),
                ],
            },
            restart_hint="Start again with /withdraw AMOUNT ADDRESS.",
            secrets={CODE: Secret.CODE},
        )
    )
