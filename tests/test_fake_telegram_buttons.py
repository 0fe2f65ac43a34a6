"""The fake Bot API refuses what Telegram refuses in inline keyboards and edits (Bot API:
InlineKeyboardButton, CopyTextButton, editMessageText), so our buttons and live edits meet
Telegram's rules in every test, not our own assumptions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.fake_telegram import FakeBotAPI

CHAT = 42


async def call(api: FakeBotAPI, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    status, body = await api.handle(method, params, {})
    return status, json.loads(body)


def markup(*buttons: dict[str, Any]) -> str:
    return json.dumps({"inline_keyboard": [list(buttons)]})


@pytest.mark.parametrize(
    ("button", "error"),
    [
        ({"text": "copy", "copy_text": {"text": "x" * 257}}, "COPY_TEXT_INVALID"),
        ({"text": "copy", "copy_text": {"text": ""}}, "COPY_TEXT_INVALID"),
        ({"text": "copy", "copy_text": {}}, "COPY_TEXT_INVALID"),
        ({"text": "copy", "copy_text": "plain string"}, "COPY_TEXT_INVALID"),
        ({"text": "two", "copy_text": {"text": "a"}, "callback_data": "b"}, "BUTTON_TYPE_INVALID"),
        ({"text": "two", "url": "https://x.example", "callback_data": "b"}, "BUTTON_TYPE_INVALID"),
        ({"text": "none"}, "Text buttons are unallowed"),
        ({"text": "long", "callback_data": "x" * 65}, "BUTTON_DATA_INVALID"),
        ({"text": "url", "url": "javascript:alert(1)"}, "BUTTON_URL_INVALID"),
    ],
)
async def test_buttons_telegram_refuses(button: dict[str, Any], error: str) -> None:
    api = FakeBotAPI()
    status, body = await call(
        api, "sendMessage", chat_id=CHAT, text="hi", reply_markup=markup(button)
    )
    assert status == 400 and error in body["description"]
    assert api.sent_to(CHAT) == []


async def test_copy_text_buttons_of_1_to_256_characters_are_kept() -> None:
    api = FakeBotAPI()
    buttons = (
        {"text": "one", "copy_text": {"text": "a"}},
        {"text": "max", "copy_text": {"text": "é" * 256}},  # characters, not bytes
    )
    status, _ = await call(
        api, "sendMessage", chat_id=CHAT, text="hi", reply_markup=markup(*buttons)
    )
    assert status == 200
    (message,) = api.sent_to(CHAT)
    assert [b.copy_text for b in message.buttons] == ["a", "é" * 256]


async def test_edit_message_text_follows_telegram() -> None:
    api = FakeBotAPI()
    _, sent = await call(api, "sendMessage", chat_id=CHAT, text="one")
    message_id = sent["result"]["message_id"]
    status, body = await call(
        api, "editMessageText", chat_id=CHAT, message_id=message_id, text="one"
    )
    assert status == 400 and body["description"] == "Bad Request: message is not modified"
    status, _ = await call(api, "editMessageText", chat_id=CHAT, message_id=message_id, text="two")
    assert status == 200
    status, body = await call(api, "editMessageText", chat_id=CHAT, message_id=999, text="x")
    assert status == 400 and body["description"] == "Bad Request: message to edit not found"
    await call(api, "deleteMessage", chat_id=CHAT, message_id=message_id)
    status, body = await call(api, "editMessageText", chat_id=CHAT, message_id=message_id, text="3")
    assert status == 400 and body["description"] == "Bad Request: message to edit not found"


async def test_a_photo_has_no_text_to_edit_and_keeps_its_buttons() -> None:
    api = FakeBotAPI()
    button = {"text": "copy", "copy_text": {"text": "TAddress"}}
    status, sent = await api.handle(
        "sendPhoto",
        {"chat_id": CHAT, "caption": "invoice", "reply_markup": markup(button)},
        {"photo": ("qr.png", b"\x89PNG")},
    )
    assert status == 200
    (photo,) = api.sent_to(CHAT)
    assert photo.photo == b"\x89PNG" and photo.buttons[0].copy_text == "TAddress"
    assert json.loads(sent)["result"]["reply_markup"]["inline_keyboard"][0][0]["copy_text"]
    status, body = await call(
        api, "editMessageText", chat_id=CHAT, message_id=photo.message_id, text="new"
    )
    assert status == 400 and "there is no text in the message to edit" in body["description"]
