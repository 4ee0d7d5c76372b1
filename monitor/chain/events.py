"""Aave V3 and Chainlink event topics with a fast decoder (hex slicing, no web3 per-log decoding).

web3's `contract.events.X().process_log` costs ~600 µs a log; slicing the raw JSON-RPC hex
and converting words with int(..., 16) costs a few µs, which is what lets a backfill keep up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from monitor.chain.abi import WORD, topic

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


_CONVERTERS: dict[str, Callable[[str], Any]] = {"address": _address, "bool": _bool}


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


_PARAM = re.compile(r"^\s*(\w+)\s+(indexed\s+)?(\w+)\s*$")


def event_spec(declaration: str) -> EventSpec:
    """Parse 'Name(type [indexed] name, ...)' into an EventSpec (canonical signature, topic0)."""
    name, _, rest = declaration.partition("(")
    params = [p for p in rest.rstrip(")").split(",") if p.strip()]
    fields: list[tuple[str, bool, int, Callable[[str], Any]]] = []
    types: list[str] = []
    n_topics, n_words = 1, 0
    for param in params:
        match = _PARAM.match(param)
        if match is None:
            raise ValueError(f"cannot parse event parameter {param!r} in {declaration!r}")
        abi_type, indexed, arg = match.group(1), bool(match.group(2)), match.group(3)
        types.append(abi_type)
        conv = _converter(abi_type)
        if indexed:
            if conv is not None:
                fields.append((arg, True, n_topics, conv))
            n_topics += 1
        else:
            if conv is not None:
                fields.append((arg, False, n_words, conv))
            n_words += 1
    signature = f"{name.strip()}({','.join(types)})"
    return EventSpec(name.strip(), signature, topic(signature), tuple(fields), n_topics, n_words)


POOL_EVENTS = tuple(event_spec(d) for d in (
    "Supply(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, "
    "uint16 indexed referralCode)",
    "Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount)",
    "Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, "
    "uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode)",
    "Repay(address indexed reserve, address indexed user, address indexed repayer, "
    "uint256 amount, bool useATokens)",
    "LiquidationCall(address indexed collateralAsset, address indexed debtAsset, "
    "address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, "
    "address liquidator, bool receiveAToken)",
    "ReserveUsedAsCollateralEnabled(address indexed reserve, address indexed user)",
    "ReserveUsedAsCollateralDisabled(address indexed reserve, address indexed user)",
    "UserEModeSet(address indexed user, uint8 categoryId)",
    "SwapBorrowRateMode(address indexed reserve, address indexed user, uint8 interestRateMode)",
    "RebalanceStableBorrowRate(address indexed reserve, address indexed user)",
    "MintUnbacked(address indexed reserve, address user, address indexed onBehalfOf, "
    "uint256 amount, uint16 indexed referralCode)",
))
ATOKEN_EVENTS = (event_spec(
    "BalanceTransfer(address indexed from, address indexed to, uint256 value, uint256 index)"),)
CONFIGURATOR_EVENTS = tuple(event_spec(d) for d in (
    "ReserveInitialized(address indexed asset, address indexed aToken, address stableDebtToken, "
    "address variableDebtToken, address interestRateStrategyAddress)",
    "ReserveDropped(address indexed asset)",
    "CollateralConfigurationChanged(address indexed asset, uint256 ltv, "
    "uint256 liquidationThreshold, uint256 liquidationBonus)",
    "EModeAssetCategoryChanged(address indexed asset, uint8 oldCategoryId, uint8 newCategoryId)",
    "EModeCategoryAdded(uint8 indexed categoryId, uint256 ltv, uint256 liquidationThreshold, "
    "uint256 liquidationBonus, address oracle, string label)",
))
ORACLE_EVENTS = (event_spec("AssetSourceUpdated(address indexed asset, address indexed source)"),)
AGGREGATOR_EVENTS = (event_spec(
    "AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt)"),)

ALL_EVENTS = (*POOL_EVENTS, *ATOKEN_EVENTS, *CONFIGURATOR_EVENTS, *ORACLE_EVENTS,
              *AGGREGATOR_EVENTS)
SPECS: dict[str, EventSpec] = {spec.topic0: spec for spec in ALL_EVENTS}
TOPICS: tuple[str, ...] = tuple(SPECS)

# Pool events and the arguments naming the accounts whose position they change.
ACCOUNT_ARGS: dict[str, tuple[str, ...]] = {
    "Supply": ("onBehalfOf",), "Withdraw": ("user",), "Borrow": ("onBehalfOf",),
    "Repay": ("user",), "LiquidationCall": ("user",),
    "ReserveUsedAsCollateralEnabled": ("user",), "ReserveUsedAsCollateralDisabled": ("user",),
    "UserEModeSet": ("user",), "SwapBorrowRateMode": ("user",),
    "RebalanceStableBorrowRate": ("user",), "MintUnbacked": ("onBehalfOf",),
    "BalanceTransfer": ("from", "to"),
}
# Configurator events after which every known account's effective parameters may differ.
CONFIG_CHANGES = frozenset({"CollateralConfigurationChanged", "EModeAssetCategoryChanged",
                            "EModeCategoryAdded"})


class DecodedLog(NamedTuple):
    """A decoded event with the coordinates that version what it triggers."""

    event: str
    address: str
    block: int
    log_index: int
    block_hash: str
    args: dict[str, Any]


def decode_log(log: Mapping[str, Any]) -> DecodedLog | None:
    """Decode a raw JSON-RPC log (hex strings); None if its topic0 is not one of ours."""
    topics = log.get("topics") or ()
    if not topics:
        return None
    spec = SPECS.get(topics[0].lower())
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


def affected_accounts(decoded: DecodedLog) -> tuple[str, ...]:
    """The accounts whose Aave position a decoded log may change (none for non-position events)."""
    names = ACCOUNT_ARGS.get(decoded.event)
    if names is None:
        return ()
    args = decoded.args
    if decoded.event == "LiquidationCall" and args["receiveAToken"]:
        return (args["user"], args["liquidator"])
    return tuple(args[name] for name in names)
