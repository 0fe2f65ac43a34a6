"""The steps a person takes through the bot, said once: register, log in, enrol 2FA, add an
exchange key; and the reads a test makes afterwards (database rows, audit events).

Every step drives the real bot through :class:`tests.support.harness.BotHarness`, so a test
built from them reads like the user's story it checks.
"""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import zxingcpp
from PIL import Image

from bot.fake_telegram import Message, TelegramUser
from core.clock import FakeClock
from tests.support import raw_db
from tests.support.harness import BotHarness

EMAIL = "trader@example.com"
PASSWORD = "violet canyon trumpet 42 orbit"
NEW_PASSWORD = "quiet harbour lantern 77 meadow"
OTHER_PASSWORD = NEW_PASSWORD  # a second person's


def captcha_answer(bot: BotHarness, user: TelegramUser, flow: str) -> str:
    """What the picture on screen says (a person reads it; the test reads the flow's data)."""
    return str(bot.app.user_data[user.id][flow].captcha.answer)


async def events(bot: BotHarness) -> list:
    """Every audit event, oldest first."""
    return [row async for row in bot.services.audit.export()]


async def db_rows(bot: BotHarness, sql: str, *params: object) -> list[tuple]:
    """Read the bot's database directly (its file, or its PostgreSQL), as an auditor would."""
    return await raw_db.rows(bot.settings, sql, *params)


async def register(
    bot: BotHarness,
    user: TelegramUser,
    email: str = EMAIL,
    password: str = PASSWORD,
    referral: str | None = None,
) -> str:
    """/register with the password typed twice (and the captcha solved when it is on); the
    text of the bot's last reply."""
    await bot.send(user, "/register")
    await bot.send(user, email)
    await bot.send(user, password)
    replies = await bot.send(user, password)  # typed twice
    if bot.settings.security.captcha:
        replies = await bot.send(user, captcha_answer(bot, user, "register"))
    prompt = replies[-1]
    if referral is None:
        (done,) = await bot.press(user, prompt, "Skip")
    else:
        (done,) = await bot.send(user, referral)
    return done.plain


async def login(
    bot: BotHarness, user: TelegramUser, email: str = EMAIL, password: str = PASSWORD
) -> str:
    await bot.send(user, "/login")
    await bot.send(user, email)
    replies = await bot.send(user, password)
    if "Send the password again" in replies[-1].plain:
        await bot.send(user, "/cancel")  # a wrong password: give up, as these tests mean to
    return replies[-1].plain


CODE_RE = re.compile(r"\b([0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5})\b")


def scan_qr(png: bytes | None) -> str:
    assert png is not None, "the bot sent no picture"
    (result,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return result.text


async def enable_2fa(bot: BotHarness, user: TelegramUser, clock: FakeClock):
    """Register, log in and enrol like a person with a phone; return (totp, backup codes)."""
    await register(bot, user)
    await login(bot, user)
    (ask_password,) = await bot.send(user, "/2fa_enroll")
    assert "send your password" in ask_password.plain
    photo, manual, _prompt = await bot.send(user, PASSWORD)
    uri = scan_qr(photo.photo)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert unquote(parsed.path) == f"/Verzek:{EMAIL}"
    query = parse_qs(parsed.query)
    assert query["issuer"] == ["Verzek"]
    secret = query["secret"][0]
    assert len(secret) == 32  # 160 bits
    assert secret in manual.plain.replace(" ", "")
    totp = pyotp.TOTP(secret)
    (done,) = await bot.send(user, totp.at(clock.now()))
    assert bot.last_user_message.deleted
    assert photo.deleted and manual.deleted
    codes = CODE_RE.findall(done.plain)
    assert "Two-factor authentication is on" in done.plain and len(codes) == 10
    return totp, codes


async def login_with_code(
    bot: BotHarness, user: TelegramUser, code: str, email: str = EMAIL, password: str = PASSWORD
) -> str:
    """/login with the password, then a 2FA or backup code (deleted on read); the last reply."""
    reply = await login(bot, user, email, password)
    assert "Two-factor authentication is on for this account" in reply, reply
    replies = await bot.send(user, code)
    assert bot.last_user_message.deleted
    return replies[-1].plain


KEY = "vK3pQ9zT7mWx2LbN8rYc4HdJ6sFa1GeUqiKEY1"
SECRET = "Zt5yR2wX9cV7bN3mQ8kL4jH6gF1dS0aPoSECRET"
PASSPHRASE = "Blue-Otter-Pass#42"
NEW_KEY = "Nw8Xq2Lm5Rt9Vy3Kp7Hd1Jf6Gb4Sc0ZaNEWK"
NEW_SECRET = "Ss1Dd2Ff3Gg4Hh5Jj6Kk7Ll8Zz9Xx0CcNEWS"
BOB_EMAIL = "bob@example.com"


async def logged_in(
    bot: BotHarness, user: TelegramUser, email: str = "trader@example.com", password: str = PASSWORD
) -> None:
    await register(bot, user, email=email, password=password)
    assert "You're logged in" in await login(bot, user, email, password)


async def add_key(
    bot: BotHarness,
    user: TelegramUser,
    *,
    exchange: str = "Binance",
    label: str = "main",
    key: str = KEY,
    secret: str = SECRET,
    passphrase: str | None = None,
    confirm: str = PASSWORD,
) -> list[Message]:
    """Walk /apikey_add; every credential message must be deleted on read."""
    (ask_exchange,) = await bot.send(user, "/apikey_add")
    assert "which exchange" in ask_exchange.plain
    assert [b.text for b in ask_exchange.buttons] == ["Binance", "Bybit", "OKX", "KuCoin", "Other"]
    (ask_label,) = await bot.press(user, ask_exchange, exchange)
    assert "send a short label" in ask_label.plain
    (ask_key,) = await bot.send(user, label)
    assert "send the API key" in ask_key.plain
    (ask_secret,) = await bot.send(user, key)
    assert bot.last_user_message.deleted and "I deleted your message" in ask_secret.plain
    replies = await bot.send(user, secret)
    assert bot.last_user_message.deleted
    if passphrase is not None:
        assert "passphrase" in replies[-1].plain
        replies = await bot.send(user, passphrase)
        assert bot.last_user_message.deleted
    assert "Last step" in replies[-1].plain
    replies = await bot.send(user, confirm)
    assert bot.last_user_message.deleted
    return replies
