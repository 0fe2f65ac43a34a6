"""TRON address checks (base58check), the one piece of TRON encoding we need."""

from __future__ import annotations

import hashlib
import re

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_HEX_ADDRESS = re.compile(r"41[0-9a-fA-F]{40}")
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


def _b58encode(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(_ALPHABET[digit])
    leading_zeros = len(raw) - len(raw.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(digits))


def normalise_tron_address(text: str) -> str | None:
    """A TRON address in base58check (``T…``), from either form the chain's APIs use.

    A valid base58check address comes back unchanged; a hex one (``41`` + 20-byte body, 42 hex
    digits, as some TronScan and TronGrid fields give it) is encoded to base58check. Anything
    else (a bad checksum, another prefix or length, stray characters) is None: never guessed.
    """
    if is_valid_tron_address(text):
        return text
    if not _HEX_ADDRESS.fullmatch(text):
        return None
    raw = bytes.fromhex(text)
    checksum = hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    return _b58encode(raw + checksum)
