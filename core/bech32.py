"""Bech32 (BIP 173), the text form of age keys: ``age1…`` recipients and
``AGE-SECRET-KEY-1…`` identities (https://age-encryption.org/v1, "X25519 recipient type").

Pure: config validates ``backups.age_recipients`` with it at start-up, and the age adapter
spells the identity derived from the master key with it. age keys are longer than BIP 173's
90-character limit, which age does not apply, so neither does this module.
"""

from __future__ import annotations

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for index, generator in enumerate(_GENERATOR):
            if (top >> index) & 1:
                check ^= generator
    return check


def _expand(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _regroup(data: list[int] | bytes, source: int, target: int, *, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    top = (1 << target) - 1
    for value in data:
        acc = (acc << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((acc >> bits) & top)
    if pad and bits:
        out.append((acc << (target - bits)) & top)
    elif not pad and (bits >= source or (acc << (target - bits)) & top):
        raise ValueError("bad padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """``hrp`` + ``1`` + ``data`` in bech32 with its checksum (lower case)."""
    words = _regroup(data, 8, 5, pad=True)
    polymod = _polymod([*_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - index)) & 31 for index in range(6)]
    return hrp + "1" + "".join(_CHARSET[word] for word in [*words, *checksum])


def decode(text: str) -> tuple[str, bytes]:
    """``(hrp, data)`` of a bech32 string; ``ValueError`` for a bad character, mixed case, a
    wrong checksum or bad padding."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed case")
    text = text.lower()
    hrp, separator, rest = text.rpartition("1")
    if not separator or not hrp or len(rest) < 6:
        raise ValueError("no separator or checksum")
    if any(not 33 <= ord(char) <= 126 for char in hrp):
        raise ValueError("bad prefix")
    try:
        words = [_CHARSET.index(char) for char in rest]
    except ValueError:
        raise ValueError("bad character") from None
    if _polymod([*_expand(hrp), *words]) != 1:
        raise ValueError("bad checksum")
    return hrp, bytes(_regroup(words[:-6], 5, 8, pad=False))


def is_age_recipient(text: str) -> bool:
    """True for an X25519 age recipient: lower-case ``age1…`` carrying 32 bytes."""
    try:
        hrp, data = decode(text)
    except ValueError:
        return False
    return text == text.lower() and hrp == "age" and len(data) == 32


def age_recipients(raw: object) -> tuple[str, ...]:
    """Config's ``backups.age_recipients``: a list of age X25519 recipients; ``ValueError``
    saying which entry is not one (the start-up refuses it)."""
    if not isinstance(raw, list | tuple):
        raise ValueError('must be a list of age recipients, e.g. ["age1…"]')
    out = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, str) or not is_age_recipient(item.strip()):
            raise ValueError(
                f"entry {index} ({repr(item)[:20]}) is not an age X25519 recipient (age1… in "
                "lower case, as `age-keygen -y` prints)"
            )
        out.append(item.strip())
    return tuple(out)
