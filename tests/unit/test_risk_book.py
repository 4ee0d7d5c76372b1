"""The columnar book agrees with the scalar functions (1e-12 relative) through any sequence of
upserts and removals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import (
    CollateralLeg,
    DebtLeg,
    LendingPosition,
    PerpPosition,
    Position,
    PositionBook,
    health_factor,
    position_level,
)
from tests.unit.risk_strategies import ASSETS, PRICES, positions, prices


def assert_matches_scalar(book: PositionBook, held: dict[str, Position],
                          quotes: dict[str, float]) -> None:
    """Every asset's BookLevels equal position_level for every held position."""
    for asset in ASSETS:
        levels = book.liquidation_prices(asset, quotes)
        seen = dict(zip(levels.ids.tolist(), range(len(levels)), strict=True))
        for pid, position in held.items():
            expected = position_level(position, asset, quotes)
            if asset not in position.assets():
                assert pid not in seen
                continue
            i = seen[pid]
            if expected is None:
                assert levels.side[i] == 0 and math.isnan(levels.price[i])
                continue
            assert levels.side[i] == (1 if expected.side == "long" else -1)
            assert levels.price[i] == pytest.approx(expected.price, rel=1e-12)
            for name in ("quantity", "value_usd", "debt_usd", "equity_base_usd", "net_units"):
                got, want = getattr(levels, name)[i], getattr(expected, name)
                assert got == pytest.approx(want, rel=1e-12, abs=1e-9 * (1 + abs(want))), name
            assert levels.protocols[levels.protocol[i]] == position.protocol


@settings(max_examples=80, deadline=None)
@given(positions(), prices())
def test_book_agrees_with_scalar(generated: list[Position], quotes: dict[str, float]) -> None:
    book = PositionBook.from_positions(generated)
    assert_matches_scalar(book, {p.position_id: p for p in generated}, quotes)
    hf = dict(zip(book.ids().tolist(), book.health_factors(quotes).tolist(), strict=True))
    for position in generated:
        if not isinstance(position, LendingPosition) or position.protocol != "aave-v3":
            assert hf[position.position_id] == pytest.approx(health_factor(position, quotes),
                                                             rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(positions(max_size=12), positions(max_size=12), st.lists(st.integers(0, 11)))
def test_upserts_and_removals_keep_the_book_consistent(
        first: list[Position], second: list[Position], removals: list[int]) -> None:
    book = PositionBook(capacity=2)
    held: dict[str, Position] = {}
    for position in [*first, *second]:  # ids repeat: later snapshots replace earlier ones
        book.upsert(position)
        held[position.position_id] = position
    for i in removals:
        pid = f"p{i}"
        assert book.remove(pid) == (pid in held)
        held.pop(pid, None)
    assert len(book) == len(held)
    assert all(pid in book and book.assets_of(pid) == p.assets() for pid, p in held.items())
    assert book.assets_of("p99") == frozenset() and "p99" not in book
    assert book.assets() == frozenset(a for p in held.values() for a in p.assets())
    rows = book.rows_of(held)
    assert book.ids_at(rows) == list(held) and book.ids_at([]) == []
    assert_matches_scalar(book, held, PRICES)


def test_levels_read_before_a_removal_keep_their_ids() -> None:
    book = PositionBook.from_positions(
        PerpPosition(f"p{i}", "hyperliquid", "0xb", "WETH", 1.0, 100.0, 10.0, 0.0)
        for i in range(3))
    levels = book.liquidation_prices("WETH", {})
    book.remove("p0")
    assert levels.ids.tolist() == ["p0", "p1", "p2"]
    assert book.liquidation_prices("WETH", {}).ids.tolist() == ["p2", "p1"]


def test_positions_lacking_a_price_get_no_level_and_are_reported() -> None:
    position = LendingPosition("l", "spark", "0xa", (CollateralLeg("WETH", 1.0, 0.8),),
                               (DebtLeg("DAI", 1000.0),))
    book = PositionBook.from_positions([position])
    levels = book.liquidation_prices("WETH", {"WETH": 3000.0})
    assert levels.side.tolist() == [0] and levels.missing == frozenset({"DAI"})
    assert book.clusters("WETH", {"WETH": 3000.0}).levels == []
    assert book.liquidation_prices("WETH", {"DAI": 1.0}).missing == frozenset()


def test_widening_keeps_existing_rows() -> None:
    book = PositionBook(width=1)
    small = LendingPosition("a", "spark", "0xa", (CollateralLeg("WETH", 1.0, 0.8),), ())
    wide = LendingPosition("b", "spark", "0xa", tuple(CollateralLeg(a, 1.0, 0.8) for a in ASSETS),
                           (DebtLeg("USDC", 10.0),))
    book.upsert(small)
    book.upsert(wide)
    assert book.width == 5
    assert_matches_scalar(book, {"a": small, "b": wide}, PRICES)
    assert book.nbytes() > 0 and np.isinf(book.health_factors(PRICES)[0])


@settings(max_examples=60, deadline=None)
@given(positions(), prices())
def test_collateral_values_are_each_lending_positions_leg_sum(generated: list[Position],
                                                              quotes: dict[str, float]) -> None:
    book = PositionBook.from_positions(generated)
    values = dict(zip(book.ids().tolist(), book.collateral_values(quotes).tolist(),
                      strict=True))
    for position in generated:
        got = values[position.position_id]
        if isinstance(position, PerpPosition):
            assert got == math.inf  # never filtered out by a collateral bound
        elif all(leg.asset in quotes for leg in position.collateral):
            want = sum(leg.amount * quotes[leg.asset] for leg in position.collateral)
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
        else:
            assert math.isnan(got)


@settings(max_examples=40, deadline=None)
@given(positions(max_size=12), positions(max_size=6), st.lists(st.integers(0, 11)))
def test_health_factors_follow_every_change_of_the_book(
        first: list[Position], second: list[Position], removals: list[int]) -> None:
    book = PositionBook.from_positions(first)
    held = {p.position_id: p for p in first}
    book.health_factors(PRICES)  # what it gathered for this revision must not outlive it
    for position in second:
        book.upsert(position)
        held[position.position_id] = position
    for i in removals:
        book.remove(f"p{i}")
        held.pop(f"p{i}", None)
    hf = dict(zip(book.ids().tolist(), book.health_factors(PRICES).tolist(), strict=True))
    assert hf.keys() == held.keys()
    for pid, position in held.items():
        if not isinstance(position, LendingPosition) or position.protocol != "aave-v3":
            assert hf[pid] == pytest.approx(health_factor(position, PRICES), rel=1e-12)
