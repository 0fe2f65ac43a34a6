"""The fresh-2FA-code step shared by the admins' payment decisions (/approve, /credit,
/refund): take the code (deleting its message), turn it into a proof for the action, and say
what to do when it is wrong (ask again) or blocked (the flow ends)."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update

from bot import texts
from bot.context import Context
from bot.flow_state import PaymentApproval
from bot.flows import END, end_flow, flow_state, message_of, take_secret
from core.accounts.sessions import ReauthProof, Session
from core.errors import Refusal
from core.twofactor.service import CodeBlocked


@dataclass(frozen=True)
class CodeChecked:
    """A good code: the flow has ended; the decision runs with this proof."""

    note: str  # what the bot says about the deleted code message
    session: Session
    payment_id: int
    proof: ReauthProof


async def payment_code_proof(
    update: Update, context: Context, flow: str, ask_again: int
) -> CodeChecked | int:
    """The proof for ``flow``'s decision, or the conversation state to return (the reason was
    already told): ``ask_again`` for a wrong code, END when codes are blocked."""
    code, note = await take_secret(update, "2FA code")
    data = flow_state(context, flow, PaymentApproval)
    session, payment_id = data.started_session(), data.payment_id
    try:
        proof = await context.bot_data.services.twofactor.proof_for_action(session, code, flow)
    except CodeBlocked as exc:
        await end_flow(context, flow)
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return ask_again
    await end_flow(context, flow)
    return CodeChecked(note, session, payment_id, proof)
