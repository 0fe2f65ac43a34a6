"""English words for every core refusal reason, gathered from the feature modules."""

from __future__ import annotations

from bot.texts.en.accounts import ACCOUNT_REFUSALS
from bot.texts.en.admin import ADMIN_REFUSALS
from bot.texts.en.apikeys import APIKEY_REFUSALS
from bot.texts.en.audit import AUDIT_REFUSALS
from bot.texts.en.backups import BACKUP_REFUSALS
from bot.texts.en.care import CARE_REFUSALS
from bot.texts.en.info import INFO_REFUSALS
from bot.texts.en.links import LINK_REFUSALS
from bot.texts.en.payments import PAYMENT_REFUSALS
from bot.texts.en.payments_screen import PAYMENT_SCREEN_REFUSALS
from bot.texts.en.safety import SAFETY_REFUSALS
from bot.texts.en.sessions import SESSION_REFUSALS
from bot.texts.en.stars import STARS_REFUSALS
from bot.texts.en.twofactor import TWOFACTOR_REFUSALS
from bot.texts.en.wallet import WITHDRAWAL_REFUSALS
from bot.texts.template import Refusals

_PARTS: tuple[Refusals, ...] = (
    ACCOUNT_REFUSALS,
    ADMIN_REFUSALS,
    APIKEY_REFUSALS,
    AUDIT_REFUSALS,
    BACKUP_REFUSALS,
    CARE_REFUSALS,
    INFO_REFUSALS,
    LINK_REFUSALS,
    SAFETY_REFUSALS,
    SESSION_REFUSALS,
    STARS_REFUSALS,
    TWOFACTOR_REFUSALS,
    PAYMENT_REFUSALS,
    PAYMENT_SCREEN_REFUSALS,
    WITHDRAWAL_REFUSALS,
)

REFUSALS: Refusals = {}
for _part in _PARTS:
    assert not REFUSALS.keys() & _part.keys(), "a reason worded twice"
    REFUSALS.update(_part)
