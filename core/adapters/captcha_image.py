"""Image captchas for /register and /login (the ``captcha`` package), made off the loop."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import string
from dataclasses import dataclass

from captcha.image import ImageCaptcha

# No 0/O, 1/I/L: people should fail a captcha for being a bot, not for reading a glyph.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# What a picture never shows, told to the person so they don't hunt for an O or a 0.
LEFT_OUT = "".join(c for c in string.ascii_uppercase + string.digits if c not in ALPHABET)
LENGTH = 5
MAX_TRIES = 3  # answers per picture; then a new picture
MAX_PICTURES = 3  # pictures per flow; then the flow ends (a bot gets 9 guesses, a person plenty)


@dataclass(frozen=True)
class Captcha:
    """One challenge: the picture to show and the answer to expect."""

    answer: str
    image_png: bytes

    def __repr__(self) -> str:
        return f"Captcha(image={len(self.image_png)} bytes)"

    def matches(self, typed: str) -> bool:
        """Case-insensitive, spaces ignored, constant time."""
        cleaned = "".join(typed.split()).upper()
        return hmac.compare_digest(cleaned.encode(), self.answer.encode())


class CaptchaService:
    """Makes captchas."""

    def __init__(self) -> None:
        self._images = ImageCaptcha(width=220, height=90)

    def _render(self, answer: str) -> bytes:
        return self._images.generate(answer, format="png").getvalue()

    async def new(self) -> Captcha:
        """A fresh random challenge."""
        answer = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        image = await asyncio.to_thread(self._render, answer)
        return Captcha(answer, image)
