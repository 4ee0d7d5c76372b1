"""Clusters: merging the partitions' partial maps equals building from the union."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import (
    ClusterGrid,
    ClusterMap,
    PerpPosition,
    Position,
    PositionBook,
    build_clusters,
    liquidatable_within,
    merge_clusters,
)
from tests.unit.risk_strategies import ASSETS, positions, prices


def close(a: Any, b: Any) -> bool:
    """Structural equality with floats to 1e-9 relative."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


@settings(max_examples=60, deadline=None)
@given(positions(max_size=40), prices(), st.integers(1, 4), st.randoms(use_true_random=False),
       st.sampled_from([0.0025, 0.01, 0.1]))
def test_merge_of_partials_equals_build_of_union(generated: list[Position],
                                                 quotes: dict[str, float], parts: int,
                                                 rng: Any, step: float) -> None:
    grid = ClusterGrid(step)
    books = [PositionBook() for _ in range(parts)]
    for position in generated:
        books[rng.randrange(parts)].upsert(position)
    for asset in ASSETS:
        partials = [ClusterMap.from_dict(orjson.loads(orjson.dumps(
            book.clusters(asset, quotes, grid).to_dict()))) for book in books]
        merged = merge_clusters(partials).to_dict()
        assert close(merged, build_clusters(generated, asset, quotes, grid).to_dict())
        levels = merged["levels"]
        assert [(lvl["bucket"], lvl["side"]) for lvl in levels] == sorted(
            (lvl["bucket"], lvl["side"]) for lvl in levels)
        assert all(lvl["price_low"] < lvl["price_high"] for lvl in levels)


def perp(pid: str, size: float, liquidation: float) -> PerpPosition:
    """A perp without maintenance margin liquidating at `liquidation` (entry 100)."""
    margin = abs(size) * abs(100.0 - liquidation)
    return PerpPosition(pid, "hyperliquid", "0xb", "ETH", size, 100.0, margin, 0.0)


def test_levels_by_hand() -> None:
    grid = ClusterGrid(0.01)
    book = PositionBook.from_positions([perp("a", 2.0, 90.0), perp("b", 3.0, 90.2),
                                        perp("c", -1.0, 110.0)])
    clusters = book.clusters("ETH", {}, grid)
    long, short = clusters.levels
    assert long.side == "long" and long.positions == 2
    assert long.quantity == pytest.approx(5.0) and long.value_usd == pytest.approx(450.6)
    assert long.price_low <= 90.0 < 90.2 < long.price_high
    assert long.price_high / long.price_low == pytest.approx(1.01)
    assert long.protocols == {"hyperliquid": pytest.approx(450.6)}
    assert short.side == "short" and short.quantity == 1.0
    assert liquidatable_within(clusters, 100.0, 0.05, "long") == 0.0
    assert liquidatable_within(clusters, 100.0, 0.10, "long") == pytest.approx(450.6)
    assert liquidatable_within(clusters, 100.0, 0.10, "short") == pytest.approx(110.0)


def test_malformed_maps_are_refused() -> None:
    good = PositionBook.from_positions([perp("a", 2.0, 90.0)]).clusters("ETH", {}).to_dict()
    for broken in ({**good, "levels": {}}, {**good, "grid_step": 2.0},
                   {**good, "levels": [{**good["levels"][0], "side": "up"}]},
                   {k: v for k, v in good.items() if k != "asset"}):
        with pytest.raises((KeyError, TypeError, ValueError)):
            ClusterMap.from_dict(broken)
    with pytest.raises(ValueError, match="no maps"):
        merge_clusters([])
    with pytest.raises(ValueError, match="differs"):
        merge_clusters([ClusterMap("ETH", ClusterGrid()), ClusterMap("BTC", ClusterGrid())])


@settings(max_examples=25, deadline=None)
@given(positions(max_size=30), prices())
def test_the_packed_columns_read_back_as_the_map_and_as_json_arrays(generated: list[Position],
                                                                    quotes: dict[str, float]
                                                                    ) -> None:
    clusters = PositionBook.from_positions(generated).clusters(ASSETS[0], quotes)
    packed = orjson.loads(orjson.dumps(clusters.to_columns()))
    back = ClusterMap.from_columns(packed)
    assert back.to_dict() == clusters.to_dict()
    arrays = {key: getattr(clusters, key).reshape(-1).tolist()  # the earlier JSON form
              for key in ("bucket", "side", "quantity", "value_usd", "debt_usd",
                          "equity_base_usd", "net_units", "positions", "by_protocol")}
    assert ClusterMap.from_columns({**packed, **arrays}).to_dict() == clusters.to_dict()


def test_malformed_packed_columns_are_refused() -> None:
    packed = PositionBook.from_positions([perp("a", 2.0, 90.0)]).clusters("ETH", {}).to_columns()
    for key, broken in (("quantity", "not base64!"), ("quantity", packed["quantity"][:-4]),
                        ("side", packed["bucket"]), ("value_usd", "AAAAAAAA+H8=")):  # NaN
        with pytest.raises(ValueError):
            ClusterMap.from_columns({**packed, key: broken})
