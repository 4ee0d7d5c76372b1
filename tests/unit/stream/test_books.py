"""The positions feature's books: which partials an update or a price move makes stale, and
rebuilding after a rebalance."""

from __future__ import annotations

from monitor.risk import Position, from_snapshot
from monitor.stream.positions.books import Books
from monitor.wire import Closed


def lending(pid: str, collateral: tuple[str, ...], debt: str = "USDC",
            version: int = 1) -> Position:
    """A lending position with 1 unit of each collateral against 100 of `debt`."""
    return from_snapshot({
        "position_id": pid, "protocol": "aave-v3", "account": "0x1", "kind": "lending",
        "collateral": [{"asset": a, "amount": 1.0, "liquidation_threshold": 0.8}
                       for a in collateral],
        "debt": [{"asset": debt, "amount": 100.0}], "version": [version, 0]})


def test_an_update_marks_the_assets_of_the_old_and_new_position() -> None:
    books = Books()
    books.apply(0, lending("p", ("WETH",)))
    assert [(p, a) for p, _, a in books.take_dirty()] == [(0, "USDC"), (0, "WETH")]
    books.apply(0, lending("p", ("WBTC",), version=2))
    assert {a for _, _, a in books.take_dirty()} == {"USDC", "WETH", "WBTC"}
    books.apply(0, Closed("p", (3, 0)))
    assert {a for _, _, a in books.take_dirty()} == {"USDC", "WBTC"}
    assert len(books) == 0 and books.holders("p") == []


def test_a_price_move_marks_only_the_assets_that_share_a_position_with_it() -> None:
    books = Books()
    books.apply(0, lending("a", ("WETH", "WBTC")))
    books.apply(1, lending("b", ("LINK",)))
    list(books.take_dirty())
    books.price_moved("WETH")
    assert [(p, a) for p, _, a in books.take_dirty()] == [(0, "USDC"), (0, "WBTC")]
    books.price_moved("DAI")
    assert list(books.take_dirty()) == []


def test_rebuild_keeps_the_owned_partitions_and_republishes_what_was_published() -> None:
    books = Books()
    books.apply(0, lending("a", ("WETH",)))
    books.partitions[0].published.add("LINK")
    books.rebuild([0, 2], [(0, lending("a", ("WETH",))), (1, lending("x", ("WBTC",))),
                           (2, lending("c", ("LINK",)))])
    assert sorted(books.partitions) == [0, 2] and len(books) == 2
    dirty = {(p, a) for p, _, a in books.take_dirty()}
    assert dirty == {(0, "WETH"), (0, "USDC"), (0, "LINK"), (2, "LINK"), (2, "USDC")}
    assert books.holders("a") == [0]
