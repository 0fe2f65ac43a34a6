"""Every text a user sees: valid Telegram HTML, counted words that agree, no "(s)"."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from bot import texts
from bot.fake_telegram.html import check_html
from bot.wording import count, join_words
from core.adapters.captcha_image import ALPHABET, LEFT_OUT


def all_texts() -> Iterator[tuple[str, str]]:
    """(name, text) for every string in bot/texts.py, dict values included."""
    for name, value in vars(texts).items():
        if name.startswith("_") or not name.isupper():
            continue
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str):
                    yield f"{name}[{key}]", item


def filled(text: str) -> str:
    """The text with every {placeholder} given a harmless value, as the bot would."""
    fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return text.format(**dict.fromkeys(fields, "7"))


def test_every_text_is_valid_telegram_html() -> None:
    refused = {name: error for name, text in all_texts() if (error := check_html(filled(text)))}
    assert refused == {}


def test_no_text_counts_with_an_s_in_brackets() -> None:
    offenders = [name for name, text in all_texts() if "(s)" in text]
    assert offenders == []


def test_no_text_hard_codes_a_count_that_can_be_wrong() -> None:
    """ "{n} rows" reads "1 rows" for one row: counted nouns come from count() instead."""
    counted = re.compile(r"\{[a-z_]+\} (rows|tables|days|sessions|checks|hits|codes|tries)\b")
    assert [name for name, text in all_texts() if counted.search(text)] == []


def test_plural_and_join_words() -> None:
    assert count(1, "row") == "1 row" and count(2, "row") == "2 rows"
    assert count(0, "try", "tries") == "0 tries" and count(1, "try", "tries") == "1 try"
    assert join_words(["I", "L", "O"]) == "I, L or O" and join_words(["a"]) == "a"
    assert join_words(["a", "b"], "and") == "a and b" and join_words([]) == ""


def test_the_captcha_names_exactly_what_it_leaves_out() -> None:
    assert set(LEFT_OUT).isdisjoint(ALPHABET)
    assert set(LEFT_OUT) | set(ALPHABET) == set(string.ascii_uppercase + string.digits)
