"""Snapshots to positions and back: validation names the field, the round trip is exact."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings

from monitor.risk import InvalidPosition, LendingPosition, PerpPosition, from_snapshot, to_snapshot
from tests.unit.risk_strategies import positions


def lending_snapshot(**changes: Any) -> dict[str, Any]:
    """The README's example snapshot, changed."""
    snap: dict[str, Any] = {
        "position_id": "aave-v3:1:0xab", "protocol": "aave-v3", "account": "0xab",
        "kind": "lending",
        "collateral": [{"asset": "WETH", "amount": 10.0, "liquidation_threshold": 0.825,
                        "liquidation_bonus": 0.05}],
        "debt": [{"asset": "USDC", "amount": 15000.0}],
        "close_factor": 1.0, "version": [19000000, 12], "timestamp": 1700000000.0,
        "closed": False}
    snap.update(changes)
    return snap


def perp_snapshot(**changes: Any) -> dict[str, Any]:
    """A perp snapshot, changed."""
    snap: dict[str, Any] = {
        "position_id": "hl:0:0xcd:ETH", "protocol": "hyperliquid", "account": "0xcd",
        "kind": "perp", "asset": "ETH", "size": -2.0, "entry_price": 3000.0, "margin": 600.0,
        "maintenance_margin_ratio": 0.025, "market": "ETH", "version": [5, 0]}
    snap.update(changes)
    return snap


def test_design_example_parses() -> None:
    position = from_snapshot(lending_snapshot())
    assert isinstance(position, LendingPosition)
    assert position.collateral[0].amount == 10.0
    assert position.collateral[0].liquidation_bonus == 0.05
    assert position.debt[0].asset == "USDC" and position.version == (19000000, 12)


def test_perp_parses() -> None:
    position = from_snapshot(perp_snapshot())
    assert isinstance(position, PerpPosition)
    assert (position.size, position.market, position.kind) == (-2.0, "ETH", "perp")


def test_exact_decimal_amounts_keep_their_base_units() -> None:
    snap = lending_snapshot(collateral=[{"asset": "WETH", "amount": "1.000000000000000001",
                                         "decimals": 18, "liquidation_threshold": 0.825}],
                            debt=[{"asset": "USDC", "amount": "1500.25", "decimals": 6}])
    position = from_snapshot(snap)
    assert isinstance(position, LendingPosition)
    assert position.collateral[0].amount_raw == 10**18 + 1
    assert position.debt[0].amount_raw == 1_500_250_000 and position.debt[0].amount == 1500.25
    assert to_snapshot(position)["collateral"][0]["amount"] == "1.000000000000000001"
    assert from_snapshot(to_snapshot(position)) == position


@pytest.mark.parametrize(("snapshot", "field"), [
    (lending_snapshot(kind="option"), "kind"),
    ({k: v for k, v in lending_snapshot().items() if k != "position_id"}, "position_id"),
    ({k: v for k, v in lending_snapshot().items() if k != "kind"}, "kind"),
    (lending_snapshot(debt=[{"asset": "USDC", "amount": -5.0}]), "debt[0].amount"),
    (lending_snapshot(debt=[{"asset": "USDC", "amount": math.nan}]), "debt[0].amount"),
    (lending_snapshot(debt=[{"asset": "USDC", "amount": "Infinity"}]), "debt[0].amount"),
    (lending_snapshot(debt=[{"asset": "USDC", "amount": "1.5x"}]), "debt[0].amount"),
    (lending_snapshot(debt=[{"asset": "USDC", "amount": "0.0000001", "decimals": 6}]),
     "debt[0].amount"),
    (lending_snapshot(debt=[{"amount": 1.0}]), "debt[0].asset"),
    (lending_snapshot(debt={"asset": "USDC"}), "debt"),
    (lending_snapshot(collateral=[{"asset": "WETH", "amount": 1.0,
                                   "liquidation_threshold": 1.2}]),
     "collateral[0].liquidation_threshold"),
    (lending_snapshot(collateral=[{"asset": "WETH", "amount": 1.0,
                                   "liquidation_threshold": 0.0}]),
     "collateral[0].liquidation_threshold"),
    (lending_snapshot(collateral=[{"asset": "WETH", "amount": True,
                                   "liquidation_threshold": 0.8}]), "collateral[0].amount"),
    (lending_snapshot(close_factor=0.0), "close_factor"),
    (lending_snapshot(version=[1]), "version"),
    (lending_snapshot(version=[1, "2"]), "version[1]"),
    (lending_snapshot(timestamp=math.inf), "timestamp"),
    (lending_snapshot(closed="no"), "closed"),
    (perp_snapshot(entry_price=0.0), "entry_price"),
    (perp_snapshot(margin=-1.0), "margin"),
    (perp_snapshot(size=math.inf), "size"),
    (perp_snapshot(maintenance_margin_ratio=1.0), "maintenance_margin_ratio"),
])
def test_invalid_snapshots_name_the_field(snapshot: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidPosition, match=rf"^{re.escape(field)}:"):
        from_snapshot(snapshot)


def test_a_non_object_is_invalid() -> None:
    with pytest.raises(InvalidPosition, match="snapshot"):
        from_snapshot([1, 2])  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(positions(max_size=5))
def test_round_trip(generated: list[Any]) -> None:
    for position in generated:
        assert from_snapshot(to_snapshot(position)) == position
