"""Snapshots to positions and back: validation names the field, the round trip is exact."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import (
    InvalidPosition,
    LendingPosition,
    PerpPosition,
    from_snapshot,
    from_valid_snapshot,
    to_snapshot,
)
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


def same_position(snapshot: dict[str, Any]) -> None:
    """from_valid_snapshot builds what from_snapshot does, field types included (repr tells
    1 from 1.0), from the snapshot as the table stores it."""
    stored = orjson.loads(orjson.dumps(snapshot))
    checked, trusted = from_snapshot(stored), from_valid_snapshot(stored)
    assert trusted == checked and repr(trusted) == repr(checked)


@pytest.mark.parametrize("snapshot", [
    lending_snapshot(),
    perp_snapshot(),
    perp_snapshot(size=-2, entry_price=3000, margin=600, chain_id=42161, timestamp=5),
    {k: v for k, v in perp_snapshot().items() if k != "market"},
    lending_snapshot(collateral=[{"asset": "WETH", "amount": "1.000000000000000001",
                                  "decimals": 18, "liquidation_threshold": 0.825}],
                     debt=[{"asset": "USDC", "amount": "1500.25", "decimals": 6},
                           {"asset": "DAI", "amount": 7, "decimals": 18},
                           {"asset": "USDT", "amount": 2.5, "decimals": 6},
                           {"asset": "LUSD", "amount": 3}]),
    lending_snapshot(collateral=[{"asset": "WETH", "amount": 1, "liquidation_threshold": 1,
                                  "liquidation_bonus": 0}], debt=[], close_factor=1,
                     market_price="morpho:0xm", chain_id=1),
    {k: v for k, v in lending_snapshot().items() if k not in ("close_factor", "timestamp",
                                                              "closed")},
])
def test_a_valid_snapshot_builds_without_checks_what_from_snapshot_builds(
        snapshot: dict[str, Any]) -> None:
    same_position(snapshot)


@settings(max_examples=60, deadline=None)
@given(positions(max_size=5), st.sampled_from([None, 1, 8453]))
def test_generated_valid_snapshots_build_what_from_snapshot_builds(
        generated: list[Any], chain_id: int | None) -> None:
    for position in generated:
        snapshot = to_snapshot(position)
        if chain_id is not None:
            snapshot["chain_id"] = chain_id
        same_position(snapshot)
