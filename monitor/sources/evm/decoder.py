"""Event specs parsed from their Solidity declarations and a fast log decoder (hex slicing, no
web3 per-log decoding).

web3's `contract.events.X().process_log` costs ~600 µs a log; slicing the raw JSON-RPC hex
and converting words with int(..., 16) costs a few µs, which is what lets a backfill keep up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from monitor.sources.evm.abi import WORD, topic

_HALF = 1 << 255
_FULL = 1 << 256


class LogDecodeError(ValueError):
    """A log whose topics or data do not fit the event it claims to be."""


def _address(chunk: str) -> str:
    """An ABI word as a lowercase address."""
    return "0x" + chunk[24:].lower()


def _uint(chunk: str) -> int:
    """An ABI word as an unsigned integer."""
    return int(chunk, 16)


def _int(chunk: str) -> int:
    """An ABI word as a two's complement signed integer."""
    value = int(chunk, 16)
    return value - _FULL if value >= _HALF else value


def _bool(chunk: str) -> bool:
    """An ABI word as a bool."""
    return int(chunk, 16) != 0


def _bytes32(chunk: str) -> str:
    """An ABI word as bytes32 in lowercase 0x-prefixed hex (e.g. a Morpho Blue market id)."""
    return "0x" + chunk.lower()


_CONVERTERS: dict[str, Callable[[str], Any]] = {"address": _address, "bool": _bool,
                                                "bytes32": _bytes32}


def _converter(abi_type: str) -> Callable[[str], Any] | None:
    """The word converter of a static ABI type; None for dynamic types (not decoded)."""
    if abi_type in _CONVERTERS:
        return _CONVERTERS[abi_type]
    if abi_type.startswith("uint"):
        return _uint
    if abi_type.startswith("int"):
        return _int
    return None


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event: its topic0 and where each decoded argument sits (topic or data word)."""

    name: str
    signature: str
    topic0: str
    # (argument name, True if indexed, topic number or data word index, converter)
    fields: tuple[tuple[str, bool, int, Callable[[str], Any]], ...]
    topics: int
    data_words: int


_PARAM = re.compile(r"^\s*(\w+|\(.*\))\s+(indexed\s+)?(\w+)\s*$")


def _split(params: str) -> list[str]:
    """Parameters at the top level of a parameter list (commas inside a tuple are not splits)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(params):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(params[start:i])
            start = i + 1
    parts.append(params[start:])
    return [part for part in parts if part.strip()]


def _static_tuple(inner: str, declaration: str) -> tuple[str, list[tuple[str, str]]]:
    """A tuple parameter's canonical type and its (name, type) members, which must be static
    words (a non-indexed static tuple is encoded as its members' words, in place)."""
    members = []
    for member in _split(inner):
        match = _PARAM.match(member)
        if match is None or match.group(2) or _converter(match.group(1)) is None:
            raise ValueError(f"cannot parse tuple member {member!r} in {declaration!r}")
        members.append((match.group(3), match.group(1)))
    return f"({','.join(t for _, t in members)})", members


def event_spec(declaration: str) -> EventSpec:
    """Parse 'Name(type [indexed] name, ...)' into an EventSpec (canonical signature, topic0);
    a static tuple '(type name, ...) [indexed] name' decodes to its members' names."""
    name, _, rest = declaration.partition("(")
    fields: list[tuple[str, bool, int, Callable[[str], Any]]] = []
    types: list[str] = []
    n_topics, n_words = 1, 0
    for param in _split(rest[:rest.rindex(")")]):
        match = _PARAM.match(param)
        if match is None:
            raise ValueError(f"cannot parse event parameter {param!r} in {declaration!r}")
        abi_type, indexed, arg = match.group(1), bool(match.group(2)), match.group(3)
        members = [(arg, abi_type)]
        if abi_type.startswith("("):
            abi_type, members = _static_tuple(abi_type[1:-1], declaration)
        types.append(abi_type)
        if indexed:  # an indexed tuple is a hash: counted, not decoded
            conv = _converter(abi_type)
            if conv is not None:
                fields.append((arg, True, n_topics, conv))
            n_topics += 1
            continue
        for member, member_type in members:
            conv = _converter(member_type)
            if conv is not None:
                fields.append((member, False, n_words, conv))
            n_words += 1
    signature = f"{name.strip()}({','.join(types)})"
    return EventSpec(name.strip(), signature, topic(signature), tuple(fields), n_topics, n_words)


class DecodedLog(NamedTuple):
    """A decoded event with the coordinates that version what it triggers."""

    event: str
    address: str
    block: int
    log_index: int
    block_hash: str
    args: dict[str, Any]


def spec_table(*groups: Iterable[EventSpec]) -> dict[str, EventSpec]:
    """topic0 -> spec of every event in `groups`."""
    return {spec.topic0: spec for group in groups for spec in group}


def decode_log(log: Mapping[str, Any], specs: Mapping[str, EventSpec]) -> DecodedLog | None:
    """Decode a raw JSON-RPC log (hex strings); None if its topic0 is not in `specs`."""
    topics = log.get("topics") or ()
    if not topics:
        return None
    spec = specs.get(topics[0].lower())
    if spec is None:
        return None
    data: str = log.get("data") or "0x"
    if len(topics) != spec.topics or len(data) < 2 + spec.data_words * WORD:
        raise LogDecodeError(f"{spec.name} log with {len(topics)} topics and "
                             f"{(len(data) - 2) // 2} data bytes does not match {spec.signature}")
    args: dict[str, Any] = {}
    for arg, indexed, pos, conv in spec.fields:
        if indexed:
            args[arg] = conv(topics[pos][2:])
        else:
            start = 2 + pos * WORD
            args[arg] = conv(data[start:start + WORD])
    try:
        block = int(log["blockNumber"], 16)
        index = int(log["logIndex"], 16)
    except (KeyError, TypeError, ValueError) as exc:
        raise LogDecodeError(f"{spec.name} log without a valid block number/log index") from exc
    return DecodedLog(spec.name, str(log.get("address", "")).lower(), block, index,
                      str(log.get("blockHash", "")), args)
