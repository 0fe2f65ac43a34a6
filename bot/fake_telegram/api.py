"""An in-process stand-in for the Telegram Bot API.

The real Application talks to it through :class:`FakeRequest` (a ``telegram.request.BaseRequest``)
exactly as it would talk to api.telegram.org: getUpdates long polling, sendMessage, sendPhoto,
deleteMessage, editMessageText, answerCallbackQuery, setMyCommands (with scopes), setMyDescription
and setMyShortDescription (bot/fake_telegram/profile.py), and webhooks (webhook.py). It also
plays the users: it queues their messages and button presses as updates, and it records what
the bot sent so tests (and ``verzek shell``) can read it.

It checks what Telegram checks and our code could get wrong: HTML that Telegram would refuse to
parse, messages over 4096 characters, captions over 1024, callback data over 64 bytes, a button
with no action or several, copy_text outside 1-256 characters, deleting or editing a message
that does not exist, editing the text of a photo, an edit that changes nothing (buttons:
:mod:`bot.fake_telegram.buttons`), documents that are empty or over 50 MB (see uploads.py).
Failures (429 with retry_after, 5xx, timeouts) can be scheduled per method to exercise retries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from bot.fake_telegram.buttons import answer_problem, markup_problem, same_buttons
from bot.fake_telegram.delivery import Forums, delivery_options
from bot.fake_telegram.entities import (
    TELEGRAM_SERVICE_USER,
    TEXT_FIELDS,
    ForwardKind,
    add_text,
    forward_origin,
    via_bot,
)
from bot.fake_telegram.html import check_html, html_to_plain
from bot.fake_telegram.pins import PinMethods, PinRefused, Pins
from bot.fake_telegram.profile import BadRequest, BotProfile
from bot.fake_telegram.records import BOT_USER, Message, ScheduledFailure, TelegramUser
from bot.fake_telegram.stars import StarsMethods, StarsState
from bot.fake_telegram.uploads import Refused, document_bytes, upload_bytes, upload_name
from bot.fake_telegram.webhook import WebhookMethods


class FakeBotAPI(BotProfile, PinMethods, StarsMethods, WebhookMethods):
    """The Bot API and the users on the other side of it."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self.pending_updates: list[dict[str, Any]] = []
        self._updates_ready = asyncio.Event()
        self.updates_queued = 0
        self.messages: dict[tuple[int, int], Message] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._profile_init()  # menus and descriptions (bot/fake_telegram/profile.py)
        self.callback_answers: list[dict[str, Any]] = []
        self._unanswered: set[str] = set()  # callback queries pressed, not answered yet
        self.failures: list[ScheduledFailure] = []
        self.listeners: list[Callable[[str, Message], None]] = []
        self.chat_titles: dict[int, str] = {}
        self._user_bodies: dict[tuple[int, int], dict[str, Any]] = {}
        self.pins = Pins(clock)
        self.listeners.append(self.pins.saw)
        self.forums = Forums()  # forum supergroups and their topics (message_thread_id)
        self.stars = StarsState()  # invoice links, checkouts, charges (stars.py)

    # --- the users' side -------------------------------------------------------------------

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _chat(self, chat_id: int, user: TelegramUser) -> dict[str, Any]:
        if chat_id == user.id:
            return {"id": chat_id, "type": "private", "first_name": user.first_name}
        return {
            "id": chat_id,
            "type": "supergroup",
            "title": self.chat_titles.get(chat_id, "Group"),
        }

    def _queue(self, update: dict[str, Any]) -> dict[str, Any]:
        update["update_id"] = next(self._update_ids)
        self.pending_updates.append(update)
        self.updates_queued += 1
        self._updates_ready.set()
        return update

    def user_sends(
        self,
        user: TelegramUser,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        photo: bool = False,
        sticker: bool = False,
        document: bool = False,
        caption: str | None = None,
        forwarded: ForwardKind | None = None,
        via: str | None = None,
        automatic_forward: bool = False,
    ) -> Message:
        """A user sends a message (text, or a photo/sticker/document, with a caption); returns it.

        Entities are Telegram's (see :mod:`bot.fake_telegram.entities`). ``forwarded`` makes it a
        forward (``forward_origin`` of that type), ``via`` a message sent through that inline
        bot, ``automatic_forward`` a channel post copied into a discussion group.
        """
        chat = chat_id if chat_id is not None else user.id
        message_id = self._next_message_id(chat)
        now = int(self._clock())
        body: dict[str, Any] = {
            "message_id": message_id,
            "date": now,
            "chat": self._chat(chat, user),
            "from": user.to_dict(),
        }
        add_text(body, "text", "entities", text)
        add_text(body, "caption", "caption_entities", caption)
        if forwarded is not None or automatic_forward:
            body["forward_origin"] = forward_origin(forwarded or "channel", now - 60)
        if automatic_forward:
            # Telegram posts the copy as its service account on behalf of the channel.
            body["is_automatic_forward"] = True
            body["from"] = TELEGRAM_SERVICE_USER
            body["sender_chat"] = body["forward_origin"]["chat"]
        if via is not None:
            body["via_bot"] = via_bot(via)
        if photo:
            body["photo"] = [
                {
                    "file_id": f"photo{message_id}",
                    "file_unique_id": f"u{message_id}",
                    "width": 90,
                    "height": 90,
                }
            ]
        if sticker:
            body["sticker"] = _file(
                f"sticker{message_id}",
                type="regular",
                width=512,
                height=512,
                is_animated=False,
                is_video=False,
            )
        if document:
            body["document"] = _file(f"doc{message_id}")
        message = Message(chat, message_id, from_bot=False, text=text, caption=caption)
        self.messages[(chat, message_id)] = message
        self._user_bodies[(chat, message_id)] = body
        self._queue({"message": body})
        return message

    def channel_posts(self, chat_id: int, text: str, *, edited: bool = False) -> None:
        """A post in a channel the bot administers (no ``from``: the channel is the sender)."""
        channel = {"id": chat_id, "type": "channel", "title": self.chat_titles.get(chat_id, "C")}
        body: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(self._clock()),
            "chat": channel,
            "sender_chat": channel,
        }
        add_text(body, "text", "entities", text)
        if edited:
            body["edit_date"] = int(self._clock())
        self._queue({"edited_channel_post" if edited else "channel_post": body})

    def user_edits(self, user: TelegramUser, message: Message, text: str) -> None:
        """The user edits their own text (or caption) message: an ``edited_message`` update."""
        key = (message.chat_id, message.message_id)
        original = self._user_bodies.get(key)
        if original is None or message.from_bot or original["from"]["id"] != user.id:
            raise ValueError("a user can only edit their own messages")
        body = {k: v for k, v in original.items() if k not in TEXT_FIELDS}
        body["edit_date"] = int(self._clock())
        if "caption" in original:
            add_text(body, "caption", "caption_entities", text)
            message.caption = text
        else:
            add_text(body, "text", "entities", text)
            message.text = text
        message.edits += 1
        self._user_bodies[key] = body
        self._queue({"edited_message": body})

    def user_presses(self, user: TelegramUser, message: Message, callback_data: str) -> None:
        """A user presses an inline button (any data: tests forge data on purpose)."""
        query_id = str(next(self._callback_ids))
        self._unanswered.add(query_id)
        self._queue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.to_dict(),
                    "chat_instance": str(message.chat_id),
                    "data": callback_data,
                    "message": {
                        "message_id": message.message_id,
                        "date": int(self._clock()),
                        "chat": self._chat(message.chat_id, user),
                        "from": BOT_USER,
                        "text": message.plain or " ",
                    },
                }
            }
        )

    # --- inspection ------------------------------------------------------------------------

    def sent_to(self, chat_id: int) -> list[Message]:
        """Everything the bot sent to ``chat_id`` (deleted ones included, flagged)."""
        return [
            m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id and m.from_bot
        ]

    def fail(
        self,
        method: str | None,
        *,
        times: int = 1,
        status: int = 0,
        retry_after: int | None = None,
        exception: type[Exception] | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (None: any method) fail."""
        self.failures.append(ScheduledFailure(method, times, status, retry_after, exception))

    # --- the Bot API side ------------------------------------------------------------------

    def _take_failure(self, method: str) -> ScheduledFailure | None:
        for failure in self.failures:
            if failure.method in (None, method) and failure.times > 0:
                failure.times -= 1
                return failure
        return None

    async def handle(
        self, method: str, params: dict[str, Any], files: dict[str, Any]
    ) -> tuple[int, bytes]:
        """Answer one Bot API call with an HTTP status and a JSON body."""
        if method != "getUpdates":
            self.calls.append((method, params))
            failure = self._take_failure(method)
            if failure is not None:
                if failure.exception is not None:
                    raise failure.exception("fake Bot API: scheduled failure")
                body: dict[str, Any] = {
                    "ok": False,
                    "error_code": failure.status,
                    "description": "Too Many Requests: retry later"
                    if failure.status == 429
                    else "Internal Server Error",
                }
                if failure.retry_after is not None:
                    body["parameters"] = {"retry_after": failure.retry_after}
                return failure.status, json.dumps(body).encode()
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params, files)
        except (_BadRequest, PinRefused) as exc:
            return _error(400, str(exc))
        except Refused as exc:
            return _error(exc.status, exc.description)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    async def _api_getMe(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return BOT_USER

    async def _api_getUpdates(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self.refuse_polling_while_webhook()  # 409 Conflict (bot/fake_telegram/webhook.py)
        offset = int(params.get("offset") or 0)
        self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        if not self.pending_updates:
            self._updates_ready.clear()
            timeout = float(params.get("timeout") or 0)
            try:
                await asyncio.wait_for(self._updates_ready.wait(), timeout=min(timeout, 1.0))
            except TimeoutError:
                return []
        limit = int(params.get("limit") or 100)
        return self.pending_updates[:limit]

    async def _api_sendChatAction(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        problem = answer_problem(params, self._unanswered)
        if problem:
            raise _BadRequest(problem)
        self.callback_answers.append(params)
        return True

    def _check_markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        problem = markup_problem(markup)
        if problem:
            raise _BadRequest(problem)
        return markup

    def _delivery(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return delivery_options(self.forums, params)
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None

    def _check_text(self, text: str, parse_mode: str | None, limit: int) -> None:
        if parse_mode == "HTML":
            problem = check_html(text)
            if problem:
                raise _BadRequest(problem)
            visible = html_to_plain(text)
        else:
            visible = text
        if not visible.strip():
            raise _BadRequest("Bad Request: message text is empty")
        if len(visible) > limit:
            raise _BadRequest(
                "Bad Request: message is too long"
                if limit == 4096
                else "Bad Request: message caption is too long"
            )

    def _store(self, chat_id: int, **fields: Any) -> Message:
        message = Message(chat_id, self._next_message_id(chat_id), from_bot=True, **fields)
        self.messages[(chat_id, message.message_id)] = message
        for listener in self.listeners:
            listener("sent", message)
        return message

    def _message_json(self, message: Message) -> dict[str, Any]:
        chat: dict[str, Any] = {
            "id": message.chat_id,
            "type": "private" if message.chat_id > 0 else "supergroup",
        }
        if message.chat_id < 0:
            chat["title"] = self.chat_titles.get(message.chat_id, "Group")
        if self.forums.is_forum(message.chat_id):
            chat["is_forum"] = True
        body: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(self._clock()),
            "chat": chat,
            "from": BOT_USER,
        }
        if message.text is not None:
            body["text"] = (
                html_to_plain(message.text) if message.parse_mode == "HTML" else (message.text)
            )
        if message.photo is not None:
            body["photo"] = [
                {
                    "file_id": f"p{message.message_id}",
                    "file_unique_id": f"p{message.message_id}",
                    "width": 300,
                    "height": 300,
                }
            ]
        if message.document is not None:
            body["document"] = _file(
                f"d{message.message_id}",
                file_name=message.document_name,
                mime_type="application/octet-stream",
                file_size=len(message.document),
            )
        if message.caption is not None:
            body["caption"] = html_to_plain(message.caption)
        if message.reply_markup:
            body["reply_markup"] = message.reply_markup
        if message.message_thread_id is not None:
            body.update(message_thread_id=message.message_thread_id, is_topic_message=True)
        return body

    async def _api_sendMessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        text = str(params.get("text", ""))
        parse_mode = params.get("parse_mode")
        self._check_text(text, parse_mode, 4096)
        message = self._store(
            int(params["chat_id"]),
            text=text,
            parse_mode=parse_mode,
            reply_markup=self._check_markup(params),
            **self._delivery(params),
        )
        return self._message_json(message)

    async def _api_sendPhoto(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        caption = params.get("caption")
        parse_mode = params.get("parse_mode")
        if caption:
            self._check_text(str(caption), parse_mode, 1024)
        message = self._store(
            int(params["chat_id"]),
            photo=upload_bytes(params, files, "photo"),
            caption=caption,
            parse_mode=parse_mode,
            reply_markup=self._check_markup(params),
            **self._delivery(params),
        )
        return self._message_json(message)

    async def _api_sendDocument(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        caption = params.get("caption")
        parse_mode = params.get("parse_mode")
        if caption:
            self._check_text(str(caption), parse_mode, 1024)
        content = document_bytes(params, files)
        message = self._store(
            int(params["chat_id"]),
            document=content,
            document_name=upload_name(params, files, "document"),
            caption=caption,
            parse_mode=parse_mode,
            **self._delivery(params),
        )
        return self._message_json(message)

    def _existing(self, params: dict[str, Any]) -> Message:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None or message.deleted:
            raise _BadRequest("Bad Request: message to edit not found")
        return message

    async def _api_deleteMessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None or message.deleted:
            raise _BadRequest("Bad Request: message to delete not found")
        message.deleted = True
        for listener in self.listeners:
            listener("deleted", message)
        return True

    async def _api_deleteMessages(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        # Bot API: 1-100 ids; messages that can't be found are skipped.
        ids = params.get("message_ids")
        ids = json.loads(ids) if isinstance(ids, str) else ids
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _BadRequest("Bad Request: message_ids must be 1-100 message identifiers")
        for message_id in ids:
            message = self.messages.get((int(params["chat_id"]), int(message_id)))
            if message is not None and not message.deleted:
                message.deleted = True
                for listener in self.listeners:
                    listener("deleted", message)
        return True

    async def _api_editMessageText(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        message = self._existing(params)
        if not message.from_bot:
            raise _BadRequest("Bad Request: message can't be edited")
        if message.text is None:  # a photo or document: only its caption can be edited
            raise _BadRequest("Bad Request: there is no text in the message to edit")
        text = str(params.get("text", ""))
        self._check_text(text, params.get("parse_mode"), 4096)
        markup = self._check_markup(params)
        if text == message.text and markup == message.reply_markup:
            raise _BadRequest("Bad Request: message is not modified")
        message.text, message.parse_mode = text, params.get("parse_mode")
        message.reply_markup = markup
        message.edits += 1
        for listener in self.listeners:
            listener("edited", message)
        return self._message_json(message)

    async def _api_editMessageReplyMarkup(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> Any:
        message, markup = self._existing(params), self._check_markup(params)
        if not message.from_bot:  # Telegram: only the bot's own messages, and only a change
            raise _BadRequest("Bad Request: message can't be edited")
        if same_buttons(markup, message.reply_markup):
            raise _BadRequest("Bad Request: message is not modified")
        message.reply_markup = markup
        message.edits += 1
        for listener in self.listeners:
            listener("edited", message)
        return self._message_json(message)


def _file(file_id: str, **extra: Any) -> dict[str, Any]:
    return {"file_id": file_id, "file_unique_id": f"u-{file_id}", **extra}


_BadRequest = BadRequest  # one 400 for every method (profile.py raises it too)


def _error(status: int, description: str) -> tuple[int, bytes]:
    return status, json.dumps(
        {"ok": False, "error_code": status, "description": description}
    ).encode()
