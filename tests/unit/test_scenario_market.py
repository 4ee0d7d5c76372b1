"""The synthetic market: deterministic, the right mix, health factors piled just above 1."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from monitor.risk import from_snapshot, health_factor
from monitor.scenario.market import SIZE_MEDIAN_USD, generate_market
from monitor.scenario.protocols import PERPS

N = 20_000


@pytest.fixture(scope="module")
def snapshots() -> list[dict[str, Any]]:
    """One market shared by the tests of this module."""
    return list(generate_market(N, seed=11).snapshots())


@pytest.fixture(scope="module")
def prices() -> dict[str, float]:
    """The market's start prices."""
    return generate_market(10, seed=11).prices


def lending_values(snap: dict[str, Any], prices: dict[str, float]) -> tuple[float, float, float]:
    """(collateral USD, threshold-weighted collateral USD, debt USD) of a lending snapshot."""
    coll = sum(c["amount"] * prices[c["asset"]] for c in snap["collateral"])
    weighted = sum(c["amount"] * prices[c["asset"]] * c["liquidation_threshold"]
                   for c in snap["collateral"])
    debt = sum(d["amount"] * prices[d["asset"]] for d in snap["debt"])
    return coll, weighted, debt


def test_same_seed_same_market_other_seed_other_market() -> None:
    first = list(generate_market(2_000, seed=5).snapshots())
    again = list(generate_market(2_000, seed=5).snapshots())
    other = list(generate_market(2_000, seed=6).snapshots())
    assert first == again
    assert first != other


def test_position_count_and_unique_ids(snapshots: list[dict[str, Any]]) -> None:
    ids = [s["position_id"] for s in snapshots]
    assert len(ids) == N
    assert len(set(ids)) == N
    assert all(s["version"][1] == i for i, s in enumerate(snapshots))


def test_protocol_mix_spans_three_lenders_and_a_perp_venue(
        snapshots: list[dict[str, Any]]) -> None:
    lending = Counter(s["protocol"] for s in snapshots if s["kind"] == "lending")
    perps = Counter(s["protocol"] for s in snapshots if s["kind"] == "perp")
    assert len(lending) >= 3
    assert all(count > N * 0.05 for count in lending.values())
    assert set(perps) == {"hyperliquid"}
    assert {s["asset"] for s in snapshots if s["kind"] == "perp"} == {"ETH", "BTC", "SOL"}
    assert {s["close_factor"] for s in snapshots if s["protocol"] == "aave-v3"} == {0.5}
    assert {s["close_factor"] for s in snapshots if s["protocol"] == "compound-v3"} == {1.0}


def test_single_and_multi_collateral_positions(snapshots: list[dict[str, Any]]) -> None:
    legs = [len(s["collateral"]) for s in snapshots if s["kind"] == "lending"]
    multi = sum(n > 1 for n in legs) / len(legs)
    assert 0.05 < multi < 0.5
    assert max(legs) >= 3
    assert min(legs) == 1


def test_sizes_are_log_normal(snapshots: list[dict[str, Any]],
                              prices: dict[str, float]) -> None:
    sizes = np.log([lending_values(s, prices)[0] for s in snapshots if s["kind"] == "lending"])
    assert abs(np.median(sizes) - np.log(SIZE_MEDIAN_USD)) < 0.1
    assert 1.6 < sizes.std() < 2.1
    skew = np.mean((sizes - sizes.mean()) ** 3) / sizes.std() ** 3
    assert abs(skew) < 0.1


def test_health_factors_concentrate_just_above_one(snapshots: list[dict[str, Any]],
                                                   prices: dict[str, float]) -> None:
    hf = np.array([w / d for _, w, d in (lending_values(s, prices) for s in snapshots
                                         if s["kind"] == "lending")])
    assert hf.min() > 1.0
    assert np.mean(hf < 1.25) > 0.4
    assert 1.1 < np.median(hf) < 1.8
    counts, _ = np.histogram(hf, bins=np.arange(1.0, 3.01, 0.1))
    assert counts.argmax() == 0
    assert np.all(np.diff(counts[:10]) < 0)


def test_perps_are_solvent_with_hyperliquid_maintenance(snapshots: list[dict[str, Any]],
                                                        prices: dict[str, float]) -> None:
    max_leverage = {m.asset: m.max_leverage for m in PERPS.markets}
    perps = [s for s in snapshots if s["kind"] == "perp"]
    assert 0.1 < sum(s["size"] > 0 for s in perps) / len(perps) < 0.9
    for s in perps:
        spot = prices[s["asset"]]
        equity = s["margin"] + s["size"] * (spot - s["entry_price"])
        assert equity > s["maintenance_margin_ratio"] * abs(s["size"]) * spot
        assert s["maintenance_margin_ratio"] == 1 / (2 * max_leverage[s["asset"]])
        assert abs(s["size"]) * s["entry_price"] / s["margin"] <= max_leverage[s["asset"]] + 1e-9


def test_correlated_assets_priced_consistently(prices: dict[str, float]) -> None:
    assert prices["wstETH"] / prices["WETH"] == pytest.approx(1.17)
    assert prices["ETH"] == prices["WETH"]
    assert prices["BTC"] == prices["WBTC"]
    assert all(prices[s] == 1.0 for s in ("USDC", "DAI", "USDT"))


def test_a_million_positions_generate() -> None:
    market = generate_market(1_000_000, seed=1)
    assert len(market) == 1_000_000
    assert market.leg_start[-1] < market.leg_asset.size


@pytest.mark.parametrize("n", [0, 1_000_001])
def test_out_of_range_sizes_are_refused(n: int) -> None:
    with pytest.raises(ValueError, match="positions must be within"):
        generate_market(n)


def test_every_snapshot_is_valid_for_the_risk_core_and_solvent_at_start(
        snapshots: list[dict[str, Any]], prices: dict[str, float]) -> None:
    positions = [from_snapshot(s) for s in snapshots[:5_000]]
    hf = np.array([health_factor(p, prices) for p in positions])
    assert np.all(hf > 1.0)
    lending = [(p, s) for p, s in zip(positions, snapshots, strict=False) if s["kind"] == "lending"]
    for position, snap in lending[:200]:
        _, weighted, debt = lending_values(snap, prices)
        assert health_factor(position, prices) == pytest.approx(weighted / debt, rel=1e-9)
