"""/killswitch on|off REASON (admin): halt API-key changes and withdrawals platform-wide.

The gate already refuses the command to non-admins (``ADMIN_ONLY``), the handlers carry their
own admin filter, and core checks the session's user again. Changing the switch takes
the admin's own session with 2FA on and a fresh code, asked for in a short flow in a private
chat; ``/killswitch`` alone shows the state anywhere an admin asks.
"""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import MessageHandler

from bot import texts
from bot.commands import AdminOnly
from bot.context import Context, VerzekApplication
from bot.flow_state import KillSwitchChange
from bot.flows import (
    END,
    TEXT,
    Secret,
    conversation,
    end_flow,
    flow_state,
    message_of,
    require_admin_session,
    take_secret,
)
from core.errors import Refusal
from core.safety.service import AlreadySet, KillSwitchAlreadySet, validate_reason
from core.twofactor.service import CodeBlocked

FLOW = "killswitch"
CODE = 0
_MODES = {"on": True, "off": False}


async def _show_state(update: Update, context: Context) -> None:
    state = await context.bot_data.services.safety.killswitch()
    if state.active and state.changed_at is not None:
        text = texts.KS_STATUS_ON.format(
            since=f"{state.changed_at:%Y-%m-%d %H:%M}", reason=escape(state.reason)
        )
    else:
        text = texts.KS_STATUS_OFF
    await message_of(update).reply_text(f"{text}\n\n{texts.KS_USAGE}")


async def start(update: Update, context: Context) -> int:
    """Show the state, or check the request and ask for a 2FA code."""
    await end_flow(context, FLOW)
    args = context.args or []
    if not args or args[0].lower() not in _MODES:
        await _show_state(update, context)
        return END
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        await message_of(update).reply_text(texts.KS_PRIVATE_ONLY)
        return END
    active = _MODES[args[0].lower()]
    try:
        reason = validate_reason(" ".join(args[1:]))
    except Refusal as exc:
        await message_of(update).reply_text(f"{texts.render(exc)}\n\n{texts.KS_USAGE}")
        return END
    session = await require_admin_session(update, context)
    if session is None:
        return END
    if (await context.bot_data.services.safety.killswitch()).active == active:
        await message_of(update).reply_text(texts.render(KillSwitchAlreadySet(active)))
        return END
    data = flow_state(context, FLOW, KillSwitchChange)
    data.session, data.active, data.reason = session, active, reason
    await message_of(update).reply_text(
        texts.KS_ASK_CODE.format(state=args[0].lower(), reason=escape(reason))
    )
    return CODE


async def got_code(update: Update, context: Context) -> int:
    """Check the code and flip the switch (audited, admin chat alerted)."""
    code, note = await take_secret(update, "code")
    data = flow_state(context, FLOW, KillSwitchChange)
    user = update.effective_user
    session = await context.bot_data.services.sessions.current(user.id) if user else None
    if session is None or session.id != data.started_session().id:
        # Logged out or expired while the code was being typed.
        await end_flow(context, FLOW)
        await message_of(update).reply_text(f"{note}\n\n{texts.LOGIN_FIRST}")
        return END
    try:
        state = await context.bot_data.services.safety.set_killswitch(
            data.started_session(), active=data.active, reason=data.reason, code=code
        )
    except (CodeBlocked, AlreadySet) as exc:
        await end_flow(context, FLOW)
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return END
    except Refusal as exc:
        await message_of(update).reply_text(f"{note}\n\n{texts.render(exc)}")
        return CODE
    await end_flow(context, FLOW)
    done = texts.KS_DONE_ON if state.active else texts.KS_DONE_OFF
    await message_of(update).reply_text(f"{note}\n\n{done}")
    return END


def register(application: VerzekApplication, admins: AdminOnly) -> None:
    """Wire /killswitch (with its own admin filter)."""
    application.add_handler(
        conversation(
            name=FLOW,
            entry="killswitch",
            entry_callback=start,
            entry_filter=admins.filter,
            states={CODE: [MessageHandler(TEXT & admins.filter, got_code)]},
            restart_hint="Start again with /killswitch on|off REASON.",
            secrets={CODE: Secret.CODE},
            private_only=False,  # /killswitch alone shows the state anywhere; start() checks
        )
    )
