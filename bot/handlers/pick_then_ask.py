"""Admin commands that take an id and more (``/reject ID REASON``,
``/complete_withdrawal ID TX_HASH``, ``/reject_withdrawal ID REASON``), sent bare: buttons of
the pending items (bot/pickers.py), then the rest is asked for.

Typed with arguments, the command runs its own handler at once, exactly as before. A picked
item asks for the rest in a private chat, then runs that same handler with
``context.args = [id, *words]``; in the admin chat (where the gate reads only commands) it
says what to type instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, MessageHandler

from bot.commands import AdminOnly
from bot.context import Context, VerzekApplication
from bot.flow_state import PickedItem
from bot.flows import (
    END,
    TEXT,
    conversation,
    end_flow,
    flow_state,
    message_of,
    require_admin_session,
)
from bot.pickers import Picker, offer, picked

REST = 0

Handler = Callable[[Update, Context], Awaitable[Any]]


@dataclass(frozen=True)
class Rest:
    """What a picked item still needs: ``ask`` (private chats) and ``type_here`` (the admin
    chat), both formatted with ``id``."""

    ask: str
    type_here: str


async def offer_as_admin(update: Update, context: Context, picker: Picker) -> int:
    """A bare admin command: the admin's own session (2FA on), then the buttons."""
    session = await require_admin_session(update, context)
    if session is None:
        return END
    return await offer(update, context, picker, session)


def pick_then_ask(
    application: VerzekApplication,
    admins: AdminOnly,
    picker: Picker,
    rest: Rest,
    run: Handler,
) -> BaseHandler[Update, Any, Any]:
    """``/<picker.command>`` as a flow around its typed handler ``run``."""
    name = f"{picker.command}_picked"
    only = admins.filter

    async def start(update: Update, context: Context) -> int:
        await end_flow(context, name)
        if context.args:
            await run(update, context)
            return END
        return await offer_as_admin(update, context, picker)

    async def ask(update: Update, context: Context) -> int:
        value = (context.args or [""])[0]
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            await message_of(update).reply_text(rest.type_here.format(id=value))
            return END
        session = await require_admin_session(update, context)
        if session is None:
            return END
        data = flow_state(context, name, PickedItem)
        data.session, data.value = session, value
        await message_of(update).reply_text(rest.ask.format(id=value))
        return REST

    async def got_rest(update: Update, context: Context) -> int:
        value = flow_state(context, name, PickedItem).value
        context.args = [value, *(message_of(update).text or "").split()]
        await end_flow(context, name)
        await run(update, context)
        return END

    return conversation(
        name=name,
        entry=picker.command,
        entry_callback=start,
        entry_filter=only,
        extra_entries=[picked(application, picker, ask, admins.ids)],
        states={REST: [MessageHandler(TEXT & only, got_rest)]},
        restart_hint=f"Start again with /{picker.command}.",
        private_only=False,  # the admin chat may use it too (it types the rest there)
    )
