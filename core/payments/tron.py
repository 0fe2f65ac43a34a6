"""TRON address checks (base58check), the one piece of TRON encoding we need."""

from __future__ import annotations

import hashlib

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: index for index, char in enumerate(_ALPHABET)}


def _b58decode(text: str) -> bytes | None:
    number = 0
    for char in text:
        digit = _INDEX.get(char)
        if digit is None:
            return None
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading_zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * leading_zeros + body


def is_valid_tron_address(address: str) -> bool:
    """True for a mainnet TRON address: 34 chars, ``T``, 0x41 prefix, valid 4-byte checksum."""
    if len(address) != 34 or not address.startswith("T"):
        return False
    raw = _b58decode(address)
    if raw is None or len(raw) != 25 or raw[0] != 0x41:
        return False
    checksum = hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4]
    return checksum == raw[21:]
