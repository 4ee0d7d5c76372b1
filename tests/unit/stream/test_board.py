"""The clusters feature's board and the partial record: newest partial per partition wins, the
merge covers every partition, the price versions are the oldest any level reflects, and a
partial survives its wire form."""

from __future__ import annotations

import orjson
import pytest

from monitor.risk import ClusterGrid, PerpPosition, PositionBook, merge_clusters
from monitor.stream.clusters.board import ClusterBoard
from monitor.stream.partials import ClusterPartial
from monitor.wire import Rejected


def partial(partition: int, built_at: float, sizes: tuple[float, ...],
            versions: dict[str, tuple[int, int]] | None = None) -> ClusterPartial:
    """ETH perps of these sizes (entry 100, liquidating near 90) in one partition."""
    book = PositionBook.from_positions(
        PerpPosition(f"{partition}:{i}", "hyperliquid", "0x", "ETH", size, 100.0,
                     size * 10.0, 0.0) for i, size in enumerate(sizes))
    return ClusterPartial("ETH", partition, built_at, book.clusters("ETH", {}, ClusterGrid()),
                          versions or {})


def test_newest_partial_per_partition_wins_and_merges_with_the_others() -> None:
    board = ClusterBoard()
    assert board.put(partial(0, 10.0, (1.0,)))
    assert board.put(partial(1, 5.0, (2.0, 3.0)))
    assert not board.put(partial(0, 9.0, (7.0,)))  # older than the one held
    merged = board.merged("ETH")
    assert merged is not None and int(merged.positions.sum()) == 3
    assert board.put(partial(0, 11.0, (4.0,)))
    merged = board.merged("ETH")
    assert merged is not None and float(merged.quantity.sum()) == pytest.approx(9.0)
    entry = board.entry("ETH")
    assert entry is not None and entry.updated_at() == 11.0


def test_price_versions_are_the_oldest_each_level_reflects() -> None:
    board = ClusterBoard()
    board.put(partial(0, 1.0, (1.0,), {"USDC": (5, 0), "WBTC": (9, 1)}))
    board.put(partial(1, 1.0, (1.0,), {"USDC": (7, 0)}))
    entry = board.entry("ETH")
    assert entry is not None
    assert entry.price_versions() == {"USDC": (5, 0), "WBTC": (9, 1)}


def test_a_partial_round_trips_its_wire_form() -> None:
    sent = partial(3, 2.5, (1.0, 2.0), {"USDC": (4, 2)})
    got = ClusterPartial.from_bytes(sent.to_bytes())
    assert (got.asset, got.partition, got.built_at, dict(got.price_versions)) == (
        "ETH", 3, 2.5, {"USDC": (4, 2)})
    assert merge_clusters([got.clusters]).to_dict() == sent.clusters.to_dict()


def poisoned(column: str) -> bytes:
    """A partial whose `column` holds a null (how orjson writes an infinity or NaN)."""
    good = partial(0, 1.0, (1.0,))
    value = orjson.loads(good.to_bytes())
    value["clusters"][column] = [None] * getattr(good.clusters, column).size
    return orjson.dumps(value)


@pytest.mark.parametrize("raw", [b"[]", b"{}", orjson.dumps({"asset": "ETH", "partition": 0,
                                                              "built_at": 1, "clusters": {}}),
                                 poisoned("value_usd"), poisoned("by_protocol")])
def test_a_malformed_partial_is_rejected(raw: bytes) -> None:
    with pytest.raises(Rejected):
        ClusterPartial.from_bytes(raw)
