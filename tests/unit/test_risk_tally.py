"""The book's running cluster sums: after any mix of changes they equal clusters built afresh,
and a call after a few changes counts those changes, not the book."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import (
    ClusterGrid,
    CollateralLeg,
    DebtLeg,
    LendingPosition,
    Position,
    PositionBook,
    build_clusters,
)
from monitor.risk.clusters import aggregate
from tests.unit.risk_strategies import ASSETS, PRICES, lending, perp, prices
from tests.unit.test_risk_clusters import close

IDS = [f"p{i}" for i in range(12)]


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Upserts (new ids and replacements, protocols may change), removals, price moves and
    clusters calls, in any order."""
    out: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["upsert", "upsert", "remove", "price", "look"]))
        if kind == "upsert":
            pid = draw(st.sampled_from(IDS))
            out.append((kind, draw(st.one_of(lending(pid), perp(pid)))))
        elif kind == "remove":
            out.append((kind, draw(st.sampled_from(IDS))))
        elif kind == "price":
            out.append((kind, draw(prices())))
        else:
            out.append((kind, None))
    return out


@settings(max_examples=80, deadline=None)
@given(steps(), st.sampled_from([0.0025, 0.05]))
def test_running_sums_equal_clusters_built_afresh(script: list[tuple[str, Any]],
                                                  step: float) -> None:
    grid = ClusterGrid(step)
    book = PositionBook()
    held: dict[str, Position] = {}
    quotes = dict(PRICES)
    for kind, arg in [*script, ("look", None)]:
        if kind == "upsert":
            book.upsert(arg)
            held[arg.position_id] = arg
        elif kind == "remove":
            assert book.remove(arg) == (held.pop(arg, None) is not None)
        elif kind == "price":
            quotes = arg
        else:
            for asset in ASSETS:
                running = book.clusters(asset, quotes, grid).to_dict()
                fresh = build_clusters(held.values(), asset, quotes, grid).to_dict()
                assert close(running, fresh)


def two_leg(i: int, protocol: str = "aave-v3") -> LendingPosition:
    """WETH (and every fifth one WBTC) against USDC, liquidation prices spread out."""
    collateral = [CollateralLeg("WETH", 1.0 + i % 7, 0.8, 0.05)]
    if i % 5 == 0:
        collateral.append(CollateralLeg("WBTC", 0.01 * (1 + i % 5), 0.75, 0.05))
    return LendingPosition(f"p{i}", protocol, "0xa", tuple(collateral),
                           (DebtLeg("USDC", 500.0 + 37.0 * i),))


def test_a_fresh_count_is_bit_for_bit_the_aggregate() -> None:
    book = PositionBook.from_positions(two_leg(i) for i in range(200))
    for asset in ("WETH", "WBTC"):
        running = book.clusters(asset, PRICES)
        fresh = aggregate(asset, ClusterGrid(), book.liquidation_prices(asset, PRICES))
        for column in ("bucket", "side", "quantity", "value_usd", "debt_usd",
                       "equity_base_usd", "net_units", "positions", "by_protocol"):
            assert np.array_equal(getattr(running, column), getattr(fresh, column)), column


def test_a_few_changes_take_away_and_count_only_those() -> None:
    book = PositionBook.from_positions(two_leg(i) for i in range(300))
    book.clusters("WETH", PRICES)
    index = book._indexes[book._asset_code["WETH"]]
    tally = index.tally
    assert tally is not None and tally.taken == 0
    book.remove("p1")
    book.upsert(two_leg(2, "spark"))  # replaced, in a protocol the book had not seen
    book.upsert(two_leg(1000))
    after = book.clusters("WETH", PRICES)
    assert index.tally is tally and tally.taken == 2  # p1 and p2's old level, not the book
    held = [two_leg(i) for i in range(300) if i not in (1, 2)] + [two_leg(2, "spark"),
                                                                  two_leg(1000)]
    assert close(after.to_dict(), build_clusters(held, "WETH", PRICES).to_dict())
    moved = {**PRICES, "WBTC": PRICES["WBTC"] * 0.5}  # moves the levels of WBTC holders only
    assert close(book.clusters("WETH", moved).to_dict(),
                 build_clusters(held, "WETH", moved).to_dict())
    holders = sum(1 for p in held if len(p.collateral) == 2)  # those with a level: taken away
    assert index.tally is tally and 2 < tally.taken <= 2 + holders


def test_counting_afresh_once_as_many_entries_were_taken_away_as_held() -> None:
    book = PositionBook.from_positions(two_leg(i) for i in range(100))
    book.clusters("WETH", PRICES)
    index = book._indexes[book._asset_code["WETH"]]
    first = index.tally
    tallies, taken = [], []
    for round_ in range(10):
        for i in range(20 * (round_ % 5), 20 * (round_ % 5) + 20):
            book.upsert(two_leg(i))  # a fifth of the positions replaced per call
        book.clusters("WETH", PRICES)
        tallies.append(index.tally)
        taken.append(getattr(index.tally, "taken", None))
    assert tallies[0] is first and taken[0] == 20
    assert any(t is not first for t in tallies)  # counted afresh: the rounding reset
    assert close(book.clusters("WETH", PRICES).to_dict(),
                 build_clusters([two_leg(i) for i in range(100)], "WETH", PRICES).to_dict())


def test_a_price_moving_most_levels_counts_afresh() -> None:
    book = PositionBook.from_positions(two_leg(i) for i in range(100))
    book.clusters("WETH", PRICES)
    index = book._indexes[book._asset_code["WETH"]]
    first = index.tally
    moved = {**PRICES, "USDC": 1.01}  # every position's debt: every level through WETH
    running = book.clusters("WETH", moved)
    assert index.tally is not first and index.tally is not None and index.tally.taken == 0
    assert close(running.to_dict(), build_clusters([two_leg(i) for i in range(100)], "WETH",
                                                   moved).to_dict())
