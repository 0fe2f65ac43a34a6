"""``verzek shell``: the real bot in a terminal, no Telegram needed.

It starts the same Application as ``verzek run`` (:func:`bot.app.build_application`) but points it
at the in-process fake Telegram (:class:`bot.fake_telegram.FakeRequest`): nothing touches the net.
What you type is sent as a Telegram user's messages; what the bot sends is printed as it arrives
(photos are saved to files, QR codes are also drawn in the terminal, deletions are marked).
Unless ``--db`` is given the database lives in a temporary folder deleted on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import TextIO

import qrcode

from bot.app import build_application
from bot.bootstrap import encryption
from bot.cli_keycheck import open_checked
from bot.context import VerzekApplication
from bot.fake_telegram import FakeBotAPI, FakeRequest, Message, TelegramUser
from bot.logging_setup import configure_logging
from bot.shell_chain import CHAIN_HELP, chain_command
from bot.update_processor import PerUserUpdateProcessor
from core.adapters.tronscan_simulator import SIMULATED_BASE_URL, SimulatedTronscan
from core.clock import SystemClock
from core.config import Settings
from core.config_values import Secret
from core.crypto import generate_master_key
from core.errors import ConfigError
from core.ids import parse_id

SHELL_USER_ID = 1001
SHELL_ADMIN_ID = 9001  # made an admin when telegram.admins is empty
SHELL_ADMIN_CHAT_ID = -1_000_000_000_001  # used when telegram.admin_chat_id is unset
# Not a secret: the fake Bot API accepts any token, and this one never leaves the process.
DUMMY_TOKEN = "0:verzek-shell"  # noqa: S105

# zxing-cpp (a test extra) reads the QR code out of the bot's enrolment picture.
HAVE_ZXING = find_spec("zxingcpp") is not None

HELP = f"""\
Type as you would in Telegram: "/start", "/register", or the answer to the last question.
  :press N   press button N of the latest message that has buttons
  :as ID     continue as the Telegram user ID (a new chat)
  :admin     continue as the configured admin
{CHAIN_HELP}
  :help      this list
  :quit      leave (Ctrl-D works too)"""
LOG_FILE_NAME = "verzek-shell.log"


def prepare_settings(
    settings: Settings, *, workdir: Path, db: Path | None, real_tronscan: bool = False
) -> tuple[Settings, list[str]]:
    """The settings adjusted for a local session, and lines telling what was changed."""
    notes = []
    telegram = dataclasses.replace(
        settings.telegram,
        token=Secret(DUMMY_TOKEN),
        admins=settings.telegram.admins or frozenset({SHELL_ADMIN_ID}),
        admin_chat_id=SHELL_ADMIN_CHAT_ID
        if settings.telegram.admin_chat_id is None
        else settings.telegram.admin_chat_id,
    )
    if db is None:
        database = dataclasses.replace(settings.database, path=workdir / "verzek.db")
        backups = dataclasses.replace(settings.backups, dir=workdir / "backups")
        notes.append("Database: a throwaway one, deleted when you quit (--db PATH to keep one).")
    else:
        db = db.resolve()
        database = dataclasses.replace(settings.database, path=db)
        # Beside the database the person chose, never ./backups of wherever the shell started.
        backups = dataclasses.replace(settings.backups, dir=db.parent / "backups")
        notes.append(f"Database: {db} (backups go to {backups.dir})")
    encryption = settings.encryption
    if encryption.master_key is None:
        encryption = dataclasses.replace(encryption, master_key=Secret(generate_master_key()))
        notes.append(
            "Encryption: ENCRYPTION_MASTER_KEY is not set, so a throwaway key was generated for "
            "this session (not shown); what it encrypts is unreadable after you quit."
        )
    else:
        notes.append("Encryption: using ENCRYPTION_MASTER_KEY from the environment.")
    if not settings.security.captcha:
        notes.append("Captcha: off (security.captcha = false in the config).")
    tronscan = settings.tronscan
    if real_tronscan:
        notes.append(f"TronScan: the real one at {tronscan.base_url} (--real-tronscan).")
    else:
        tronscan = dataclasses.replace(tronscan, base_url=SIMULATED_BASE_URL, api_key=None)
        notes.append("TronScan: simulated, no network (:chain pay / :chain confirm).")
    if settings.payments.receive_address is None:
        notes.append("Payments: off (set payments.receive_address in the config to try them).")
    shell_settings = dataclasses.replace(
        settings,
        telegram=telegram,
        database=database,
        backups=backups,
        encryption=encryption,
        tronscan=tronscan,
    )
    return shell_settings, notes


def terminal_qr(text: str, *, tty: bool) -> str:
    """``text`` as a QR code drawn with block characters (light modules inked, dark blank).

    On a terminal, qrcode's tty mode also fixes the colours (white on black), so a phone can
    scan it whatever the terminal's theme; elsewhere the same inverted drawing is written plain.
    """
    code = qrcode.QRCode()  # the standard quiet zone of 4 modules: phones need it
    code.add_data(text)
    out = _Drawing(tty)
    code.print_ascii(out=out, tty=tty, invert=True)
    return out.getvalue()


class _Drawing(io.StringIO):
    """A buffer qrcode's tty mode accepts (it refuses to colour what is not a terminal)."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def decode_qr(png: bytes) -> str | None:
    """The text of the QR code in a picture; None when there is none (or no zxing-cpp)."""
    if not HAVE_ZXING:
        return None
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    return found[0].text if found else None


class Terminal:
    """Prints what happens in the fake Telegram, as it happens (a FakeBotAPI listener)."""

    def __init__(self, api: FakeBotAPI, out: TextIO, photo_dir: Path, admin_chat_id: int) -> None:
        self.api = api
        self.out = out
        self.photo_dir = photo_dir
        self.admin_chat_id = admin_chat_id
        self.user_id = SHELL_USER_ID
        self.tty = out.isatty()
        self._texts: dict[tuple[int, int], str] = {}  # what each message said, to spot edits
        # Set while readline waits for a line: output then goes above the prompt, which is
        # drawn again with what was typed so far.
        self.prompt_waiting: str | None = None
        self.typed_so_far: Callable[[], str] = str

    def say(self, text: str) -> None:
        if self.prompt_waiting is not None:
            self.out.write("\r\x1b[K" + text + "\n" + self.prompt_waiting + self.typed_so_far())
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def on_event(self, kind: str, message: Message) -> None:
        """FakeBotAPI listener: a message was "sent", "edited" or "deleted"."""
        where = self._where(message.chat_id)
        if kind == "deleted":
            whose = "the bot's" if message.from_bot else "yours"
            self.say(f"{where}[message #{message.message_id} deleted ({whose})]")
            return
        text = message.plain
        key = (message.chat_id, message.message_id)
        only_buttons = kind == "edited" and self._texts.get(key) == text
        self._texts[key] = text
        if only_buttons:  # editMessageReplyMarkup: no need to repeat the text
            label, lines = (" (new buttons)" if message.buttons else " (buttons removed)"), []
        else:
            label = " (edited)" if kind == "edited" else ""
            photo = message.photo is not None and kind == "sent"
            lines = [*(self._photo_lines(message) if photo else []), *text.splitlines()]
        if message.buttons:
            lines.append("  ".join(f"[{n}] {b.text}" for n, b in enumerate(message.buttons, 1)))
        head = f"{where}bot #{message.message_id}{label}: "
        shown = head + f"\n{' ' * len(head)}".join(lines)
        self.say("\n".join(line.rstrip(" ") for line in shown.split("\n")))

    def _where(self, chat_id: int) -> str:
        if chat_id == self.admin_chat_id:
            return "[admin chat] "
        return "" if chat_id == self.user_id else f"[to user {chat_id}] "

    def _photo_lines(self, message: Message) -> list[str]:
        assert message.photo is not None
        path = self.photo_dir / f"photo-{message.chat_id}-{message.message_id}.png"
        path.write_bytes(message.photo)
        text = decode_qr(message.photo)
        if text is None:
            hint = "" if HAVE_ZXING else " (a QR code? install zxing-cpp to draw it here)"
            return [f"[picture saved to {path}]{hint}"]
        drawing = terminal_qr(text, tty=self.tty).rstrip("\n").splitlines()
        return [f"[QR code, also saved to {path}]", *drawing]


class Shell:
    """The running bot and the person at the keyboard."""

    def __init__(
        self,
        settings: Settings,
        terminal: Terminal,
        api: FakeBotAPI,
        chain: SimulatedTronscan | None = None,
    ) -> None:
        self.settings = settings
        self.terminal = terminal
        self.api = api
        self.chain = chain  # None: the real TronScan (--real-tronscan)
        self.app: VerzekApplication = build_application(
            settings,
            request=FakeRequest(api),
            get_updates_request=FakeRequest(api),
            chain=chain.client(settings.tronscan) if chain is not None else None,
        )

    @property
    def user(self) -> TelegramUser:
        return TelegramUser(self.terminal.user_id)

    @property
    def prompt(self) -> str:
        admin = " (admin)" if self.user.id in self.settings.telegram.admins else ""
        return f"{self.user.id}{admin}> "

    async def start(self) -> None:
        await self.app.initialize()
        if self.app.post_init is not None:  # run_polling would call it; we start by hand
            await self.app.post_init(self.app)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0.0, timeout=1)

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        if self.app.post_shutdown is not None:
            await self.app.post_shutdown(self.app)
        if self.chain is not None:
            await self.chain.aclose()

    async def settle(self) -> None:
        """Wait until the bot has finished every update sent so far (as tests/harness.py)."""
        processor = self.app.update_processor
        assert isinstance(processor, PerUserUpdateProcessor)
        # The processor only counts (no event to wait on), so poll like the harness does.
        while processor.completed < self.api.updates_queued:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def handle(self, line: str) -> bool:
        """Act on one typed line; False to quit."""
        command, _, arg = line.strip().partition(" ")
        say = self.terminal.say
        popups = len(self.api.callback_answers)
        if not line.startswith(":"):
            if line.strip():
                self.api.user_sends(self.user, line)
        elif command == ":quit":
            return False
        elif command == ":help":
            say(HELP)
        elif command == ":as" and (user_id := parse_id(arg)):
            self.terminal.user_id = user_id
            say(f"[you are now Telegram user {self.user.id}]")
        elif command == ":admin":
            self.terminal.user_id = min(self.settings.telegram.admins)
            say(f"[you are now the admin, Telegram user {self.user.id}]")
        elif command == ":press" and (number := parse_id(arg)) is not None:
            self._press(number)
        elif command == ":chain":
            await chain_command(arg, self.app, self.chain, say)
        else:
            say("[unknown shell command: type :help]")
        await self.settle()
        for answer in self.api.callback_answers[popups:]:  # a pressed button's pop-up notice
            if answer.get("text"):
                say(f"[pop-up] {answer['text']}")
        return True

    def _press(self, number: int) -> None:
        chat = self.api.sent_to(self.user.id)
        message = next((m for m in reversed(chat) if m.buttons and not m.deleted), None)
        if message is None or not 1 <= number <= len(message.buttons):
            self.terminal.say(f"[no button {number} on the latest message with buttons]")
            return
        button = message.buttons[number - 1]
        if button.copy_text is not None:  # Telegram copies it to the clipboard, sends nothing
            self.terminal.say(f"[copied {button.copy_text}]")
            return
        if button.callback_data is None:
            self.terminal.say(f"[button {number} opens {button.url}]")
            return
        self.terminal.say(f"[pressed {button.text}]")
        self.api.user_presses(self.user, message, button.callback_data)


def _read_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Thread: piped stdin lines into ``queue``, then None at end of input.

    A daemon thread rather than run_in_executor: a read blocked on the keyboard must not keep
    the process alive after :quit or Ctrl-C.
    """
    for line in sys.stdin:
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are leaving anyway
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(queue.put_nowait, None)


def _read_keyboard(
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[str | None],
    terminal: Terminal,
    prompt: Callable[[], str],
    ready: threading.Event,
) -> None:
    """Thread: lines typed at a terminal, read with readline (line editing, history).

    One line at a time: the next prompt appears once the bot has answered the last line.
    Only commands (``/…``, ``:…``) stay in the history; answers (emails, passwords, codes)
    are taken out at once, so the arrow keys never bring a password back.
    """
    import readline  # gives input() line editing and history

    terminal.typed_so_far = readline.get_line_buffer
    while True:
        ready.wait()
        ready.clear()
        shown = prompt()
        terminal.prompt_waiting = shown
        try:
            line: str | None = input(shown)
        except (EOFError, KeyboardInterrupt):
            line = None
        finally:
            terminal.prompt_waiting = None
        if line is not None and not line.lstrip().startswith(("/", ":")):
            length = readline.get_current_history_length()
            if length:
                readline.remove_history_item(length - 1)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, line)
        if line is None:
            return


async def _session(
    settings: Settings, terminal: Terminal, api: FakeBotAPI, chain: SimulatedTronscan | None
) -> None:
    shell = Shell(settings, terminal, api, chain)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    for stop_signal in (signal.SIGHUP, signal.SIGTERM):  # closing the terminal, or `kill`
        loop.add_signal_handler(stop_signal, lines.put_nowait, None)
    try:
        await shell.start()
        interactive = sys.stdin.isatty() and terminal.out.isatty()
        ready = threading.Event()
        if interactive:
            reader = threading.Thread(
                target=_read_keyboard,
                args=(loop, lines, terminal, lambda: shell.prompt, ready),
                daemon=True,
            )
        else:
            reader = threading.Thread(target=_read_lines, args=(loop, lines), daemon=True)
        reader.start()
        while True:
            ready.set()
            line = await lines.get()
            if line is None:
                break
            if not interactive:  # echo piped input, so the output reads as a conversation
                terminal.say(shell.prompt + line)
            if not await shell.handle(line):
                break
    finally:
        for stop_signal in (signal.SIGHUP, signal.SIGTERM):
            loop.remove_signal_handler(stop_signal)
        await shell.stop()


def log_file_for(workdir: Path, db: Path | None) -> Path:
    """Where the shell's log lines go: beside a kept database, else in the throwaway folder."""
    return (db.resolve().parent if db is not None else workdir) / LOG_FILE_NAME


async def _check_key(settings: Settings) -> None:
    checked = await open_checked(settings, write=True)
    await checked.database.close()


def run_shell(
    settings: Settings,
    *,
    user_id: int | None = None,
    admin: bool = False,
    db: Path | None = None,
    real_tronscan: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """Run an interactive session until :quit, end of input or SIGHUP/SIGTERM; the exit code.

    The throwaway folder (database, pictures, log) is removed on every one of those."""
    if user_id is not None and user_id <= 0:
        raise ConfigError([f"--as {user_id}: a Telegram user id is a positive number"])
    with tempfile.TemporaryDirectory(prefix="verzek-shell-") as tmp:
        workdir = Path(tmp)
        settings, notes = prepare_settings(
            settings, workdir=workdir, db=db, real_tronscan=real_tronscan
        )
        encryption(settings)  # a malformed key stops here, in one line
        assert settings.encryption.master_key is not None
        assert settings.telegram.admin_chat_id is not None
        if db is not None:  # a kept database must belong to this key (a throwaway one never)
            asyncio.run(_check_key(settings))
        log_file = log_file_for(workdir, db)
        configure_logging("INFO", [settings.encryption.master_key.get()], log_file=log_file)
        logging.captureWarnings(True)  # Python warnings too go to the file, not over the prompt
        api = FakeBotAPI()
        terminal = Terminal(api, out, workdir, settings.telegram.admin_chat_id)
        if admin:
            terminal.user_id = min(settings.telegram.admins)
        elif user_id is not None:
            terminal.user_id = user_id
        api.listeners.append(terminal.on_event)
        terminal.say("Verzek Guard shell: the real bot, a fake Telegram, no network.")
        for note in notes:
            terminal.say(note)
        terminal.say(f"Log: {log_file} (the bot's log lines go there, not over this prompt).")
        terminal.say(f"You are Telegram user {terminal.user_id}. Try /start; :help for more.")
        chain = (
            None
            if real_tronscan
            else SimulatedTronscan(SystemClock(), usdt_contract=settings.payments.usdt_contract)
        )
        asyncio.run(_session(settings, terminal, api, chain))
    return 0
