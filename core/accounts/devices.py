"""What /sessions shows of a session and how its buttons name one (SPEC §11).

A listed session is named on its button by a short *reference*: a keyed digest of the
presser's own session (id and start) and the listed session's id, keyed with the account's
security stamp. It is opaque (no session id, no token), and it only ever matches for the
session that was looking at the list: a button forwarded to or copied by someone else, one
left over from before a logout or a restore (a new session, a new stamp), or one edited by
hand matches nothing, so nothing can be ended with it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

REFERENCE_LENGTH = 12  # hex characters: 48 bits, among at most a handful of live sessions


@dataclass(frozen=True)
class DeviceSession:
    """One live session of an account, as its owner may see it."""

    reference: str  # what its "End" button carries
    telegram_account: str  # masked: never the full id of another device
    started_at: datetime
    last_seen_at: datetime
    this_device: bool


def mask_telegram_id(telegram_user_id: int) -> str:
    """``123456789`` → ``1…89``: enough for the owner to tell their devices apart, not
    enough to find or impersonate one (short ids keep only their last digit)."""
    digits = str(abs(telegram_user_id))
    if len(digits) <= 3:
        return "…" + digits[-1:]
    return f"{digits[0]}…{digits[-2:]}"


def session_reference(stamp: str, viewer_id: int, viewer_started: datetime, listed_id: int) -> str:
    """The opaque name of session ``listed_id`` on buttons shown to session ``viewer_id``."""
    message = f"{viewer_id}|{viewer_started.isoformat()}|{listed_id}".encode()
    digest = hmac.new(b"sessions:" + stamp.encode(), message, hashlib.sha256).hexdigest()
    return digest[:REFERENCE_LENGTH]


def same_reference(a: str, b: str) -> bool:
    """Compare two references in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
