"""Value types and checks for configuration: secrets that never show themselves, base URLs.

Kept apart from :mod:`core.config` (which declares the keys) so that module stays readable.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class Secret:
    """A string that never shows itself in ``repr()``/``str()``; call :meth:`get` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the wrapped value (only where it is really needed)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretUrl(Secret):
    """A URL that may carry credentials (``redis://:pw@host/0``): ``repr()`` shows where it
    points with the user and password masked; :meth:`get` gives the real URL to connect."""

    __slots__ = ()

    def password(self) -> str | None:
        """The password in the URL, if any (for the log filter's list of secrets)."""
        try:
            return urlsplit(self.get()).password or None
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"SecretUrl({_without_credentials(self.get())!r})"

    __str__ = __repr__


def _without_credentials(url: str) -> str:
    """``scheme://user:pw@host/0`` → ``scheme://***@host/0``: everything up to the last ``@``
    is masked, so a password with a stray ``/`` or ``@`` in it is hidden too."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "**********"
    return f"{scheme}://***@{rest.rpartition('@')[2]}" if "@" in rest else url


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def remote_base_url(text: str) -> str:
    """``text`` when it is fit as a remote service's base URL, else ValueError with a reason.

    https, or plain http only to a loopback host (a local test server), so tokens and API
    keys never cross a network in clear text; no user info, so ``http://127.0.0.1@evil``
    cannot pass for loopback.
    """
    if not text.startswith(("http://", "https://")):
        raise ValueError("must start with https://")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a malformed port raises here
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if not host or "@" in parts.netloc or "\\" in text or any(ch.isspace() for ch in text):
        raise ValueError("is not a valid URL (a host, no user name, password or spaces)")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(
            "must use https:// (plain http:// is allowed only for a loopback host: "
            "127.0.0.1, ::1 or localhost)"
        )
    return text
