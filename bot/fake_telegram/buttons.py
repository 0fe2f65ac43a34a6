"""What Telegram refuses in an inline keyboard (Bot API, InlineKeyboardButton).

"Exactly one of the optional fields must be used to specify type of the button": a button with
no action is a "text button", which inline keyboards refuse, and one with several is refused
too. ``callback_data`` is 1-64 bytes; ``url`` an http(s) or tg link; ``copy_text`` a
CopyTextButton whose text is 1-256 characters (Bot API 7.11).
"""

from __future__ import annotations

from typing import Any

BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
CALLBACK_DATA_MAX = 64  # bytes
COPY_TEXT_MAX = 256  # characters
CALLBACK_ANSWER_MAX = 200  # characters of answerCallbackQuery's notification text
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def markup_problem(markup: dict[str, Any] | None) -> str | None:
    """Telegram's error for the first button it would refuse, or None."""
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            problem = _button_problem(button)
            if problem:
                return problem
    return None


def _button_problem(button: dict[str, Any]) -> str | None:
    actions = BUTTON_ACTIONS & button.keys()
    if not actions:
        return (
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        return "Bad Request: BUTTON_TYPE_INVALID"
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_MAX:
        return "Bad Request: BUTTON_DATA_INVALID"
    url = button.get("url")
    if url is not None and not str(url).startswith(("https://", "http://", "tg://")):
        return "Bad Request: BUTTON_URL_INVALID"
    if "copy_text" in actions:
        copy = button["copy_text"]
        text = copy.get("text") if isinstance(copy, dict) else None
        if not isinstance(text, str) or not 1 <= len(text) <= COPY_TEXT_MAX:
            return "Bad Request: COPY_TEXT_INVALID"
    return None


def answer_problem(params: dict[str, Any], unanswered: set[str]) -> str | None:
    """Telegram's refusal of an answerCallbackQuery, or None (and the query is answered): a
    query is answered once (a second answer, or an unknown id, is "too old") and its text is
    0-200 characters."""
    query_id = str(params.get("callback_query_id", ""))
    if query_id not in unanswered:
        return QUERY_INVALID
    if len(str(params.get("text") or "")) > CALLBACK_ANSWER_MAX:
        return "Bad Request: MESSAGE_TOO_LONG"
    unanswered.discard(query_id)
    return None


def same_buttons(new: dict[str, Any] | None, old: dict[str, Any] | None) -> bool:
    """Whether two reply markups show the same buttons (none and an empty keyboard alike):
    Telegram refuses such an edit as "message is not modified"."""
    return ((new or {}).get("inline_keyboard") or None) == (
        (old or {}).get("inline_keyboard") or None
    )
