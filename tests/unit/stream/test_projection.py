"""The cascades feature's projection of one asset: the served body agrees with the risk core,
says when nothing triggers, and the index entry carries the summary."""

from __future__ import annotations

import pytest

from monitor.config import CascadeConfig
from monitor.risk import (
    ClusterGrid,
    ClusterMap,
    PerpPosition,
    PositionBook,
    PowerLawDepth,
    find_cascade_trigger,
)
from monitor.stream.cascades.projection import NO_TRIGGER, index_entry, project
from monitor.stream.depth import DepthProvenance

CFG = CascadeConfig()
CONFIGURED = DepthProvenance("configured")


def clusters() -> ClusterMap:
    """ETH longs stacked a little under 100 (a cascade waiting to happen) and one short."""
    perps = [PerpPosition(f"l{i}", "hyperliquid", "0x", "ETH", 50.0, 100.0,
                          50.0 * (2.0 + 0.2 * i), 0.0) for i in range(20)]
    perps.append(PerpPosition("s", "hyperliquid", "0x", "ETH", -1.0, 100.0, 30.0, 0.0))
    return PositionBook.from_positions(perps).clusters("ETH", {}, ClusterGrid())


def test_the_served_trigger_is_the_risk_core_s() -> None:
    depth = PowerLawDepth(depth_usd_2pct=20_000.0)
    body = project("ETH", clusters(), 100.0, depth, CONFIGURED, CFG, 5.0, {"USDC": (3, 1)})
    found = find_cascade_trigger(clusters(), 100.0, depth, "down", a_min=CFG.a_min,
                                 levels=CFG.levels, max_move=CFG.max_move)
    assert found is not None
    assert body["down"]["trigger_price"] == found.trigger_price
    assert body["down"]["distance"] == pytest.approx((100.0 - found.trigger_price) / 100.0)
    assert body["modelled"] and body["updated_at"] == 5.0
    assert body["depth"] == {"source": "configured", "pools": []}
    assert body["price_versions"] == {"USDC": [3, 1]}
    assert body["summary"]["positions"] == 21 and body["summary"]["levels"] == len(clusters())
    assert body["summary"]["value_usd"]["short"] == pytest.approx(130.0)


def test_without_a_depth_model_nothing_is_modelled() -> None:
    body = project("ETH", clusters(), 100.0, None, DepthProvenance("none"), CFG, None, {})
    assert body["down"] == NO_TRIGGER and body["up"] == NO_TRIGGER and not body["modelled"]


def test_the_index_entry_is_the_summary_and_both_triggers() -> None:
    body = project("ETH", clusters(), 100.0, PowerLawDepth(20_000.0), CONFIGURED, CFG, 1.0, {})
    entry = index_entry(body)
    assert entry["asset"] == "ETH" and entry["down"] == body["down"]
    assert entry["liquidatable_within_usd"] == body["summary"]["liquidatable_within_usd"]
