"""Telegram's HTML parse mode, as the fake Bot API checks it: the tags Telegram accepts, the
text a person sees (:func:`html_to_plain`) and the refusal Telegram would answer
(:func:`check_html`)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
}


_BARE_LT = re.compile(r"<(?!/?[a-zA-Z][a-zA-Z-]*[\s>/])")


class TelegramHTMLChecker(HTMLParser):
    """Refuses what Telegram's HTML parse mode refuses: unknown tags, unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None
        self.plain: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            self.error = self.error or f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'Unexpected end tag "{tag}"'
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.plain.append(data)


def html_to_plain(text: str) -> str:
    """The text a person sees for an HTML message."""
    checker = TelegramHTMLChecker()
    checker.feed(text)
    checker.close()
    return "".join(checker.plain)  # the parser decoded each entity once, as Telegram does


def check_html(text: str) -> str | None:
    """Telegram's "can't parse entities" description for ``text``, or None when it parses."""
    checker = TelegramHTMLChecker()
    checker.feed(text)
    checker.close()
    if checker.error:
        return f"Bad Request: can't parse entities: {checker.error}"
    if checker.stack:
        return f'Bad Request: can\'t parse entities: unclosed tag "{checker.stack[-1]}"'
    if _BARE_LT.search(text):
        return 'Bad Request: can\'t parse entities: unescaped "<"'
    return None
