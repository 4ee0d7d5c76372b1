"""The joint cascade split into a coordinator and per-partition steps over columnar books equals
project_contagion over the union of the positions (to float summation order: 1e-9 relative
asserted), on generated books with exact Aave V3 and Morpho Blue legs split into N partitions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import (
    CollateralLeg,
    ContagionModel,
    DebtLeg,
    LendingPosition,
    Position,
    PositionBook,
    PowerLawDepth,
    health_factor,
    project_contagion,
)
from monitor.risk.contagion import ContagionProjection, JointCascade, run_joint
from monitor.risk.contagion_step import BookStep
from monitor.risk.market_prices import market_pairs
from monitor.stream.context import partition_of
from tests.unit import contagion_market
from tests.unit.risk_strategies import PRICES
from tests.unit.risk_strategies import positions as any_positions

REL = 1e-9


def near(a: float, b: float) -> bool:
    """Equal to REL relative (absolute for sums near zero)."""
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-6)


def same_map(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal maps, entries compared with near (a missing entry counts as 0)."""
    return all(near(a.get(k, 0.0), b.get(k, 0.0)) for k in {*a, *b})


def assert_equal(split: ContagionProjection, whole: ContagionProjection) -> None:
    """Every figure of the split projection equals the whole one's."""
    assert split.rounds == whole.rounds
    assert same_map(split.direct_usd_by_protocol, whole.direct_usd_by_protocol)
    assert same_map(split.induced_usd_by_protocol, whole.induced_usd_by_protocol)
    assert same_map(split.bad_debt_usd_by_protocol, whole.bad_debt_usd_by_protocol)
    assert near(split.bad_debt_usd, whole.bad_debt_usd)
    assert same_map(split.net_sold, whole.net_sold)
    assert near(split.liquidated_usd, whole.liquidated_usd)
    for asset, price in split.terminal_prices.items():
        assert near(price, whole.terminal_prices[asset]), asset
    assert split.start_prices.keys() <= whole.terminal_prices.keys()


def split_projection(positions: list[Position], partitions: int, asset: str,
                     prices: dict[str, float], shock: float,
                     model: ContagionModel) -> ContagionProjection:
    """The projection with the positions split by the app's hash into column books."""
    parts = [[p for p in positions if partition_of(p.position_id, partitions) == k]
             for k in range(partitions)]
    books = [PositionBook.from_positions(part) for part in parts]
    found = {p.position_id: p for p in positions}
    steps = [BookStep(book, found.get, market_pairs(part))
             for book, part in zip(books, parts, strict=True)]
    return run_joint(JointCascade(asset, prices, shock, model), steps)


@pytest.mark.parametrize(("seed", "partitions", "move"),
                         [(0, 4, -0.2), (1, 4, -0.3), (2, 3, -0.1), (3, 8, -0.2), (4, 1, -0.25),
                          (5, 4, 0.3)])
def test_split_equals_the_union_on_generated_books(seed: int, partitions: int,
                                                   move: float) -> None:
    positions, prices = contagion_market.positions(3000, seed)
    model = contagion_market.model(positions, prices)
    shock = prices["WETH"] * (1 + move)
    whole = project_contagion(positions, "WETH", prices, shock, model)
    if move < 0:  # the shock really cascades: several rounds, induced losses, bad debt
        assert whole.rounds >= 2 and sum(whole.induced_usd_by_protocol.values()) > 0
        assert whole.bad_debt_usd > 0 and len(whole.direct_usd_by_protocol) == 5
    assert_equal(split_projection(positions, partitions, "WETH", prices, shock, model), whole)


@settings(max_examples=60, deadline=None)
@given(any_positions(max_size=40), st.integers(1, 5), st.floats(0.3, 1.6))
def test_split_equals_the_union_on_any_book(positions: list[Position], partitions: int,
                                            factor: float) -> None:
    model = ContagionModel(betas={"WETH": {"WBTC": 0.7, "LINK": 1.5}},
                           depths={a: PowerLawDepth(1e5) for a in ("WETH", "WBTC", "LINK")})
    shock = PRICES["WETH"] * factor
    whole = project_contagion(positions, "WETH", PRICES, shock, model)
    assert_equal(split_projection(positions, partitions, "WETH", PRICES, shock, model), whole)


def test_the_exact_check_liquidates_what_the_generic_formula_calls_safe() -> None:
    # $2400 of WETH at LT 0.8251 and $600 of WBTC at 0.8250: the generic average LT is 0.82508,
    # Aave truncates it to 8250 bps, so a debt just below the generic cover is liquidatable to
    # the pool only.
    legs = (CollateralLeg("WETH", 1.0, 0.8251, 0.05, 10**8, 8),
            CollateralLeg("WBTC", 0.01, 0.8250, 0.05, 10**6, 8))
    generic_cover = 0.8251 * 2400.0 + 0.8250 * 600.0
    debt = generic_cover * (1 - 5e-5)
    raw = round(debt * 10**8)
    position = LendingPosition("aave-v3:1:0x1", "aave-v3", "0x1", legs,
                               (DebtLeg("USDC", raw / 10**8, raw, 8),))
    prices = {"WETH": 3000.0, "WBTC": 60_000.0, "USDC": 1.0}
    shocked = {**prices, "WETH": 2400.0}
    assert health_factor(position, shocked) < 1.0
    generic = LendingPosition("g", "other", "0x1", legs, position.debt)
    assert health_factor(generic, shocked) >= 1.0
    model = ContagionModel()
    whole = project_contagion([position], "WETH", prices, 2400.0, model)
    assert whole.direct_usd_by_protocol.keys() == {"aave-v3"}
    assert_equal(split_projection([position], 2, "WETH", prices, 2400.0, model), whole)


def test_a_book_changed_between_rounds_is_read_afresh() -> None:
    # the stream's book takes snapshots while a pass yields between rounds: a step must read
    # the changed rows (a removal moves the last row) and never liquidate a position twice
    positions, prices = contagion_market.positions(400, 1)
    model = contagion_market.model(positions, prices)
    book = PositionBook.from_positions(positions)
    found = {p.position_id: p for p in positions}
    step = BookStep(book, found.get, market_pairs(positions))
    cascade = JointCascade("WETH", prices, prices["WETH"] * 0.8, model)
    cascade.absorb([step.release(cascade.start, cascade.prices)])
    first = set(step.gone)
    assert first
    survivors = [p for p in positions if p.position_id not in first]
    for position in survivors[:20]:
        book.remove(position.position_id)
        del found[position.position_id]
    reference = BookStep(PositionBook.from_positions(
        [p for p in positions if p.position_id in found]), found.get, market_pairs(positions))
    reference.release(cascade.start, cascade.shocked)  # the same first round, then the same
    assert set(reference.gone) == first
    later = step.release(cascade.start, cascade.prices)
    again = reference.release(cascade.start, cascade.prices)
    assert set(step.gone) == set(reference.gone) and not first & set(step.gone[len(first):])
    assert later.liquidated == again.liquidated
    assert same_map(later.usd_by_protocol, again.usd_by_protocol)
