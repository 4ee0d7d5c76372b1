"""Minimal ABI helpers for the hot path: call data and 32-byte words as hex, no web3 objects."""

from __future__ import annotations

from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak

WORD = 64  # hex characters in one 32-byte ABI word


def selector(signature: str) -> str:
    """The 4-byte function selector of a canonical signature, as 0x-prefixed hex."""
    return "0x" + function_signature_to_4byte_selector(signature).hex()


def topic(signature: str) -> str:
    """The topic0 of a canonical event signature, as 0x-prefixed lowercase hex."""
    return "0x" + keccak(text=signature).hex()


def encode_call(sel: str, *args: str | int) -> str:
    """Call data for a selector and static arguments (addresses as hex strings, uints as ints)."""
    parts = [sel]
    for arg in args:
        if isinstance(arg, str):
            parts.append(arg.removeprefix("0x").lower().rjust(WORD, "0"))
        else:
            parts.append(f"{arg:064x}")
    return "".join(parts)


def word(data: str, index: int) -> int:
    """The index-th 32-byte word of 0x-prefixed hex data as an unsigned int (0 past the end)."""
    start = 2 + index * WORD
    chunk = data[start:start + WORD]
    return int(chunk, 16) if chunk else 0


def word_address(data: str, index: int) -> str:
    """The index-th word of 0x-prefixed hex data read as a lowercase address."""
    start = 2 + index * WORD
    return "0x" + data[start + 24:start + WORD].lower()


def address_array(data: str) -> list[str]:
    """Decode the return data of a function returning a single `address[]`."""
    if len(data) < 2 + 2 * WORD:
        return []
    offset = word(data, 0) // 32
    count = word(data, offset)
    return [word_address(data, offset + 1 + i) for i in range(count)]


def string_result(data: str) -> str | None:
    """Decode a `string` (or legacy `bytes32`) return value; None when it cannot be read."""
    if len(data) < 2 + WORD:
        return None
    if len(data) == 2 + WORD:
        raw = bytes.fromhex(data[2:]).rstrip(b"\0")
    else:
        offset = word(data, 0) // 32
        length = word(data, offset)
        start = 2 + (offset + 1) * WORD
        raw = bytes.fromhex(data[start:start + 2 * length])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() and text else None
