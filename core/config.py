"""Configuration: a TOML file (stdlib ``tomllib``) overridden by environment variables.

Every key of SPEC §2 is declared once in ``_KEYS`` with its parser and default. Loading collects
every problem before failing, so a person fixing a config sees all bad values at once, one line
each. Secrets are wrapped in :class:`Secret` so ``repr()`` of the settings never shows them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.audit.routing_rules import AlertRouting, take_routing
from core.backups.offsite import parse_offsite
from core.backups.settings import BackupSettings as BackupSettings  # re-exported
from core.bech32 import age_recipients
from core.config_parsers import admins_value as _admins
from core.config_parsers import bool_value as _bool
from core.config_parsers import database_url_value as _database_url
from core.config_parsers import int_value as _int
from core.config_parsers import path_value as _path
from core.config_parsers import percent_value as _percent
from core.config_parsers import rate_storage_value as _rate_storage
from core.config_parsers import rate_value as _rate
from core.config_parsers import second_source_value as _second_source
from core.config_parsers import secret_value as _secret
from core.config_parsers import text_value as _text
from core.config_parsers import tron_address_value as _tron_address
from core.config_parsers import url_value as _url
from core.config_parsers import usdt_value as _usdt
from core.config_values import Secret as Secret  # re-exported: settings hold them
from core.config_values import SecretUrl as SecretUrl
from core.errors import ConfigError
from core.money import MICRO
from core.webhook_config import POLLING, webhook_problems
from core.webhook_config import listen_value as _listen
from core.webhook_config import mode_value as _mode
from core.webhook_config import webhook_secret_value as _webhook_secret
from core.webhook_config import webhook_url_value as _webhook_url

DEFAULT_CONFIG_PATH = Path("config.toml")
TELEGRAM_DEFAULT_BASE_URL = "https://api.telegram.org/bot"
USDT_CONTRACT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TIERS = ("free", "basic", "pro")


@dataclass(frozen=True)
class TelegramSettings:
    token: Secret | None = None
    base_url: str = TELEGRAM_DEFAULT_BASE_URL
    admin_chat_id: int | None = None
    admins: frozenset[int] = frozenset()
    # The whole bot's outgoing messages per second (Telegram's 30); 0 = no cap (a local Bot
    # API server, paid broadcasts). Groups keep Telegram's 20 a minute either way.
    max_messages_per_second: int = 30
    mode: str = POLLING  # or "webhook" (core/webhook_config.py)
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: Secret | None = None
    webhook_remove_on_stop: bool = True  # false when several instances share the URL


@dataclass(frozen=True)
class DatabaseSettings:
    path: Path = Path("data/verzek.db")
    # PostgreSQL (several instances on one database); None: the SQLite file at ``path``.
    url: SecretUrl | None = None

    def place(self) -> str:
        """Where the data is, for logs and messages: the masked URL or the file's full path."""
        return repr(self.url) if self.url is not None else str(self.path.resolve())


@dataclass(frozen=True)
class SecuritySettings:
    session_hours: int = 12
    idle_minutes: int = 30
    captcha: bool = True
    withdrawal_cooldown_hours: int = 24  # after a 2FA, password or email change
    accounts_per_telegram_user: int = 3  # accounts one Telegram user may register


@dataclass(frozen=True)
class RateLimitSettings:
    auth: str = "5/minute"
    default: str = "100/minute"
    tiers: Mapping[str, str] = field(
        default_factory=lambda: {"free": "100/minute", "basic": "200/minute", "pro": "500/minute"}
    )
    # A Redis URL may carry a password.
    storage: SecretUrl = field(default_factory=lambda: SecretUrl("memory://"))


# Open invoices' amounts are whole steps apart (29.00, 29.02, ...); a tolerance of half a step
# or more would let one transfer match two invoices, so load_settings refuses it.
AMOUNT_STEP_MICRO = 20_000


def tolerance_problem(tolerance_micro: int) -> str | None:
    """Why ``tolerance_micro`` cannot be the amount tolerance (None when it can)."""
    if 2 * tolerance_micro < AMOUNT_STEP_MICRO:
        return None
    step = Decimal(AMOUNT_STEP_MICRO) / MICRO
    return (
        f"payments.amount_tolerance {Decimal(tolerance_micro) / MICRO} USDT is too large: it "
        f"must be less than {step / 2} USDT (half the {step} USDT step between open invoices' "
        "amounts), or one transfer could pay two invoices"
    )


@dataclass(frozen=True)
class PaymentSettings:
    receive_address: str | None = None
    usdt_contract: str = USDT_CONTRACT
    min_confirmations: int = 19
    amount_tolerance_micro: int = 5_000  # strictly under half of AMOUNT_STEP_MICRO
    invoice_hours: int = 24
    watch_seconds: int = 30  # how often the receive address's incoming transfers are read
    second_source: str | None = None  # "trongrid": both sources must agree before approval
    trongrid_url: str = "https://api.trongrid.io"
    trongrid_api_key: Secret | None = None  # none: no key header at all (tronpy's not used)
    # plans.stars_usdt_rate: micro-USDT one Telegram Star counts for in referral commission;
    # None (unset): Stars payments earn the referrer nothing (SPEC §12)
    stars_usdt_rate_micro: int | None = None


@dataclass(frozen=True)
class TronscanSettings:
    base_url: str = "https://apilist.tronscanapi.com"
    api_key: Secret | None = None


@dataclass(frozen=True)
class Plan:
    name: str
    price_micro: int
    days: int
    tier: str
    price_stars: int = 0  # Telegram Stars a 30-day subscription costs; 0: not sold for Stars


def _default_plans() -> Mapping[str, Plan]:
    return {
        "basic": Plan("basic", 29 * MICRO, 30, "basic", 1500),
        "pro": Plan("pro", 79 * MICRO, 30, "pro", 4000),
    }


@dataclass(frozen=True)
class ReferralSettings:
    commission_percent: Decimal = Decimal(10)


@dataclass(frozen=True)
class AlertSettings:
    failed_logins: int = 5
    failed_logins_minutes: int = 10
    failed_2fa: int = 3
    failed_2fa_minutes: int = 5
    api_key_changes: int = 3
    api_key_changes_minutes: int = 10
    large_withdrawal_micro: int = 1000 * MICRO
    dedupe_minutes: int = 10
    anchor_chat_id: int | None = None  # where audit anchors go (default: the admin chat)
    routes: AlertRouting = field(default_factory=AlertRouting)  # alerts.routing/topics.*


@dataclass(frozen=True)
class TextsSettings:
    terms_file: Path | None = None  # /terms shows this file's text (plain) instead of ours
    privacy_file: Path | None = None  # likewise for /privacy
    paysupport_file: Path | None = None  # likewise for /paysupport's help (it still asks)


@dataclass(frozen=True)
class EncryptionSettings:
    master_key: Secret | None = None
    old_keys: tuple[Secret, ...] = ()


@dataclass(frozen=True)
class Settings:
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    backups: BackupSettings = field(default_factory=BackupSettings)
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    tronscan: TronscanSettings = field(default_factory=TronscanSettings)
    plans: Mapping[str, Plan] = field(default_factory=_default_plans)
    referrals: ReferralSettings = field(default_factory=ReferralSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    texts: TextsSettings = field(default_factory=TextsSettings)
    encryption: EncryptionSettings = field(default_factory=EncryptionSettings)

    def require_for_run(self) -> None:
        """Raise :class:`ConfigError` listing what ``verzek run`` cannot start without."""
        problems = []
        if self.telegram.token is None:
            problems.append(
                "telegram.token is required to run the bot: set TELEGRAM_BOT_TOKEN or "
                "telegram.token in the config file (get one from @BotFather)"
            )
        if self.telegram.admin_chat_id is None:
            problems.append(
                "telegram.admin_chat_id is required (where alerts go): set ADMIN_CHAT_ID or "
                "telegram.admin_chat_id in the config file"
            )
        t = self.telegram
        problems += webhook_problems(t.mode, t.webhook_url, t.webhook_secret)
        if problems:
            raise ConfigError(problems)


# dotted key -> (environment variable or None, parser)
_KEYS: dict[str, tuple[str | None, Callable[[Any], Any]]] = {
    "telegram.token": ("TELEGRAM_BOT_TOKEN", _secret),
    "telegram.base_url": ("TELEGRAM_BASE_URL", _url),
    "telegram.admin_chat_id": ("ADMIN_CHAT_ID", _int()),
    "telegram.admins": ("VERZEK_ADMINS", _admins),
    "telegram.max_messages_per_second": (None, _int(0, 1000)),
    "telegram.mode": (None, _mode),
    "telegram.webhook_url": (None, _webhook_url),
    "telegram.webhook_listen": (None, _listen),
    "telegram.webhook_port": (None, _int(1, 65535)),
    "telegram.webhook_secret": ("TELEGRAM_WEBHOOK_SECRET", _webhook_secret),
    "telegram.webhook_remove_on_stop": (None, _bool),
    "database.path": ("VERZEK_DB", _path),
    "database.url": ("VERZEK_DATABASE_URL", _database_url),
    "security.session_hours": (None, _int(1, 24 * 30)),
    "security.idle_minutes": (None, _int(1, 24 * 60)),
    "security.captcha": (None, _bool),
    "security.withdrawal_cooldown_hours": (None, _int(0, 24 * 30)),
    "security.accounts_per_telegram_user": (None, _int(1, 100)),
    "rate_limits.auth": (None, _rate),
    "rate_limits.default": (None, _rate),
    "rate_limits.storage": (None, _rate_storage),
    "backups.dir": (None, _path),
    "backups.hour_utc": (None, _int(0, 23)),
    "backups.retention_days": (None, _int(1)),
    "backups.age_recipients": (None, age_recipients),
    "backups.drill_days": (None, _int(0, 366)),
    "backups.offsite": (None, parse_offsite),
    "backups.s3_endpoint_url": (None, _url),
    "payments.receive_address": (None, _tron_address),
    "payments.usdt_contract": (None, _tron_address),
    "payments.min_confirmations": (None, _int(1)),
    "payments.amount_tolerance": (None, _usdt),
    "payments.invoice_hours": (None, _int(1, 24 * 14)),
    "payments.watch_seconds": (None, _int(10, 3600)),
    "payments.second_source": (None, _second_source),
    "payments.trongrid_url": (None, _url),
    "payments.trongrid_api_key": ("TRONGRID_API_KEY", _secret),
    "tronscan.base_url": (None, _url),
    "tronscan.api_key": ("TRONSCAN_API_KEY", _secret),
    "referrals.commission_percent": (None, _percent),
    "alerts.failed_logins": (None, _int(1)),
    "alerts.failed_logins_minutes": (None, _int(1)),
    "alerts.failed_2fa": (None, _int(1)),
    "alerts.failed_2fa_minutes": (None, _int(1)),
    "alerts.api_key_changes": (None, _int(1)),
    "alerts.api_key_changes_minutes": (None, _int(1)),
    "alerts.large_withdrawal_usdt": (None, _usdt),
    "alerts.dedupe_minutes": (None, _int(1)),
    "alerts.anchor_chat_id": (None, _int()),
    "texts.terms_file": (None, _path),
    "texts.privacy_file": (None, _path),
    "texts.paysupport_file": (None, _path),
}
_PLAN_KEYS: dict[str, Callable[[Any], Any]] = {
    "price_usdt": _usdt,
    "days": _int(1, 3660),
    "tier": _text,
}
_PLAN_STARS = "price_stars"  # optional: a plan without it is not sold for Stars
# Paths resolved against the config file's folder when relative (environment values are not:
# they were typed in a shell, relative to its current folder).
_RELATIVE_TO_CONFIG: dict[str, Path | None] = {
    "database.path": DatabaseSettings.path,
    "backups.dir": BackupSettings.dir,
    "texts.terms_file": None,
    "texts.privacy_file": None,
    "texts.paysupport_file": None,
}
# Config keys whose Settings field has another name (unit made explicit).
_FIELD_NAMES = {
    "payments.amount_tolerance": "amount_tolerance_micro",
    "alerts.large_withdrawal_usdt": "large_withdrawal_micro",
}
_SECTIONS: dict[str, type] = {
    "telegram": TelegramSettings,
    "database": DatabaseSettings,
    "security": SecuritySettings,
    "rate_limits": RateLimitSettings,
    "backups": BackupSettings,
    "payments": PaymentSettings,
    "tronscan": TronscanSettings,
    "referrals": ReferralSettings,
    "alerts": AlertSettings,
    "texts": TextsSettings,
}


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in _KEYS:
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from ``path`` (or ``config.toml`` if present) and ``env``.

    Raises :class:`ConfigError` with one line per bad value; never a traceback's worth of text.
    """
    env = dict(env) if env is not None else {}
    problems: list[str] = []
    file_values: dict[str, Any] = {}
    source = "defaults"
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    if path is not None:
        source = str(path)
        try:
            with path.open("rb") as handle:
                file_values = _flatten(tomllib.load(handle))
        except FileNotFoundError:
            raise ConfigError([f"{path}: config file not found"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None

    values: dict[str, Any] = {}
    tier_limits: dict[str, str] = {}
    plans_raw: dict[str, dict[str, Any]] = {}
    problems = take_routing(file_values, values, source)  # alerts.routing.*, alerts.topics.*
    for dotted, raw in file_values.items():
        where = f"{source}: {dotted}"
        if dotted.startswith("rate_limits.tiers."):
            try:
                tier_limits[dotted.removeprefix("rate_limits.tiers.")] = _rate(raw)
            except ValueError as exc:
                problems.append(f"{where} {exc}")
        elif dotted == "plans.stars_usdt_rate":
            try:
                values["payments.stars_usdt_rate_micro"] = _usdt(raw)
            except ValueError as exc:
                problems.append(f"{where} {exc}")
        elif dotted.startswith("plans."):
            parts = dotted.split(".")
            if len(parts) != 3 or parts[2] not in (*_PLAN_KEYS, _PLAN_STARS):
                problems.append(f"{where}: unknown key (plans take price_usdt, days, tier)")
                continue
            plans_raw.setdefault(parts[1], {})[parts[2]] = raw
        elif dotted not in _KEYS:
            problems.append(f"{where}: unknown key")
        else:
            try:
                values[dotted] = _KEYS[dotted][1](raw)
            except ValueError as exc:
                problems.append(f"{where} {exc}")

    if path is not None:
        # Relative paths of a config file (and the defaults it leaves alone) are relative to
        # the file's folder, not to wherever the command was started.
        base = path.expanduser().resolve().parent
        for dotted, default in _RELATIVE_TO_CONFIG.items():
            given = values.get(dotted, default)
            if isinstance(given, Path) and not given.is_absolute():
                values[dotted] = base / given
    for dotted, (env_name, parser) in _KEYS.items():
        if env_name and env.get(env_name, "").strip():
            try:
                values[dotted] = parser(env[env_name])
            except ValueError as exc:
                problems.append(f"environment {env_name} ({dotted}) {exc}")

    encryption = EncryptionSettings(
        master_key=Secret(env["ENCRYPTION_MASTER_KEY"].strip())
        if env.get("ENCRYPTION_MASTER_KEY", "").strip()
        else None,
        old_keys=tuple(
            Secret(item.strip())
            for item in env.get("ENCRYPTION_OLD_KEYS", "").split(",")
            if item.strip()
        ),
    )

    rate_limits_tiers = dict(RateLimitSettings().tiers)
    rate_limits_tiers.update(tier_limits)
    for tier in tier_limits:
        if tier not in TIERS:
            problems.append(
                f"{source}: rate_limits.tiers.{tier}: unknown tier (known: {', '.join(TIERS)})"
            )

    plans: dict[str, Plan] = dict(_default_plans()) if not plans_raw else {}
    for name, raw_plan in plans_raw.items():
        parsed: dict[str, Any] = {}
        for key, parser in _PLAN_KEYS.items():
            if key not in raw_plan:
                problems.append(f"{source}: plans.{name}.{key} is missing")
                continue
            try:
                parsed[key] = parser(raw_plan[key])
            except ValueError as exc:
                problems.append(f"{source}: plans.{name}.{key} {exc}")
        if len(parsed) == len(_PLAN_KEYS):
            if parsed["tier"] not in TIERS:
                problems.append(f"{source}: plans.{name}.tier must be one of {', '.join(TIERS)}")
            elif parsed["price_usdt"] <= 0:
                problems.append(f"{source}: plans.{name}.price_usdt must be more than 0")
            else:
                known = _default_plans().get(name)
                stars = raw_plan.get(_PLAN_STARS, known.price_stars if known else 0)
                if not isinstance(stars, int) or isinstance(stars, bool) or not 0 <= stars <= 10000:
                    problems.append(f"{source}: plans.{name}.price_stars must be 0..10000")
                    stars = 0
                plans[name] = Plan(
                    name, parsed["price_usdt"], parsed["days"], parsed["tier"], stars
                )
    tolerance = values.get("payments.amount_tolerance", PaymentSettings.amount_tolerance_micro)
    if (too_large := tolerance_problem(tolerance)) is not None:
        problems.append(f"{source}: {too_large}")

    if problems:
        raise ConfigError(problems)

    sections: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    for dotted, value in values.items():
        section, key = dotted.split(".", 1)
        sections[section][_FIELD_NAMES.get(dotted, key)] = value
    sections["rate_limits"]["tiers"] = rate_limits_tiers
    built = {name: cls(**sections[name]) for name, cls in _SECTIONS.items()}
    return Settings(**built, plans=plans, encryption=encryption)
