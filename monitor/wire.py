"""The wire contracts, defined once: topic names, versions, price updates (a USD price per asset,
or a lending market's own oracle price under a market price key), position snapshots,
dead-letter records and the Kafka bootstrap helper. Sources write what this module parses, and
the stream parses nothing any other way.

Keys are plain UTF-8 strings; values are JSON objects. Everything here is pure (no Kafka, no
Faust), so the rules that keep bad input from ever crashing an agent are unit-tested directly.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

from monitor.limits import (
    ASSET_RE,
    DEAD_LETTER_BYTES,
    DEAD_LETTER_HEAD,
    DETAIL_CHARS,
    ID_RE,
    Limits,
)
from monitor.risk import (
    MAX_PRICE,
    MIN_PRICE,
    InvalidPosition,
    LendingPosition,
    Position,
    from_snapshot,
)

# public topics
POSITIONS: Final = "positions"
PRICES: Final = "prices"
CASCADES: Final = "cascades"
ALERTS: Final = "alerts"
DEAD_LETTERS: Final = "dead-letters"
DEPTH: Final = "depth"
# internal topics, prefixed with the app id
CLUSTER_PARTIALS: Final = "cluster-partials"
ALERT_DELIVERIES: Final = "alert-deliveries"
ALERT_STATUSES: Final = ("pending", "firing", "resolved")

Version = tuple[int, int]


REASONS: Final = ("not-json", "not-an-object", "invalid-version", "invalid-position",
                  "key-mismatch", "invalid-price", "invalid-partial", "not-a-batch",
                  "invalid-depth", "invalid-alert", "oversized-record", "over-limit",
                  "implausible-version", "invalid-contagion", "misplaced")
DEFAULT_LIMITS: Final = Limits()


class Rejected(ValueError):
    """An input record that cannot be used; `reason` is one of REASONS (a metric label)."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unlisted dead-letter reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Closed:
    """A `closed: true` snapshot: removes the position, remembering its version."""

    position_id: str
    version: Version


@dataclass(frozen=True, slots=True)
class PriceUpdate:
    """A validated oracle price update."""

    asset: str
    price: float
    version: Version
    timestamp: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        """The wire form (also the prices table value)."""
        return {"asset": self.asset, "price": self.price, "version": list(self.version),
                "timestamp": self.timestamp, "source": self.source}

    def to_bytes(self) -> bytes:
        """The wire bytes."""
        return orjson.dumps(self.to_dict())


def is_newer(incoming: Version, stored: Sequence[int] | None) -> bool:
    """True when a record versioned `incoming` must replace the one stored at `stored`
    (older or equal versions never do, so duplicates and replays are harmless)."""
    return stored is None or incoming > (stored[0], stored[1])


def parse_object(raw: bytes | None) -> dict[str, Any]:
    """A JSON object from raw bytes, or Rejected("not-json" / "not-an-object")."""
    if raw is None:
        raise Rejected("not-json", "empty value")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected("not-json", str(exc)) from exc
    if not isinstance(value, dict):
        raise Rejected("not-an-object", f"expected a JSON object, got {type(value).__name__}")
    return value


def parse_version(raw: object, field: str = "version") -> Version:
    """A [int, int] version pair, or Rejected("invalid-version")."""
    if (not isinstance(raw, list | tuple) or len(raw) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)):
        raise Rejected("invalid-version", f"{field}: expected a pair of integers, got {raw!r}")
    return int(raw[0]), int(raw[1])


def key_text(key: bytes | None) -> str | None:
    """The record key as text (None when absent or not UTF-8)."""
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def plausible_version(version: Version, limits: Limits) -> Version:
    """`version`, or Rejected("implausible-version") when a part is beyond limits.max_version
    (a version no source reaches would freeze its key: every later update would be stale)."""
    if max(version) > limits.max_version or min(version) < 0:
        raise Rejected("implausible-version",
                       f"version {list(version)}: each part must be in 0..{limits.max_version}")
    return version


def _name(value: str, field: str, reason: str) -> str:
    """An asset name or market price key the web view can be asked about, or Rejected."""
    if not ASSET_RE.match(value):
        raise Rejected(reason, f"{field}: 1-128 characters of [A-Za-z0-9._:-] expected, "
                               f"got {value[:64]!r}")
    return value


def _within_limits(position: Position, limits: Limits) -> None:
    """Rejected("over-limit" / "invalid-position") for a position beyond the limits or with
    names that cannot be queried."""
    if not ID_RE.match(position.position_id):
        raise Rejected("invalid-position", "position_id: 1-256 printable ASCII characters "
                                           f"expected, got {position.position_id[:64]!r}")
    if isinstance(position, LendingPosition):
        legs = len(position.collateral) + len(position.debt)
        if legs > limits.max_legs:
            raise Rejected("over-limit", f"{legs} legs, at most {limits.max_legs} allowed")
        if position.market_price is not None:
            _name(position.market_price, "market_price", "invalid-position")
    assets = position.assets()
    if len(assets) > limits.max_assets:
        raise Rejected("over-limit",
                       f"{len(assets)} distinct assets, at most {limits.max_assets} allowed")
    for asset in assets:
        _name(asset, "asset", "invalid-position")
    plausible_version(position.version, limits)


def parse_position(key: bytes | None, raw: bytes | None,
                   close_factors: Mapping[str, float] | None = None,
                   limits: Limits = DEFAULT_LIMITS) -> Position | Closed:
    """A position snapshot whose key is its position_id, or Rejected with the reason; a
    snapshot without close_factor takes its protocol's configured one (`close_factors`)."""
    parsed = parse_snapshot(parse_object(raw), close_factors, limits)
    if key_text(key) != parsed.position_id:
        raise Rejected("key-mismatch",
                       f"record key {key!r} is not the position_id {parsed.position_id!r}")
    return parsed


def parse_snapshot(snapshot: dict[str, Any],
                   close_factors: Mapping[str, float] | None = None,
                   limits: Limits = DEFAULT_LIMITS) -> Position | Closed:
    """A decoded position snapshot as a position (or a Closed marker) within `limits`, or
    Rejected."""
    if close_factors and "close_factor" not in snapshot:
        configured = close_factors.get(str(snapshot.get("protocol")))
        if configured is not None:
            snapshot["close_factor"] = configured
    if snapshot.get("closed") is True:
        pid = snapshot.get("position_id")
        if not isinstance(pid, str) or not ID_RE.match(pid):
            raise Rejected("invalid-position",
                           "position_id: 1-256 printable ASCII characters expected")
        return Closed(pid, plausible_version(parse_version(snapshot.get("version")), limits))
    try:
        parsed = from_snapshot(snapshot)
    except InvalidPosition as exc:
        raise Rejected("invalid-position", str(exc)) from exc
    _within_limits(parsed, limits)
    return parsed


def _finite_number(value: object, field: str, reason: str = "invalid-price") -> float:
    """A finite JSON number, or Rejected(reason)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(reason, f"{field}: must be a finite number, got {value!r:.64}")
    try:
        number = float(value)
    except OverflowError as exc:  # an integer beyond any float
        raise Rejected(reason, f"{field}: must be a finite number") from exc
    if not math.isfinite(number):
        raise Rejected(reason, f"{field}: must be a finite number, got {value!r}")
    return number


def parse_price(key: bytes | None, raw: bytes | None,
                limits: Limits = DEFAULT_LIMITS) -> PriceUpdate:
    """A price update whose key is its asset, or Rejected("invalid-price" / ...)."""
    value = parse_object(raw)
    asset = value.get("asset")
    if not isinstance(asset, str) or not asset:
        raise Rejected("invalid-price", "asset: must be a non-empty string")
    _name(asset, "asset", "invalid-price")
    price = _finite_number(value.get("price"), "price")
    if not MIN_PRICE <= price <= MAX_PRICE:
        raise Rejected("invalid-price",
                       f"price: must be in [{MIN_PRICE:g}, {MAX_PRICE:g}], got {price!r}")
    timestamp = _finite_number(value.get("timestamp", 0.0), "timestamp")
    source = value.get("source", "")
    if not isinstance(source, str):
        raise Rejected("invalid-price", f"source: must be a string, got {source!r}")
    if key_text(key) != asset:
        raise Rejected("key-mismatch", f"record key {key!r} is not the asset {asset!r}")
    version = plausible_version(parse_version(value.get("version")), limits)
    return PriceUpdate(asset, price, version, timestamp, source)


class MarketPriceKey(NamedTuple):
    """The parts of a market price key: the protocol, the chain and the market's id there."""

    protocol: str
    chain_id: int
    market: str


def market_price_key(protocol: str, chain_id: int, market: str) -> str:
    """The `prices` key of a lending market's own oracle price ('morpho-blue:1:0x…'): the price
    of the market's collateral in units of its debt asset (not USD), which the market's position
    snapshots name as their `market_price`."""
    return f"{protocol}:{chain_id}:{market.lower()}"


def parse_market_price_key(key: str) -> MarketPriceKey | None:
    """The parts of a market price key (None for any other key, e.g. an asset's USD price)."""
    protocol, _, rest = key.partition(":")
    chain, _, market = rest.partition(":")
    if not protocol or not chain.isdigit() or not market or ":" in market:
        return None
    return MarketPriceKey(protocol, int(chain), market)


@dataclass(frozen=True, slots=True)
class PoolReserves:
    """Observed market depth: one constant-product pool's reserves (`depth`, key = pool).

    assets and reserves are token0's and token1's wire names and amounts in asset units; the
    fee is the share of each trade the pool keeps (Uniswap v2: 0.003)."""

    pool: str
    protocol: str
    assets: tuple[str, str]
    reserves: tuple[float, float]
    fee: float
    version: Version
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {"pool": self.pool, "protocol": self.protocol, "assets": list(self.assets),
                "reserves": list(self.reserves), "fee": self.fee,
                "version": list(self.version), "timestamp": self.timestamp}

    def reserve_of(self, asset: str) -> float | None:
        """The pool's reserve of `asset` (None when the pool does not hold it)."""
        for held, reserve in zip(self.assets, self.reserves, strict=True):
            if held == asset:
                return reserve
        return None


def parse_depth(key: bytes | None, raw: bytes | None) -> PoolReserves:
    """A pool's reserves whose key is its address, or Rejected("invalid-depth" / ...)."""
    value = parse_object(raw)
    pool, protocol = value.get("pool"), value.get("protocol")
    assets, reserves = value.get("assets"), value.get("reserves")
    if not isinstance(pool, str) or not pool:
        raise Rejected("invalid-depth", "pool: must be a non-empty string")
    if not isinstance(protocol, str) or not protocol:
        raise Rejected("invalid-depth", "protocol: must be a non-empty string")
    if (not isinstance(assets, list) or len(assets) != 2
            or not all(isinstance(a, str) and a for a in assets) or assets[0] == assets[1]):
        raise Rejected("invalid-depth", f"assets: expected two different names, got {assets!r}")
    if not isinstance(reserves, list) or len(reserves) != 2:
        raise Rejected("invalid-depth", f"reserves: expected two amounts, got {reserves!r}")
    amounts = tuple(_finite_number(r, "reserves", "invalid-depth") for r in reserves)
    if min(amounts) < 0:
        raise Rejected("invalid-depth", f"reserves: must not be negative, got {reserves!r}")
    fee = _finite_number(value.get("fee", 0.0), "fee", "invalid-depth")
    if not 0.0 <= fee < 1.0:
        raise Rejected("invalid-depth", f"fee: must be in [0, 1), got {fee!r}")
    if key_text(key) != pool:
        raise Rejected("key-mismatch", f"record key {key!r} is not the pool {pool!r}")
    return PoolReserves(pool, protocol, (assets[0], assets[1]), (amounts[0], amounts[1]), fee,
                        parse_version(value.get("version")),
                        _finite_number(value.get("timestamp", 0.0), "timestamp",
                                       "invalid-depth"))


def _as_text(data: bytes | None) -> tuple[str | None, str]:
    """Bytes as (text, "utf-8") when they decode, else as (base64 text, "base64")."""
    if data is None:
        return None, "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def _held(name: str, data: bytes | None, whole: bool) -> dict[str, Any]:
    """The fields holding the original `data`: all of it when `whole`, else its first
    DEAD_LETTER_HEAD bytes with its size and SHA-256."""
    if whole or data is None or len(data) <= DEAD_LETTER_HEAD:
        text, encoding = _as_text(data)
        return {name: text, f"{name}_encoding": encoding}
    text, encoding = _as_text(data[:DEAD_LETTER_HEAD])
    return {name: text, f"{name}_encoding": encoding, f"{name}_truncated": True,
            f"{name}_size": len(data), f"{name}_sha256": hashlib.sha256(data).hexdigest()}


def dead_letter(rejected: Rejected, topic: str, partition: int, offset: int,
                key: bytes | None, value: bytes | None) -> bytes:
    """The dead-letter record: the reason, where the original came from, and its bytes
    (as text when they are UTF-8, else base64, as `key_encoding` / `value_encoding` say).
    It never exceeds DEAD_LETTER_BYTES: an oversized record, or one whose letter would be
    longer, keeps only its head, with `*_truncated`, `*_size` and `*_sha256`."""
    head = {"reason": rejected.reason, "detail": rejected.detail[:DETAIL_CHARS],
            "topic": topic, "partition": partition, "offset": offset}
    if rejected.reason != "oversized-record":
        letter = orjson.dumps({**head, **_held("key", key, True), **_held("value", value, True)})
        if len(letter) <= DEAD_LETTER_BYTES:
            return letter
    return orjson.dumps({**head, **_held("key", key, False), **_held("value", value, False)})


def letter_key(key: bytes | None) -> bytes | None:
    """The dead letter's own key: the original key, or its SHA-256 when it is longer than
    DEAD_LETTER_HEAD (so the letter always fits)."""
    if key is None or len(key) <= DEAD_LETTER_HEAD:
        return key
    return hashlib.sha256(key).hexdigest().encode()


def bootstrap_servers(url: str) -> str:
    """aiokafka bootstrap servers from a Faust-style broker URL
    (kafka://h:p;kafka://h2:p2, h:p,h2:p2 or a bare h:p)."""
    hosts = [part.split("://", 1)[-1].strip("/") for part in url.replace(";", ",").split(",")]
    return ",".join(host for host in hosts if host)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One state change of an alert, the value of the `alerts` topic (keyed by fingerprint).

    `sequence` grows by one with every change of the same fingerprint (a repeat notification
    of a firing alert counts as one), so the newest record wins and a record proposed twice
    (two evaluators during a rebalance) is applied once. `subject` is the key the alert's
    inputs are placed by (an asset or a position id); `value` the rule's measure at the change.
    """

    fingerprint: str
    rule: str
    status: str
    sequence: int
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    subject: str
    value: float | None
    threshold: float
    starts_at: float
    ends_at: float | None
    at: float
    repeats: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The wire form (also the alerts table value)."""
        return {"fingerprint": self.fingerprint, "rule": self.rule, "status": self.status,
                "sequence": self.sequence, "labels": dict(self.labels),
                "annotations": dict(self.annotations), "subject": self.subject,
                "value": self.value, "threshold": self.threshold,
                "starts_at": self.starts_at, "ends_at": self.ends_at, "at": self.at,
                "repeats": self.repeats}

    def to_bytes(self) -> bytes:
        """The wire bytes."""
        return orjson.dumps(self.to_dict())


def _text_map(value: object, field: str) -> dict[str, str]:
    """A JSON object of strings, or Rejected("invalid-alert")."""
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise Rejected("invalid-alert", f"{field}: must be an object of strings")
    return dict(value)


def _count(value: object, field: str, least: int) -> int:
    """An integer of at least `least`, or Rejected("invalid-alert")."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise Rejected("invalid-alert", f"{field}: must be an integer >= {least}, got {value!r}")
    return value


def alert_from_dict(value: Mapping[str, Any]) -> AlertRecord:
    """An alert record from its decoded JSON, or Rejected("invalid-alert")."""
    status = value.get("status")
    if status not in ALERT_STATUSES:
        raise Rejected("invalid-alert", f"status: must be one of {ALERT_STATUSES}")
    texts = {}
    for name in ("fingerprint", "rule", "subject"):
        text = value.get(name)
        if not isinstance(text, str) or not text:
            raise Rejected("invalid-alert", f"{name}: must be a non-empty string")
        texts[name] = text

    def number(name: str, optional: bool = False) -> float | None:
        """A finite number field (null allowed when optional)."""
        raw = value.get(name)
        return None if optional and raw is None else _finite_number(raw, name, "invalid-alert")

    return AlertRecord(
        fingerprint=texts["fingerprint"], rule=texts["rule"], status=str(status),
        sequence=_count(value.get("sequence"), "sequence", 1),
        labels=_text_map(value.get("labels"), "labels"),
        annotations=_text_map(value.get("annotations", {}), "annotations"),
        subject=texts["subject"], value=number("value", optional=True),
        threshold=float(number("threshold") or 0.0),
        starts_at=float(number("starts_at") or 0.0), ends_at=number("ends_at", optional=True),
        at=float(number("at") or 0.0), repeats=_count(value.get("repeats", 0), "repeats", 0))


def parse_alert(key: bytes | None, raw: bytes | None) -> AlertRecord:
    """An alert record whose key is its fingerprint, or Rejected with the reason."""
    record = alert_from_dict(parse_object(raw))
    if key_text(key) != record.fingerprint:
        raise Rejected("key-mismatch",
                       f"record key {key!r} is not the fingerprint {record.fingerprint!r}")
    return record
