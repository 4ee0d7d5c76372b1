"""Positions as typed values, parsed from and written back to the wire snapshot (README
"Topics and wire contracts"), so that every later computation can trust its input."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

KINDS: Final = ("lending", "perp")
MAX_DECIMALS: Final = 77
# Bounds that keep every value finite: an amount (asset units, or USD of margin) times a price
# is at most 1e48, and a sum of a billion such values 1e57, far inside a float's 1.8e308.
MAX_AMOUNT: Final = 1e30
MIN_PRICE: Final = 1e-18
MAX_PRICE: Final = 1e18


class InvalidPosition(ValueError):
    """A snapshot that cannot be a position; the message names the offending field."""


class MissingPrice(KeyError):
    """A price needed for a computation is unknown; `asset` names it."""

    def __init__(self, asset: str) -> None:
        super().__init__(asset)
        self.asset = asset

    def __str__(self) -> str:
        """The asset's name (KeyError would quote it)."""
        return self.asset


@dataclass(frozen=True, slots=True)
class CollateralLeg:
    """Collateral of a lending position: how much, and the threshold and bonus it liquidates at."""

    asset: str
    amount: float  # token units
    liquidation_threshold: float  # the share of its value that counts toward health
    liquidation_bonus: float = 0.0  # what a liquidator seizes beyond the debt it repays
    amount_raw: int | None = None  # the chain's integer amount, for the protocol's arithmetic
    decimals: int | None = None


@dataclass(frozen=True, slots=True)
class DebtLeg:
    """Debt of a lending position in one asset."""

    asset: str
    amount: float
    amount_raw: int | None = None
    decimals: int | None = None


@dataclass(frozen=True, slots=True)
class Held:
    """What every position carries besides its terms: whose it is and which snapshot of it
    (keyword-only, so each kind's terms follow its identity positionally)."""

    position_id: str
    protocol: str
    account: str
    _: KW_ONLY
    version: tuple[int, int] = (0, 0)  # (block, log index) of the snapshot: newer wins
    timestamp: float = 0.0  # the snapshot's time (its block's), seconds since the epoch
    closed: bool = False  # nothing left: the book drops it
    chain_id: int | None = None


@dataclass(frozen=True, slots=True)
class LendingPosition(Held):
    """An over-collateralised loan (Aave-style): collateral legs against debt legs."""

    collateral: tuple[CollateralLeg, ...]
    debt: tuple[DebtLeg, ...]
    close_factor: float = 1.0
    # the prices key of the market's own oracle quote of the collateral in the debt asset, when
    # the protocol liquidates at that quote rather than at the legs' USD prices (Morpho Blue)
    market_price: str | None = None
    kind: Literal["lending"] = "lending"

    def assets(self) -> frozenset[str]:
        """Every asset whose price moves this position's health."""
        return frozenset([leg.asset for leg in self.collateral]
                         + [leg.asset for leg in self.debt])


@dataclass(frozen=True, slots=True)
class PerpPosition(Held):
    """An isolated-margin perpetual: signed size, entry price, USD margin, maintenance ratio."""

    asset: str
    size: float
    entry_price: float
    margin: float
    maintenance_margin_ratio: float
    market: str | None = None
    kind: Literal["perp"] = "perp"

    def assets(self) -> frozenset[str]:
        """The one asset whose price moves this position's health."""
        return frozenset((self.asset,))


Position = LendingPosition | PerpPosition


def _text(value: object, field: str, *, empty: bool = False) -> str:
    """A string field (non-empty unless `empty`)."""
    if not isinstance(value, str):
        raise InvalidPosition(f"{field}: expected a string, got {type(value).__name__}")
    if not value and not empty:
        raise InvalidPosition(f"{field}: empty")
    return value


def _number(value: object, field: str) -> float:
    """A finite JSON number (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPosition(f"{field}: expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError as exc:  # an integer beyond any float
        raise InvalidPosition(f"{field}: not finite") from exc
    if not math.isfinite(number):
        raise InvalidPosition(f"{field}: not finite")
    return number


def _bounded(amount: float, field: str) -> float:
    """An amount of at most MAX_AMOUNT in magnitude."""
    if abs(amount) > MAX_AMOUNT:
        raise InvalidPosition(f"{field}: beyond {MAX_AMOUNT:g}")
    return amount


def _integer(value: object, field: str) -> int:
    """A JSON integer (booleans are not integers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPosition(f"{field}: expected an integer, got {type(value).__name__}")
    return value


def _field(data: Mapping[str, Any], name: str, where: str) -> Any:
    """A required field, or InvalidPosition naming it."""
    if name not in data:
        raise InvalidPosition(f"{where}{name}: missing")
    return data[name]


def _amount(leg: Mapping[str, Any], where: str) -> tuple[float, int | None, int | None]:
    """(amount, amount_raw, decimals) of a leg; the raw integer is kept when it is exact."""
    raw_decimals = leg.get("decimals")
    decimals = None if raw_decimals is None else _integer(raw_decimals, where + "decimals")
    if decimals is not None and not 0 <= decimals <= MAX_DECIMALS:
        raise InvalidPosition(f"{where}decimals: outside 0..{MAX_DECIMALS}")
    value = _field(leg, "amount", where)
    if isinstance(value, str):
        try:
            exact = Decimal(value)
        except InvalidOperation as exc:
            raise InvalidPosition(f"{where}amount: not a decimal number: {value!r}") from exc
        if not exact.is_finite():
            raise InvalidPosition(f"{where}amount: not finite")
    elif isinstance(value, int) and not isinstance(value, bool):
        exact = Decimal(value)
    else:
        amount = _number(value, where + "amount")
        if amount < 0:
            raise InvalidPosition(f"{where}amount: negative")
        return _bounded(amount, where + "amount"), None, decimals
    if exact < 0:
        raise InvalidPosition(f"{where}amount: negative")
    if exact > MAX_AMOUNT:
        raise InvalidPosition(f"{where}amount: beyond {MAX_AMOUNT:g}")
    amount = float(exact)
    if decimals is None:
        return amount, None, None
    scaled = exact.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise InvalidPosition(f"{where}amount: more than {decimals} decimal places")
    return amount, int(scaled), decimals


def _fraction(value: object, field: str, low: float, high: float, *,
              low_open: bool, high_open: bool) -> float:
    """A number inside an interval whose ends may be open."""
    number = _number(value, field)
    if (number < low or number > high or (low_open and number == low)
            or (high_open and number == high)):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise InvalidPosition(f"{field}: {number!r} outside {interval}")
    return number


def _legs(data: Mapping[str, Any], name: str) -> Sequence[Any]:
    """A list of leg objects."""
    legs = _field(data, name, "")
    if not isinstance(legs, list | tuple):
        raise InvalidPosition(f"{name}: expected a list, got {type(legs).__name__}")
    for i, leg in enumerate(legs):
        if not isinstance(leg, Mapping):
            raise InvalidPosition(f"{name}[{i}]: expected an object, got {type(leg).__name__}")
    return legs


def _collateral(leg: Mapping[str, Any], where: str) -> CollateralLeg:
    """One collateral leg."""
    amount, raw, decimals = _amount(leg, where)
    return CollateralLeg(
        asset=_text(_field(leg, "asset", where), where + "asset"), amount=amount,
        liquidation_threshold=_fraction(_field(leg, "liquidation_threshold", where),
                                        where + "liquidation_threshold", 0.0, 1.0,
                                        low_open=True, high_open=False),
        liquidation_bonus=_fraction(leg.get("liquidation_bonus", 0.0),
                                    where + "liquidation_bonus", 0.0, 1.0,
                                    low_open=False, high_open=True),
        amount_raw=raw, decimals=decimals)


def _debt(leg: Mapping[str, Any], where: str) -> DebtLeg:
    """One debt leg."""
    amount, raw, decimals = _amount(leg, where)
    return DebtLeg(asset=_text(_field(leg, "asset", where), where + "asset"), amount=amount,
                   amount_raw=raw, decimals=decimals)


def _version(value: object) -> tuple[int, int]:
    """The [int, int] version pair."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidPosition(f"version: expected a pair of integers, got {value!r}")
    return _integer(value[0], "version[0]"), _integer(value[1], "version[1]")


def from_snapshot(snapshot: Mapping[str, Any]) -> Position:
    """Validate a position snapshot (wire contract) and turn it into a position."""
    if not isinstance(snapshot, Mapping):
        raise InvalidPosition(f"snapshot: expected an object, got {type(snapshot).__name__}")
    kind = _field(snapshot, "kind", "")
    if kind not in KINDS:
        raise InvalidPosition(f"kind: unknown {kind!r} (expected one of {', '.join(KINDS)})")
    closed = snapshot.get("closed", False)
    if not isinstance(closed, bool):
        raise InvalidPosition(f"closed: expected a boolean, got {type(closed).__name__}")
    chain_id = snapshot.get("chain_id")
    common: dict[str, Any] = {
        "position_id": _text(_field(snapshot, "position_id", ""), "position_id"),
        "protocol": _text(_field(snapshot, "protocol", ""), "protocol"),
        "account": _text(_field(snapshot, "account", ""), "account", empty=True),
        "version": _version(_field(snapshot, "version", "")),
        "timestamp": _number(snapshot.get("timestamp", 0.0), "timestamp"),
        "closed": closed,
        "chain_id": None if chain_id is None else _integer(chain_id, "chain_id"),
    }
    if kind == "perp":
        market = snapshot.get("market")
        size = _bounded(_number(_field(snapshot, "size", ""), "size"), "size")
        margin = _bounded(_number(_field(snapshot, "margin", ""), "margin"), "margin")
        if margin < 0:
            raise InvalidPosition("margin: negative")
        return PerpPosition(
            asset=_text(_field(snapshot, "asset", ""), "asset"), size=size,
            entry_price=_fraction(_field(snapshot, "entry_price", ""), "entry_price",
                                  MIN_PRICE, MAX_PRICE, low_open=False, high_open=False),
            margin=margin,
            maintenance_margin_ratio=_fraction(
                _field(snapshot, "maintenance_margin_ratio", ""), "maintenance_margin_ratio",
                0.0, 1.0, low_open=False, high_open=True),
            market=None if market is None else _text(market, "market"), **common)
    market_price = snapshot.get("market_price")
    return LendingPosition(
        collateral=tuple(_collateral(leg, f"collateral[{i}].")
                         for i, leg in enumerate(_legs(snapshot, "collateral"))),
        debt=tuple(_debt(leg, f"debt[{i}].") for i, leg in enumerate(_legs(snapshot, "debt"))),
        close_factor=_fraction(snapshot.get("close_factor", 1.0), "close_factor", 0.0, 1.0,
                               low_open=True, high_open=False),
        market_price=None if market_price is None else _text(market_price, "market_price"),
        **common)


def _valid_amount(leg: Mapping[str, Any]) -> tuple[float, int | None, int | None]:
    """_amount of a leg from_snapshot accepted: a plain float without decimals is itself."""
    value = leg["amount"]
    if type(value) is float and leg.get("decimals") is None:
        return value, None, None
    return _amount(leg, "")


def from_valid_snapshot(snapshot: Mapping[str, Any]) -> Position:
    """The position of a snapshot from_snapshot has accepted before (a stored table value),
    built without checking it again: a recovery decodes a million of them. It equals
    from_snapshot's position (tests/unit/test_risk_positions.py holds the two together)."""
    major, minor = snapshot["version"]
    common = (snapshot["position_id"], snapshot["protocol"], snapshot["account"])
    rest = {"version": (major, minor), "timestamp": float(snapshot.get("timestamp", 0.0)),
            "closed": snapshot.get("closed", False), "chain_id": snapshot.get("chain_id")}
    if snapshot["kind"] == "perp":
        return PerpPosition(*common, snapshot["asset"], float(snapshot["size"]),
                            float(snapshot["entry_price"]), float(snapshot["margin"]),
                            float(snapshot["maintenance_margin_ratio"]),
                            market=snapshot.get("market"), **rest)
    collateral = []
    for leg in snapshot["collateral"]:
        amount, raw, decimals = _valid_amount(leg)
        collateral.append(CollateralLeg(leg["asset"], amount,
                                        float(leg["liquidation_threshold"]),
                                        float(leg.get("liquidation_bonus", 0.0)), raw, decimals))
    debt = []
    for leg in snapshot["debt"]:
        amount, raw, decimals = _valid_amount(leg)
        debt.append(DebtLeg(leg["asset"], amount, raw, decimals))
    return LendingPosition(*common, tuple(collateral), tuple(debt),
                           float(snapshot.get("close_factor", 1.0)),
                           market_price=snapshot.get("market_price"), **rest)


def decimal_text(amount_raw: int, decimals: int) -> str:
    """An integer amount in base units as an exact decimal string ('1.5', '42')."""
    whole, frac = divmod(amount_raw, 10**decimals)
    if frac == 0:
        return str(whole)
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


def _amount_out(amount: float, raw: int | None, decimals: int | None) -> dict[str, Any]:
    """A leg's amount fields as the wire writes them (exact text when the raw amount is known)."""
    if decimals is None:
        return {"amount": amount}
    if raw is None:
        return {"amount": amount, "decimals": decimals}
    return {"amount": decimal_text(raw, decimals), "decimals": decimals}


def to_snapshot(position: Position) -> dict[str, Any]:
    """The wire snapshot of a position; from_snapshot(to_snapshot(p)) == p."""
    out: dict[str, Any] = {"position_id": position.position_id, "protocol": position.protocol,
                           "account": position.account, "kind": position.kind}
    if isinstance(position, PerpPosition):
        out.update(asset=position.asset, size=position.size, entry_price=position.entry_price,
                   margin=position.margin,
                   maintenance_margin_ratio=position.maintenance_margin_ratio)
        if position.market is not None:
            out["market"] = position.market
    else:
        out["collateral"] = [
            {"asset": leg.asset, **_amount_out(leg.amount, leg.amount_raw, leg.decimals),
             "liquidation_threshold": leg.liquidation_threshold,
             "liquidation_bonus": leg.liquidation_bonus} for leg in position.collateral]
        out["debt"] = [{"asset": leg.asset, **_amount_out(leg.amount, leg.amount_raw,
                                                          leg.decimals)}
                       for leg in position.debt]
        out["close_factor"] = position.close_factor
        if position.market_price is not None:
            out["market_price"] = position.market_price
    out.update(version=list(position.version), timestamp=position.timestamp,
               closed=position.closed)
    if position.chain_id is not None:
        out["chain_id"] = position.chain_id
    return out
